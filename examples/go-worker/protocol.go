package main

// Wire messages and names, transcribed from docs/protocol.md and docs/schemas/*.json.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// names holds every subject this worker uses. pulls: one per priority band, highest first
// (docs/flow-control.md): the high band's consumer `~~high`, the normal one, the low one `~~low`.
type names struct {
	pulls                              []string
	heartbeat, presign, report, cancel string
}

func newNames(prefix, streamPrefix, queue, codeVersion string) names {
	q, v := encodeToken(queue), encodeToken(codeVersion)
	return names{
		pulls: []string{
			fmt.Sprintf("$JS.API.CONSUMER.MSG.NEXT.%s_TASKS.tasks-%s~~%s~~high", streamPrefix, q, v),
			fmt.Sprintf("$JS.API.CONSUMER.MSG.NEXT.%s_TASKS.tasks-%s~~%s", streamPrefix, q, v),
			fmt.Sprintf("$JS.API.CONSUMER.MSG.NEXT.%s_TASKS.tasks-%s~~%s~~low", streamPrefix, q, v),
		},
		heartbeat: fmt.Sprintf("%s.broker.%s.heartbeat", prefix, q),
		presign:   fmt.Sprintf("%s.broker.%s.presign", prefix, q),
		report:    fmt.Sprintf("%s.reports.%s", prefix, q),
		cancel:    fmt.Sprintf("%s.cancel.%s", prefix, q),
	}
}

var safeByte = regexp.MustCompile(`^[A-Za-z0-9_-]$`)

// encodeToken: A-Z a-z 0-9 _ - stay, every other UTF-8 byte becomes ~XX (upper-case hex).
func encodeToken(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if safeByte.MatchString(s[i : i+1]) {
			b.WriteByte(s[i])
		} else {
			fmt.Fprintf(&b, "~%02X", s[i])
		}
	}
	return b.String()
}

// taskMessage is schemas/task-message.json (the fields this worker reads).
type taskMessage struct {
	V              int               `json:"v"`
	TaskID         string            `json:"taskId"`
	WorkflowRunID  string            `json:"workflowRunId"`
	StageID        string            `json:"stageId"`
	Queue          string            `json:"queue"`
	CodeVersion    string            `json:"codeVersion"`
	RequiredLabels map[string]string `json:"requiredLabels"`
	MaxAttempts    int               `json:"maxAttempts"`
	Input          json.RawMessage   `json:"input"`
	ArtifactPrefix string            `json:"artifactPrefix"`
	Capability     string            `json:"capability,omitempty"`
	AttemptBase    int               `json:"attemptBase,omitempty"` // set on a re-dispatch: attempts before this message
}

func parseTask(data []byte) (*taskMessage, error) {
	var t taskMessage
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, err
	}
	if t.V != 1 || t.TaskID == "" || t.StageID == "" || t.CodeVersion == "" || t.MaxAttempts < 1 || t.ArtifactPrefix == "" || t.AttemptBase < 0 {
		return nil, fmt.Errorf("not a v1 task message")
	}
	return &t, nil
}

// startRequest is schemas/start-request.json.
type startRequest struct {
	Start       bool   `json:"start"`
	TaskID      string `json:"taskId"`
	Attempt     int    `json:"attempt"`
	WorkerID    string `json:"workerId"`
	CodeVersion string `json:"codeVersion"`
	Capability  string `json:"capability,omitempty"`
}

// heartbeatRequest is schemas/heartbeat-request.json.
type heartbeatRequest struct {
	TaskID     string      `json:"taskId"`
	Attempt    int         `json:"attempt"`
	LeaseToken string      `json:"leaseToken"`
	WorkerID   string      `json:"workerId"`
	Details    interface{} `json:"details,omitempty"`
	Release    bool        `json:"release,omitempty"`
}

// heartbeatReply is schemas/heartbeat-reply.json (also the start reply).
type heartbeatReply struct {
	Accepted         bool            `json:"accepted"`
	Cancelled        bool            `json:"cancelled"`
	Reason           string          `json:"reason"`
	LeaseToken       string          `json:"leaseToken"`
	LeaseDeadline    string          `json:"leaseDeadline"`
	HeartbeatDetails json.RawMessage `json:"heartbeatDetails"`
	RetryAfterMs     *int64          `json:"retryAfterMs"`
	LeaseMs          int64           `json:"leaseMs"`
	AttemptsLeft     *int            `json:"attemptsLeft"` // on a start: attempts that may still start after this one
}

// cancelNotice is schemas/cancel-notice.json, published on <p>.cancel.<queue>.
type cancelNotice struct {
	WorkflowRunID string   `json:"workflowRunId"`
	Queue         string   `json:"queue"`
	TaskIDs       []string `json:"taskIds"`
}

// presignRequest is schemas/presign-request.json (single-object ops only).
type presignRequest struct {
	TaskID      string `json:"taskId"`
	Attempt     int    `json:"attempt"`
	LeaseToken  string `json:"leaseToken"`
	Op          string `json:"op"`
	Key         string `json:"key"`
	Size        *int   `json:"size,omitempty"`
	ContentType string `json:"contentType,omitempty"`
}

// presignReply is schemas/presign-reply.json (single-object ops only).
type presignReply struct {
	Key     string            `json:"key"`
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
}

// errorReply is schemas/task-error-reply.json: any broker request may be answered with it.
type errorReply struct {
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// outputRef is the report's reference to an output stored as an object.
type outputRef struct {
	Key  string `json:"key"`
	Size int    `json:"size"`
}

// reportMessage is schemas/report-message.json.
type reportMessage struct {
	V           int         `json:"v"`
	TaskID      string      `json:"taskId"`
	Attempt     int         `json:"attempt"`
	LeaseToken  string      `json:"leaseToken"`
	WorkerID    string      `json:"workerId"`
	CodeVersion string      `json:"codeVersion"`
	Outcome     string      `json:"outcome"` // completed | failed | cancelled
	Output      interface{} `json:"output,omitempty"`
	OutputRef   *outputRef  `json:"outputRef,omitempty"`
	Error       string      `json:"error,omitempty"`
	Retryable   *bool       `json:"retryable,omitempty"`
	Logs        []logLine   `json:"logs"`
	ReportedAt  string      `json:"reportedAt"`
}

type logLine struct {
	Level   string `json:"level"`
	Message string `json:"message"`
	At      string `json:"at"`
}

// reportMsgID is the report's Nats-Msg-Id: <taskId>:<attempt>:<first 32 hex of sha256(leaseToken)>.
func reportMsgID(l *lease) string {
	sum := sha256.Sum256([]byte(l.leaseToken))
	return fmt.Sprintf("%s:%d:%s", l.task.TaskID, l.attempt, hex.EncodeToString(sum[:])[:32])
}
