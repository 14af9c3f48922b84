package main

// Pulling deliveries from the task consumer and answering JetStream about them
// (docs/protocol.md, steps 1, 5 and 6).

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

const requestTimeout = 5 * time.Second

// puller pulls one message at a time, highest priority band first. JetStream delivers a message
// under the task's subject, so nats.go's Request (which routes by reply subject) cannot be used:
// every pull gets its own inbox subscription, dropped once answered. Dropping it matters: the
// server skips a waiting pull whose inbox has no subscriber, so an abandoned pull never delivers
// a task nobody reads. (No starvation guard here: a steady high band can starve the others.)
type puller struct {
	nc       *nats.Conn
	subjects []string // MSG.NEXT subjects, highest band first
}

func newPuller(nc *nats.Conn, subjects []string) (*puller, error) {
	return &puller{nc: nc, subjects: subjects}, nil
}

// next takes what a band has ready (high, normal, low), else waits up to `wait` for the first
// delivery of any band; nil when there was none.
func (p *puller) next(wait time.Duration) (*nats.Msg, error) {
	for _, subject := range p.subjects {
		ms, err := p.pull([]string{subject}, `{"batch":1,"no_wait":true}`, time.Second)
		if err != nil || len(ms) > 0 {
			return first(ms), err
		}
	}
	ms, err := p.pull(p.subjects, fmt.Sprintf(`{"batch":1,"expires":%d}`, wait.Nanoseconds()), wait+time.Second)
	for i := 1; i < len(ms); i++ {
		_ = delivery{p.nc, ms[i]}.nak(0) // raced the first one (a few ms): give it back at once
	}
	return first(ms), err
}

func first(ms []*nats.Msg) *nats.Msg {
	if len(ms) == 0 {
		return nil
	}
	return ms[0]
}

// pull sends `body` to each subject on one new inbox and returns what arrived before every request
// was answered, the first delivery came (plus anything already buffered), or `bound` passed. A
// consumer that does not exist never answers (nats-server 2.9): it only costs the bound.
func (p *puller) pull(subjects []string, body string, bound time.Duration) ([]*nats.Msg, error) {
	inbox := p.nc.NewInbox()
	sub, err := p.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	for _, s := range subjects {
		if err := p.nc.PublishRequest(s, inbox, []byte(body)); err != nil {
			return nil, err
		}
	}
	var got []*nats.Msg
	deadline := time.Now().Add(bound)
	for open := len(subjects); open > 0 && len(got) == 0; open-- {
		m, err := sub.NextMsg(time.Until(deadline))
		if errors.Is(err, nats.ErrTimeout) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if len(m.Data) == 0 && m.Header.Get("Status") != "" {
			switch status := m.Header.Get("Status"); status {
			case "404", "408", "409": // nothing now (409: consumer busy)
				continue
			default:
				return nil, fmt.Errorf("pull answered %s %s", status, m.Header.Get("Description"))
			}
		}
		got = append(got, m)
	}
	// Deliveries of the other requests that are already here are ours to run or give back.
	for n, _, _ := sub.Pending(); n > 0 && len(got) > 0; n-- {
		if m, err := sub.NextMsg(0); err == nil && m.Reply != "" && len(m.Data) > 0 {
			got = append(got, m)
		}
	}
	return got, nil
}

// attemptOf reads the delivery count from the ack subject: the attempt of this delivery.
func attemptOf(ackSubject string) (int, error) {
	t := strings.Split(ackSubject, ".")
	i := -1
	if len(t) == 9 {
		i = 4
	} else if len(t) >= 11 {
		i = 6
	}
	if i < 0 || t[0] != "$JS" || t[1] != "ACK" {
		return 0, fmt.Errorf("not a JetStream ack subject: %q", ackSubject)
	}
	return strconv.Atoi(t[i])
}

// delivery is one pulled message and the ack operations on it.
type delivery struct {
	nc  *nats.Conn
	msg *nats.Msg
}

func (d delivery) working() error { return d.nc.Publish(d.msg.Reply, []byte("+WPI")) }
func (d delivery) term() error    { return d.nc.Publish(d.msg.Reply, []byte("+TERM")) }

// nak gives the message back; JetStream redelivers it after `delay` as the next attempt.
func (d delivery) nak(delay time.Duration) error {
	if delay <= 0 {
		return d.nc.Publish(d.msg.Reply, []byte("-NAK"))
	}
	return d.nc.Publish(d.msg.Reply, []byte(fmt.Sprintf(`-NAK {"delay":%d}`, delay.Nanoseconds())))
}

// ack finishes the delivery, sent as a request so the server confirms it.
func (d delivery) ack() error {
	_, err := d.nc.Request(d.msg.Reply, []byte("+ACK"), requestTimeout)
	return err
}

// publishReport is a JetStream publish with a dedupe id: a request answered by the PubAck.
func publishReport(nc *nats.Conn, subject, msgID string, body []byte) error {
	m := nats.NewMsg(subject)
	m.Header.Set("Nats-Msg-Id", msgID)
	m.Data = body
	var lastErr error
	for try := 0; try < 3; try++ { // same id each time: JetStream drops a repeat
		reply, err := nc.RequestMsg(m, requestTimeout)
		if err != nil {
			lastErr = err
			continue
		}
		var ack struct {
			Stream string `json:"stream"`
			Error  *struct {
				Description string `json:"description"`
			} `json:"error"`
		}
		if err := json.Unmarshal(reply.Data, &ack); err != nil {
			return fmt.Errorf("unreadable PubAck: %w", err)
		}
		if ack.Error != nil {
			return fmt.Errorf("report refused by JetStream: %s", ack.Error.Description)
		}
		return nil
	}
	return fmt.Errorf("no PubAck for the report: %w", lastErr)
}
