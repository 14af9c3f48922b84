package main

// The activity this example runs: stage "go-transform" (its zod schemas live with the workflow,
// integration/go-worker/fixtures/workflows.ts). It downloads an input artifact, uploads the bytes
// reversed as `output.bin`, and returns both hashes so the orchestrator can check the round trip.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"strings"
)

// attempt is what an activity sees of its attempt.
type attempt struct {
	w        *worker
	l        *lease
	ctx      context.Context // cancelled on cancel, lost lease or hard stop
	Previous json.RawMessage // the previous attempt's last heartbeat details
	beat     func(details interface{})
}

func (a *attempt) Number() int                         { return a.l.attempt }
func (a *attempt) Download(key string) ([]byte, error) { return a.w.download(a.ctx, a.l, key) }
func (a *attempt) Upload(name string, data []byte, contentType string) (string, error) {
	return a.w.upload(a.ctx, a.l, name, data, contentType)
}

type transformInput struct {
	InputKey         string `json:"inputKey"`
	Fail             string `json:"fail"`             // fail for good with this message
	RetryFirst       bool   `json:"retryFirst"`       // attempt 1 fails retryably
	HangFirstAttempt bool   `json:"hangFirstAttempt"` // attempt 1 waits until the process dies
	PadOutput        int    `json:"padOutput"`        // adds this many bytes to the output (large outputs)
}

type transformOutput struct {
	OutputKey   string `json:"outputKey"`
	Size        int    `json:"size"`
	Sha256      string `json:"sha256"`
	InputSha256 string `json:"inputSha256"`
	Attempt     int    `json:"attempt"`
	Padding     string `json:"padding,omitempty"`
}

// runActivity dispatches on the task's stage id.
func (w *worker) runActivity(a *attempt) (interface{}, error) {
	if a.l.task.StageID != "go-transform" {
		return nil, finalError{fmt.Sprintf("no stage %q on this worker (registered: go-transform)", a.l.task.StageID)}
	}
	var in transformInput
	if err := json.Unmarshal(a.l.task.Input, &in); err != nil || in.InputKey == "" {
		return nil, finalError{fmt.Sprintf("invalid task input: %v", err)}
	}
	switch {
	case in.Fail != "":
		return nil, finalError{in.Fail}
	case in.RetryFirst && a.Number() == 1:
		return nil, errors.New("transient failure on attempt 1")
	case in.HangFirstAttempt && a.Number() == 1:
		log.Printf("attempt 1 hangs until the process is killed")
		<-a.ctx.Done()
		return nil, a.ctx.Err()
	}
	data, err := a.Download(in.InputKey)
	if err != nil {
		return nil, err
	}
	a.beat(map[string]string{"phase": "downloaded"})
	out := make([]byte, len(data))
	for i, b := range data {
		out[len(data)-1-i] = b
	}
	key, err := a.Upload("output.bin", out, "application/octet-stream")
	if err != nil {
		return nil, err
	}
	return transformOutput{
		OutputKey: key, Size: len(out), Sha256: hexSum(out), InputSha256: hexSum(data),
		Attempt: a.Number(), Padding: strings.Repeat("x", in.PadOutput),
	}, nil
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
