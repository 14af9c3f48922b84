package main

// One delivery from pull to its end: start, heartbeats, the activity, then report or release
// (docs/protocol.md, steps 2-7).

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// inlineOutputLimit: outputs whose JSON is longer go to `_output.json` and are reported by reference.
const inlineOutputLimit = 64 * 1024

// finalError is a failure another attempt cannot fix (bad input): reported, never retried.
type finalError struct{ msg string }

func (e finalError) Error() string { return e.msg }

// handle disposes of one pulled message.
func (w *worker) handle(m *nats.Msg) {
	d := delivery{w.nc, m}
	delivered, err := attemptOf(m.Reply)
	if err != nil {
		log.Printf("ignored a message without an ack subject: %v", err)
		return
	}
	t, err := parseTask(m.Data)
	if err != nil {
		log.Printf("malformed task terminated: %v", err)
		_ = d.term()
		return
	}
	// A re-dispatched task's message counts deliveries from 1 again, after the attempts before it.
	attempt := t.AttemptBase + delivered
	for k, v := range t.RequiredLabels {
		if w.labels[k] != v {
			log.Printf("task %s needs label %s=%s; given back", t.TaskID, k, v)
			_ = d.nak(time.Second)
			return
		}
	}
	startedAt := time.Now()
	r, err := w.start(t, attempt)
	switch {
	case err != nil:
		log.Printf("start of task %s attempt %d failed: %v; given back", t.TaskID, attempt, err)
		_ = d.nak(0)
		return
	case !r.Accepted && r.RetryAfterMs != nil:
		log.Printf("task %s attempt %d deferred (%s)", t.TaskID, attempt, r.Reason)
		_ = d.nak(time.Duration(*r.RetryAfterMs) * time.Millisecond)
		return
	case !r.Accepted:
		log.Printf("task %s attempt %d refused (%s); terminated", t.TaskID, attempt, r.Reason)
		_ = d.term()
		return
	}
	log.Printf("task started task=%s attempt=%d", t.TaskID, attempt)
	left := t.MaxAttempts - attempt // an older broker does not say: count deliveries
	if r.AttemptsLeft != nil {
		left = *r.AttemptsLeft
	}
	w.run(d, &lease{task: t, attempt: attempt, leaseToken: r.LeaseToken, workerID: w.id, leaseMs: r.LeaseMs, brokerAt: startedAt, retriesLeft: left}, r.HeartbeatDetails)
}

// run executes the activity under heartbeats and ends the delivery exactly once.
func (w *worker) run(d delivery, l *lease, previous json.RawMessage) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var details interface{}
	dirty := false // details the broker has not been sent yet
	if len(previous) > 0 {
		details = previous // keep the previous attempt's progress until this one reports its own
	}
	stopReason := ""
	stop := func(reason string) {
		mu.Lock()
		if stopReason == "" {
			stopReason = reason
			cancel()
		}
		mu.Unlock()
	}
	w.cancels.Store(l.task.TaskID, func() { stop("cancelled") })
	defer w.cancels.Delete(l.task.TaskID)
	go func() { // a hard stop (second signal) aborts the activity; it is released below
		select {
		case <-w.hardStop:
			stop("stopping")
		case <-ctx.Done():
		}
	}()

	beatsDone := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(beatsDone)
		tick := time.NewTicker(w.heartbeatEvery)
		defer tick.Stop()
		for {
			select {
			case <-finished:
				return
			case <-tick.C:
			}
			_ = d.working() // JetStream: restart AckWait
			mu.Lock()
			det, changed := details, dirty
			dirty = false
			mu.Unlock()
			// A plain liveness beat is the +WPI alone while the broker's lease is young (docs/protocol.md, step 3).
			if !changed && l.leaseMs > 0 && time.Since(l.brokerAt) < time.Duration(l.leaseMs)*time.Millisecond/2 {
				continue
			}
			sentAt := time.Now()
			r, err := w.heartbeat(l, det, false) // broker: extend the lease
			if err == nil && r.Accepted {
				l.brokerAt = sentAt
			}
			switch {
			case err != nil:
				log.Printf("heartbeat of task %s failed: %v", l.task.TaskID, err) // retried next tick
			case r.Cancelled:
				stop("cancelled")
			case !r.Accepted:
				stop("lease lost")
			}
		}
	}()

	act := &attempt{w: w, l: l, ctx: ctx, Previous: previous, beat: func(v interface{}) {
		mu.Lock()
		details = v
		dirty = true
		mu.Unlock()
	}}
	output, err := w.runActivity(act)
	close(finished)
	<-beatsDone
	mu.Lock()
	reason, last := stopReason, details
	mu.Unlock()

	switch {
	case reason == "lease lost":
		log.Printf("task %s attempt %d lost its lease; leaving the delivery alone", l.task.TaskID, l.attempt)
	case reason == "stopping":
		w.release(d, l, last, 0)
	case reason == "cancelled":
		w.report(d, l, reportMessage{Outcome: "cancelled", Error: "task cancelled"})
	case err != nil:
		var final finalError
		retryable := !errors.As(err, &final)
		if retryable && l.retriesLeft > 0 {
			delay := w.retryBackoff << (l.attempt - 1)
			log.Printf("task %s attempt %d failed (%v); retrying in %s", l.task.TaskID, l.attempt, err, delay)
			w.release(d, l, last, delay)
			return
		}
		w.report(d, l, reportMessage{Outcome: "failed", Error: err.Error(), Retryable: &retryable})
	default:
		rep := reportMessage{Outcome: "completed", Output: output}
		if data, jerr := json.Marshal(output); jerr != nil {
			rep = reportMessage{Outcome: "failed", Error: "output is not JSON: " + jerr.Error()}
		} else if len(data) > inlineOutputLimit {
			key, uerr := w.upload(context.Background(), l, "_output.json", data, "application/json")
			if uerr != nil {
				w.release(d, l, last, w.retryBackoff)
				return
			}
			rep = reportMessage{Outcome: "completed", OutputRef: &outputRef{Key: key, Size: len(data)}}
		}
		w.report(d, l, rep)
	}
}

// release gives the attempt up for a retry: end the broker's lease, then -NAK with a delay.
func (w *worker) release(d delivery, l *lease, details interface{}, delay time.Duration) {
	if _, err := w.heartbeat(l, details, true); err != nil {
		log.Printf("release of task %s failed (%v); the redelivery waits for the lease", l.task.TaskID, err)
	}
	_ = d.nak(delay)
}

// report confirms the lease, publishes the report (durable, deduplicated), then acks.
func (w *worker) report(d delivery, l *lease, rep reportMessage) {
	_ = d.working()
	r, err := w.heartbeat(l, nil, false)
	confirmed := err == nil && (r.Accepted || r.Cancelled)

	rep.V, rep.TaskID, rep.Attempt, rep.LeaseToken = 1, l.task.TaskID, l.attempt, l.leaseToken
	rep.WorkerID, rep.CodeVersion, rep.Logs = w.id, w.codeVersion, []logLine{}
	rep.ReportedAt = time.Now().UTC().Format(time.RFC3339Nano)
	body, err := json.Marshal(rep)
	if err == nil {
		err = publishReport(w.nc, w.names.report, reportMsgID(l), body)
	}
	if err != nil {
		log.Printf("report of task %s attempt %d not published: %v", l.task.TaskID, l.attempt, err)
		return // not acked: the delivery comes back after AckWait
	}
	log.Printf("task reported task=%s attempt=%d outcome=%s", l.task.TaskID, l.attempt, rep.Outcome)
	if !confirmed {
		log.Printf("lease of task %s not confirmed; not acking", l.task.TaskID)
		return
	}
	if err := d.ack(); err != nil {
		log.Printf("ack of task %s failed: %v", l.task.TaskID, err)
	}
}
