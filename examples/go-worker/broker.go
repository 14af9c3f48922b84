package main

// Requests to the orchestrator's broker: start, heartbeat, presign (docs/protocol.md, steps 2-4).

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// brokerError is a refusal in the task-error-reply shape.
type brokerError struct{ Code, Message string }

func (e *brokerError) Error() string { return e.Code + ": " + e.Message }

// request sends `body` as JSON and decodes the reply into `out`, turning an error reply into a brokerError.
func request(nc *nats.Conn, subject string, body, out interface{}) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	m, err := nc.Request(subject, data, requestTimeout)
	if err != nil {
		return fmt.Errorf("request to %s: %w", subject, err)
	}
	var refused errorReply
	if json.Unmarshal(m.Data, &refused) == nil && refused.Error != nil {
		return &brokerError{refused.Error.Code, refused.Error.Message}
	}
	return json.Unmarshal(m.Data, out)
}

// lease is one started attempt: everything later requests must present.
type lease struct {
	task        *taskMessage
	attempt     int
	leaseToken  string
	workerID    string
	leaseMs     int64     // the lease length the broker stated (0: unknown, beat the broker every time)
	retriesLeft int       // attempts that may start after this one (the broker counts executions, not deliveries)
	brokerAt    time.Time // when the request that last extended the broker's lease was sent
}

func (w *worker) start(t *taskMessage, attempt int) (heartbeatReply, error) {
	var r heartbeatReply
	err := request(w.nc, w.names.heartbeat, startRequest{
		Start: true, TaskID: t.TaskID, Attempt: attempt, WorkerID: w.id,
		CodeVersion: w.codeVersion, Capability: t.Capability,
	}, &r)
	return r, err
}

func (w *worker) heartbeat(l *lease, details interface{}, release bool) (heartbeatReply, error) {
	var r heartbeatReply
	err := request(w.nc, w.names.heartbeat, heartbeatRequest{
		TaskID: l.task.TaskID, Attempt: l.attempt, LeaseToken: l.leaseToken, WorkerID: l.workerID,
		Details: details, Release: release,
	}, &r)
	return r, err
}

// presignBody builds every presign request this worker sends (the one place to adapt its shape).
// `size` is the number of bytes to upload (put) or -1 when unknown (get).
func presignBody(l *lease, op, key string, size int, contentType string) presignRequest {
	req := presignRequest{TaskID: l.task.TaskID, Attempt: l.attempt, LeaseToken: l.leaseToken, Op: op, Key: key, ContentType: contentType}
	if size >= 0 {
		req.Size = &size
	}
	return req
}

func (w *worker) presign(req presignRequest) (presignReply, error) {
	var r presignReply
	if err := request(w.nc, w.names.presign, req, &r); err != nil {
		return r, err
	}
	if r.URL == "" || r.Key == "" {
		return r, fmt.Errorf("presign %s %q: reply without url or key", req.Op, req.Key)
	}
	return r, nil
}
