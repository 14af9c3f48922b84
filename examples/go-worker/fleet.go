package main

// Fleet membership (docs/protocol.md, "Worker fleet"): the registry entry kept fresh in the KV
// bucket, and the status/drain/stop control requests an operator sends to this worker.

import (
	"bytes"
	"encoding/json"
	"log"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// workerRecord is schemas/worker-record.json.
type workerRecord struct {
	V                   int               `json:"v"`
	ID                  string            `json:"id"`
	Host                string            `json:"host"`
	Pid                 int               `json:"pid"`
	Queue               string            `json:"queue"`
	Labels              map[string]string `json:"labels"`
	StageCodeVersion    string            `json:"stageCodeVersion"`
	MaxConcurrentTasks  int               `json:"maxConcurrentTasks"`
	InFlight            int               `json:"inFlight"`
	Status              string            `json:"status"`
	StartedAt           string            `json:"startedAt"`
	LastHeartbeat       string            `json:"lastHeartbeat"`
	HeartbeatIntervalMs int64             `json:"heartbeatIntervalMs"`
}

// fleet publishes this worker's record and answers control requests.
type fleet struct {
	nc      *nats.Conn
	key     string // $KV.<bucket>.<queue>.<workerId>
	every   time.Duration
	mu      sync.Mutex
	rec     workerRecord
	onStop  func(drain bool)
	sub     *nats.Subscription
	stopped chan struct{}
	dirty   chan struct{} // the record changed: the publisher sends it (coalesced)
	done    chan struct{} // closed when the publisher has returned
}

func joinFleet(w *worker, prefix, queue string, every time.Duration, onStop func(drain bool)) (*fleet, error) {
	host, _ := os.Hostname()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	f := &fleet{
		nc:  w.nc,
		key: "$KV." + strings.ReplaceAll(prefix, ".", "_") + "_workers." + encodeToken(queue) + "." + encodeToken(w.id),
		rec: workerRecord{V: 1, ID: w.id, Host: host, Pid: os.Getpid(), Queue: queue, Labels: w.labels,
			StageCodeVersion: w.codeVersion, MaxConcurrentTasks: 1, Status: "starting", StartedAt: now,
			HeartbeatIntervalMs: every.Milliseconds()},
		every: every, onStop: onStop, stopped: make(chan struct{}), dirty: make(chan struct{}, 1), done: make(chan struct{}),
	}
	sub, err := w.nc.Subscribe(prefix+".ctl."+encodeToken(w.id)+".*", f.control)
	if err != nil {
		return nil, err
	}
	f.sub = sub
	f.set(func(r *workerRecord) { r.Status = "running" })
	// One publisher: the task loop never waits for the registry (a put the server refuses, e.g.
	// an id the credential may not register, costs a whole request timeout), and records go out
	// in order, the latest state winning.
	go func() {
		defer close(f.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-f.stopped:
				return
			case <-t.C:
				f.publish()
			case <-f.dirty:
				f.publish()
			}
		}
	}()
	return f, nil
}

// set changes the record; the publisher goroutine sends it.
func (f *fleet) set(change func(*workerRecord)) {
	f.mu.Lock()
	change(&f.rec)
	f.mu.Unlock()
	select {
	case f.dirty <- struct{}{}:
	default: // a publish is already due; it sends the latest record
	}
}

// publish sends the current record (a JetStream publish on the KV subject, PubAck awaited).
func (f *fleet) publish() {
	f.mu.Lock()
	f.rec.LastHeartbeat = time.Now().UTC().Format(time.RFC3339Nano)
	body, _ := json.Marshal(f.rec)
	f.mu.Unlock()
	if _, err := f.nc.Request(f.key, body, requestTimeout); err != nil {
		log.Printf("registry put failed: %v", err)
	}
}

// controlRequest is the only body a worker acts on (schemas/control-request.json).
type controlRequest struct {
	Type     string `json:"type"`
	V        int    `json:"v"`
	Op       string `json:"op"`
	WorkerID string `json:"workerId"`
}

// control answers `<p>.ctl.<workerId>.<op>`. Anything but a well-formed request naming this
// worker and the subject's op is ignored without a reply: a pull or broker reply steered onto
// this subject by another worker must never stop us.
func (f *fleet) control(m *nats.Msg) {
	op := m.Subject[strings.LastIndex(m.Subject, ".")+1:]
	var req controlRequest
	dec := json.NewDecoder(bytes.NewReader(m.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Type != "jetflow.worker.control" || req.V != 1 || req.Op != op || req.WorkerID != f.rec.ID {
		return
	}
	f.mu.Lock()
	status := f.rec.Status
	f.mu.Unlock()
	reply := map[string]interface{}{"op": op, "accepted": true}
	switch {
	case op != "status" && op != "drain" && op != "stop":
		return
	case op != "status" && (status == "stopped" || status == "failed"):
		reply["accepted"], reply["reason"] = false, "worker is already "+status
	case op != "status":
		f.set(func(r *workerRecord) { r.Status = "draining" })
		f.onStop(op == "drain")
	}
	f.mu.Lock()
	reply["worker"] = f.rec
	f.mu.Unlock()
	body, _ := json.Marshal(reply)
	_ = m.Respond(body)
}

// inFlight records the running task count.
func (f *fleet) inFlight(n int) { f.set(func(r *workerRecord) { r.InFlight = n }) }

// leave publishes the final record and stops listening.
func (f *fleet) leave() {
	close(f.stopped)
	_ = f.sub.Unsubscribe()
	<-f.done // no older record may land after the final one
	f.mu.Lock()
	f.rec.Status, f.rec.InFlight = "stopped", 0
	f.mu.Unlock()
	f.publish() // the final record, sent before the connection closes
}
