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

// puller pulls one message at a time through its own inbox subscription: JetStream delivers the
// message under the task's subject, so nats.go's Request (which routes by reply subject) cannot.
type puller struct {
	nc      *nats.Conn
	subject string
	sub     *nats.Subscription
	inbox   string
}

func newPuller(nc *nats.Conn, subject string) (*puller, error) {
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	return &puller{nc: nc, subject: subject, sub: sub, inbox: inbox}, nil
}

// next waits up to `wait` for one delivery; nil when there was none.
func (p *puller) next(wait time.Duration) (*nats.Msg, error) {
	body := fmt.Sprintf(`{"batch":1,"expires":%d}`, wait.Nanoseconds())
	if err := p.nc.PublishRequest(p.subject, p.inbox, []byte(body)); err != nil {
		return nil, err
	}
	m, err := p.sub.NextMsg(wait + requestTimeout)
	if errors.Is(err, nats.ErrTimeout) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(m.Data) == 0 && m.Header.Get("Status") != "" {
		switch status := m.Header.Get("Status"); status {
		case "404", "408", "409": // nothing now (409: consumer busy); pull again
			return nil, nil
		default:
			return nil, fmt.Errorf("pull answered %s %s", status, m.Header.Get("Description"))
		}
	}
	return m, nil
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
