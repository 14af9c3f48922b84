// Command go-worker is a jetflow remote-activity worker written only from docs/protocol.md and
// docs/schemas: Go standard library plus nats.go. It serves one (queue, code version), one task
// at a time. SIGTERM/SIGINT: stop pulling, finish the task in flight, exit 0; a second signal
// aborts it and gives it back for redelivery.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
)

// worker is one worker process's configuration and connection.
type worker struct {
	nc             *nats.Conn
	names          names
	id             string
	codeVersion    string
	labels         map[string]string
	heartbeatEvery time.Duration
	retryBackoff   time.Duration
	http           *http.Client
	hardStop       chan struct{}
	cancels        sync.Map // task id -> func(): aborts the running attempt on a cancel notice
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	var c connConfig
	flag.StringVar(&c.Servers, "servers", "nats://127.0.0.1:4222", "NATS server URLs, comma-separated")
	flag.StringVar(&c.User, "user", "", "NATS user (e.g. worker-default)")
	flag.StringVar(&c.Password, "password", os.Getenv("JETFLOW_WORKER_PASSWORD"), "NATS password (default $JETFLOW_WORKER_PASSWORD)")
	flag.StringVar(&c.Creds, "creds", "", "NATS .creds file instead of user/password")
	flag.StringVar(&c.InboxPrefix, "inbox-prefix", "", "reply inbox prefix (default _INBOX_<user>, or read from the creds)")
	queue := flag.String("queue", "default", "queue served")
	codeVersion := flag.String("code-version", "v1", "stage code version this worker runs")
	id := flag.String("worker-id", "", "worker id (default go-<hostname>-<pid>)")
	prefix := flag.String("prefix", "jetflow", "subject prefix")
	streamPrefix := flag.String("stream-prefix", "JETFLOW", "stream name prefix")
	labels := flag.String("labels", "", "labels k=v,k=v")
	heartbeatEvery := flag.Duration("heartbeat", 5*time.Second, "heartbeat interval (well below the lease)")
	fleetEvery := flag.Duration("fleet-heartbeat", 30*time.Second, "registry heartbeat; 0 = do not join the fleet")
	retryBackoff := flag.Duration("retry-backoff", time.Second, "delay before the first retry (doubles per attempt)")
	flag.Parse()

	if *id == "" {
		host, _ := os.Hostname()
		*id = "go-" + host + "-" + strconv.Itoa(os.Getpid())
	}
	c.Name = "jetflow-go-worker " + *id
	nc, err := connect(c)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	w := &worker{
		nc: nc, names: newNames(*prefix, *streamPrefix, *queue, *codeVersion), id: *id, codeVersion: *codeVersion,
		labels: parseLabels(*labels), heartbeatEvery: *heartbeatEvery, retryBackoff: *retryBackoff,
		http: &http.Client{Timeout: 10 * time.Minute}, hardStop: make(chan struct{}),
	}
	p, err := newPuller(nc, w.names.pulls)
	if err != nil {
		log.Fatal(err)
	}
	if err := w.listenForCancels(); err != nil {
		log.Fatal(err)
	}

	draining := make(chan struct{})
	var drainOnce, hardOnce sync.Once
	stop := func(drain bool) { // drain: finish the task in flight; otherwise give it back
		drainOnce.Do(func() { log.Printf("draining"); close(draining) })
		if !drain {
			hardOnce.Do(func() { close(w.hardStop) })
		}
	}
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		stop(true)
		<-signals
		stop(false)
	}()
	var f *fleet
	if *fleetEvery > 0 {
		if f, err = joinFleet(w, *prefix, *queue, *fleetEvery, stop); err != nil {
			log.Fatal(err)
		}
	}

	log.Printf("worker started id=%s queue=%s version=%s", w.id, *queue, *codeVersion)
	for {
		select {
		case <-draining:
			if f != nil {
				f.leave()
			}
			log.Printf("worker stopped")
			return
		default:
		}
		m, err := p.next(2 * time.Second)
		if err != nil {
			log.Printf("pull failed: %v", err)
			if nc.IsClosed() {
				os.Exit(1)
			}
			time.Sleep(time.Second)
			continue
		}
		if m != nil && isClosed(draining) {
			_ = delivery{nc, m}.nak(0) // pulled while the drain began: give it back unstarted
			continue
		}
		if m != nil {
			if f != nil {
				f.inFlight(1)
			}
			w.handle(m)
			if f != nil {
				f.inFlight(0)
			}
		}
	}
}

func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
