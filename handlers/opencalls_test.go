package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/helixgateway/caddy-ai-gateway/limits"
)

// A call counts in the month its start falls in, even when midnight of the 1st passes between Begin's two
// clock readings; End uncounts it there.
func TestOpenCallsCountTheStartsMonth(t *testing.T) {
	var o OpenCalls
	jan31 := time.Date(2026, 1, 31, 23, 59, 59, 999_999_999, time.UTC)
	readings := []time.Time{jan31, jan31.Add(time.Nanosecond)} // Feb 1, 00:00
	start := o.Begin(func() time.Time { t := readings[0]; readings = readings[1:]; return t })
	if start.Month() != time.February || o.In(time.January) != 0 || o.In(time.February) != 1 {
		t.Fatalf("start %v: January %d, February %d in flight", start, o.In(time.January), o.In(time.February))
	}
	again := o.Begin(func() time.Time { return jan31 })
	if o.In(time.January) != 1 {
		t.Fatalf("a call started on the 31st: January %d in flight", o.In(time.January))
	}
	o.End(start)
	o.End(again)
	for m := time.January; m <= time.December; m++ {
		if o.In(m) != 0 {
			t.Errorf("%s: %d in flight after every call ended", m, o.In(m))
		}
	}
}

// TestInvoiceWaitsForTheMonthsCalls: a stream that started before midnight of the 1st and is still running
// when the month's invoice is asked for is in that invoice. Issuing waits for it (up to callsWait), and
// answers 409 calls_in_flight with Retry-After when it runs longer; asking again once it ended issues the
// invoice with its cost. Without the wait the invoice would be issued without the call, and since records are
// booked to the month their call started in, no later invoice would have it either.
func TestInvoiceWaitsForTheMonthsCalls(t *testing.T) {
	rt := newTestRuntime(t)
	key := rt.tenant(t, "acme", "open")
	g := newTestGateway(rt)
	now := time.Now().UTC()
	lastMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).Add(-time.Second) // 23:59:59 on its last day
	month := lastMonth.Format("2006-01")
	g.now = func() time.Time { return lastMonth }
	rt.limiter = limits.New(g.now) // admitted on that day too: the day a call is booked to

	started, release := make(chan struct{}), make(chan struct{})
	upstream := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, `data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hel"}}]}`+"\n\n")
		w.(http.Flusher).Flush()
		close(started)
		<-release
		fmt.Fprint(w, `data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":2000,"total_tokens":3000}}`+"\n\ndata: [DONE]\n\n")
		return nil
	})
	streamDone := make(chan struct{})
	go func() {
		defer close(streamDone)
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(
			`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+key)
		g.ServeHTTP(httptest.NewRecorder(), req, upstream)
	}()
	<-started

	askInvoice := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/ai_gateway/tenants/acme/invoices", strings.NewReader(`{"month":"`+month+`"}`))
		req.SetPathValue("id", "acme")
		w := httptest.NewRecorder()
		if err := createInvoice(rt, w, req); err != nil {
			writeProblem(w, err)
		}
		return w
	}
	defer func(wait time.Duration) { callsWait = wait }(callsWait)
	callsWait = 100 * time.Millisecond
	if w := askInvoice(); w.Code != http.StatusConflict || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "calls_in_flight") {
		t.Fatalf("invoice with the month's stream running past the wait: %d %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}

	callsWait = 30 * time.Second
	var w *httptest.ResponseRecorder
	var wg sync.WaitGroup
	wg.Go(func() { w = askInvoice() })
	time.Sleep(150 * time.Millisecond)
	close(release) // the stream ends while the invoice waits for it
	wg.Wait()
	<-streamDone
	if w.Code != http.StatusCreated {
		t.Fatalf("invoice: %d %s", w.Code, w.Body)
	}
	ops, err := rt.store.Operations(context.Background(), "acme", 1)
	if err != nil || len(ops) != 1 || ops[0].Cost <= 0 || ops[0].At.Format("2006-01") != month {
		t.Fatalf("the stream's record: %+v, %v", ops, err)
	}
	var inv struct {
		SubtotalExact string `json:"subtotal_exact"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &inv); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%d.%09d", ops[0].Cost/1e9, ops[0].Cost%1e9); inv.SubtotalExact != want {
		t.Errorf("invoice subtotal %s, want the stream's cost %s", inv.SubtotalExact, want)
	}
	if rt.calls.In(lastMonth.Month()) != 0 {
		t.Errorf("%d calls still counted in flight", rt.calls.In(lastMonth.Month()))
	}

	// Once issued, the invoice is the answer at once, whatever of its month still runs.
	late := rt.calls.Begin(g.now)
	defer rt.calls.End(late)
	callsWait = time.Minute
	again := askInvoice()
	if again.Code != http.StatusOK || again.Body.String() != w.Body.String() {
		t.Errorf("asking again: %d %s", again.Code, again.Body)
	}
}
