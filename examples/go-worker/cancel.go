package main

// Cancel notices (docs/protocol.md, step 7): the orchestrator publishes them on <p>.cancel.<queue>;
// a notice naming the task this worker runs aborts it at once. The heartbeat reply's `cancelled`
// remains the fallback when a notice is lost.

import (
	"encoding/json"
	"log"

	"github.com/nats-io/nats.go"
)

func (w *worker) listenForCancels() error {
	_, err := w.nc.Subscribe(w.names.cancel, func(m *nats.Msg) {
		var n cancelNotice
		if err := json.Unmarshal(m.Data, &n); err != nil {
			log.Printf("unreadable cancel notice ignored: %v", err)
			return
		}
		for _, id := range n.TaskIDs {
			if stop, ok := w.cancels.Load(id); ok {
				log.Printf("cancel notice for task %s", id)
				stop.(func())()
			}
		}
	})
	return err
}
