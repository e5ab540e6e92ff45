package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// hookEvents are the event types every bench tenant's endpoint subscribes to: all but operation.completed
// (which would mean a delivery per request) and webhook.test.
var hookEvents = []string{"operation.failed", "quota.warning", "quota.exceeded", "rate_limit.exceeded",
	"budget.warning", "budget.exceeded", "invoice.finalized"}

// hookReceiver is a webhook endpoint on loopback: it answers 204 to every POST and counts them.
type hookReceiver struct {
	url string
	n   atomic.Int64
}

func startHookReceiver() (*hookReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &hookReceiver{url: "http://" + ln.Addr().String() + "/hook"}
	go http.Serve(ln, h)
	return h, nil
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	io.Copy(io.Discard, r.Body)
	h.n.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// await waits until the receiver has had n POSTs, for at most d.
func (h *hookReceiver) await(n int64, d time.Duration) error {
	for end := time.Now().Add(d); h.n.Load() < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			return fmt.Errorf("webhook receiver: %d deliveries after %s, want %d", h.n.Load(), d, n)
		}
	}
	return nil
}
