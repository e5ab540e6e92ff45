package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/helixgateway/caddy-ai-gateway/ledger"
)

// sseUpstream streams a chat completion as reverse_proxy passes it on: n content events of pad extra characters
// each, then the usage (12 prompt, 16 completion tokens), each event written and flushed on its own.
func sseUpstream(n, pad int) caddyhttp.Handler {
	return caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		events := make([]string, 0, n+2)
		for i := range n {
			events = append(events, fmt.Sprintf(`data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"tok%d %s"}}]}`+"\n\n", i, strings.Repeat("x", pad)))
		}
		events = append(events, `data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":16,"total_tokens":28}}`+"\n\n",
			"data: [DONE]\n\n")
		for _, ev := range events {
			if _, err := w.Write([]byte(ev)); err != nil {
				return err
			}
			if err := rc.Flush(); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestMeteringAfterTheAnswer: an answer's bytes are copied as they pass and metered by the ledger writer once
// the answer is over, so the handler returns (and the answer ends) before the meter runs; the quota settles
// at once all the same. What must be known when the handler returns is metered before: the usage of a server
// that writes access logs, the cost of a plan with a monthly budget. A long answer, and any answer while the
// copies held by all calls are at their bound, is metered as it streams. Every way gives the same record.
func TestMeteringAfterTheAnswer(t *testing.T) {
	for _, tc := range []struct {
		name        string
		plan        string
		logged      bool // the server writes access logs
		events, pad int
		crowded     bool // the copies held by all calls are at their bound
		behind      bool // the ledger writer has maxDeferred records queued
		wantHeld    bool // the answer's bytes wait for the writer when the handler returns
	}{
		{"metered by the ledger writer", "open", false, 17, 0, false, false, true},
		{"access logged", "open", true, 17, 0, false, false, false},
		{"monthly budget", "capped", false, 17, 0, false, false, false},
		{"long answer", "open", false, 100, 1000, false, false, false},
		{"copies at their bound", "open", false, 17, 0, true, false, false},
		{"writer behind", "open", false, 17, 0, false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The writer holds its group-commit window until a Flush: the records wait, unfinished.
			rt := newTestRuntimeWith(t, ledger.WriterOptions{Interval: time.Hour})
			g := newTestGateway(rt)
			key := rt.tenant(t, "acme", tc.plan)
			if tc.behind {
				rt.tenant(t, "filler", "open")
				for range maxDeferred + 1 { // the first one the writer takes, to start its window
					op := &ledger.Operation{ID: ledger.NewID("op_"), TenantID: "filler", At: time.Now().UTC(), Type: OpChat,
						Method: http.MethodPost, Path: "/v1/chat/completions", Status: http.StatusOK, Outcome: ledger.OutcomeOK}
					if err := rt.writer.Record(context.Background(), op); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tc.crowded {
				heldTotal.Add(maxHeldTotal)
				defer heldTotal.Add(-maxHeldTotal)
			}
			before := heldTotal.Load()
			req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions",
				strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
			req.Header.Set("Authorization", "Bearer "+key)
			srv := &caddyhttp.Server{}
			if tc.logged {
				srv.Logs = &caddyhttp.ServerLogConfig{}
			}
			req = req.WithContext(context.WithValue(req.Context(), caddyhttp.ServerCtxKey, srv))
			w := httptest.NewRecorder()
			if err := g.ServeHTTP(w, req, sseUpstream(tc.events, tc.pad)); err != nil || w.Code != http.StatusOK {
				t.Fatalf("ServeHTTP: %v, status %d", err, w.Code)
			}

			held := heldTotal.Load() - before
			if tc.wantHeld && (held < int64(w.Body.Len()) || held > 2*int64(w.Body.Len())) {
				t.Errorf("%d bytes held when the handler returned, want a buffer of the whole answer's %d", held, w.Body.Len())
			}
			if !tc.wantHeld && held != 0 {
				t.Errorf("%d bytes held when the handler returned, want the answer metered already", held)
			}
			p, _ := rt.Plan(tc.plan)
			u := rt.limiter.Usage("acme", p)
			if u.Used != 1 || u.Reserved != 0 {
				t.Errorf("quota when the handler returned: %d used, %d reserved; want the operation settled", u.Used, u.Reserved)
			}
			if p.MonthlyBudget > 0 && (u.Spent == 0 || u.Held != 0) {
				t.Errorf("budget when the handler returned: %d spent, %d held; want the cost settled", u.Spent, u.Held)
			}

			ctx := context.Background()
			if err := rt.writer.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if left := heldTotal.Load() - before; left != 0 {
				t.Errorf("%d bytes still held after the record was written", left)
			}
			lines, err := rt.store.MonthlyUsage(ctx, "acme", time.Now().UTC().Format("2006-01"))
			if err != nil {
				t.Fatal(err)
			}
			if len(lines) != 1 || lines[0].Model != "gpt-4o-mini" || lines[0].InputTokens != 12 || lines[0].OutputTokens != 16 || lines[0].Cost <= 0 {
				t.Errorf("billed %+v, want one line of gpt-4o-mini, 12 in, 16 out, at a price", lines)
			}
			if u := rt.limiter.Usage("acme", p); u.Spent != lines[0].Cost || u.Held != 0 {
				t.Errorf("limiter's spend %d (%d held), want the billed %d", u.Spent, u.Held, lines[0].Cost)
			}
		})
	}
}

// TestMeteringAfterTheAnswerConcurrently: calls metered by the ledger writer while others stream, under -race:
// every call billed once, at its usage, and no copy left held.
func TestMeteringAfterTheAnswerConcurrently(t *testing.T) {
	rt := newTestRuntime(t)
	g := newTestGateway(rt)
	key := rt.tenant(t, "acme", "busy")
	before := heldTotal.Load()
	const workers, calls = 16, 25
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range calls {
				req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions",
					strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
				req.Header.Set("Authorization", "Bearer "+key)
				req = req.WithContext(context.WithValue(req.Context(), caddyhttp.ServerCtxKey, &caddyhttp.Server{}))
				w := httptest.NewRecorder()
				if err := g.ServeHTTP(w, req, sseUpstream(5, 0)); err != nil || w.Code != http.StatusOK {
					t.Errorf("ServeHTTP: %v, status %d", err, w.Code)
				}
			}
		})
	}
	wg.Wait()
	ctx := context.Background()
	if err := rt.writer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	lines, err := rt.store.MonthlyUsage(ctx, "acme", time.Now().UTC().Format("2006-01"))
	if err != nil {
		t.Fatal(err)
	}
	const n = workers * calls
	if len(lines) != 1 || lines[0].Operations != n || lines[0].InputTokens != 12*n || lines[0].OutputTokens != 16*n {
		t.Fatalf("billed %+v, want %d calls of 12 in and 16 out", lines, n)
	}
	p, _ := rt.Plan("busy")
	if u := rt.limiter.Usage("acme", p); u.Used != n || u.Spent != lines[0].Cost {
		t.Errorf("limiter: %d used, %d spent; want %d and the billed %d", u.Used, u.Spent, n, lines[0].Cost)
	}
	if left := heldTotal.Load() - before; left != 0 {
		t.Errorf("%d bytes still held", left)
	}
}
