package handlers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/helixgateway/caddy-ai-gateway/limits"
)

func TestOperationType(t *testing.T) {
	for path, want := range map[string]string{
		"/v1/chat/completions":        OpChat,
		"/v1/chat/completions/":       OpChat,
		"/openai/v1/chat/completions": OpChat,
		"/v1/completions":             OpCompletion,
		"/v1/embeddings":              OpEmbedding,
		"/v1/responses":               OpResponse,
		"/v1/messages":                OpMessage,
		"/v1/models":                  OpOther,
		"/v1/chat/completions/x":      OpOther,
		"/":                           OpOther,
	} {
		if got := operationType(path); got != want {
			t.Errorf("operationType(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestKeyFromRequest(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    http.Header
		want string
	}{
		{"bearer", http.Header{"Authorization": {"Bearer hx_abc"}}, "hx_abc"},
		{"bearer lower case", http.Header{"Authorization": {"bearer hx_abc "}}, "hx_abc"},
		{"x-api-key", http.Header{"X-Api-Key": {"hx_abc"}}, "hx_abc"},
		{"basic is not a key", http.Header{"Authorization": {"Basic aGk6dGhlcmU="}}, ""},
		{"basic falls back to x-api-key", http.Header{"Authorization": {"Basic x"}, "X-Api-Key": {"hx_k"}}, "hx_k"},
		{"none", http.Header{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := keyFromRequest(tc.h); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRateLimitHeaders(t *testing.T) {
	h := http.Header{}
	p := limits.Policy{DailyOperations: 100, Interval: 500 * time.Millisecond, Burst: 10}
	setRateLimitHeaders(h, limits.Decision{QuotaLimit: 100, QuotaRemaining: 42, QuotaReset: 3599500 * time.Millisecond,
		BucketLimit: 10, BucketRemaining: 9, BucketReset: 400 * time.Millisecond}, p)
	if got, want := h.Get("RateLimit-Policy"), `"daily";q=100;w=86400, "burst";q=10;w=5`; got != want {
		t.Errorf("RateLimit-Policy = %q, want %q", got, want)
	}
	if got, want := h.Get("RateLimit"), `"daily";r=42;t=3600, "burst";r=9;t=1`; got != want {
		t.Errorf("RateLimit = %q, want %q", got, want)
	}
	h = http.Header{}
	setRateLimitHeaders(h, limits.Decision{QuotaLimit: limits.Unlimited}, limits.Policy{DailyOperations: limits.Unlimited})
	if len(h) != 0 {
		t.Errorf("no quota and no bucket should send no fields, got %v", h)
	}
}

// flushRecorder counts flushes and ReadFrom calls beneath the recorder.
type flushRecorder struct {
	*httptest.ResponseRecorder
	flushes, readFroms int
}

func (f *flushRecorder) Flush()            { f.flushes++ }
func (f *flushRecorder) FlushError() error { f.flushes++; return nil }
func (f *flushRecorder) ReadFrom(r io.Reader) (int64, error) {
	f.readFroms++
	return io.Copy(f.ResponseRecorder, r)
}

// TestRecorderPassesThrough: streaming needs Flush and ReadFrom to reach the real writer, and
// http.ResponseController needs Unwrap.
func TestRecorderPassesThrough(t *testing.T) {
	under := &flushRecorder{ResponseRecorder: httptest.NewRecorder()}
	rec := &recorder{ResponseWriter: under}
	rc := http.NewResponseController(rec)
	rec.WriteHeader(http.StatusAccepted)
	if err := rc.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := rec.ReadFrom(strings.NewReader("data: x\n\n")); err != nil {
		t.Fatal(err)
	}
	if under.flushes != 1 || under.readFroms != 1 {
		t.Errorf("flushes %d, ReadFrom %d; want both passed through once", under.flushes, under.readFroms)
	}
	if rec.status != http.StatusAccepted || rec.bytes != 9 || under.Body.String() != "data: x\n\n" {
		t.Errorf("status %d bytes %d body %q", rec.status, rec.bytes, under.Body.String())
	}
	if rec.Unwrap() != under {
		t.Error("Unwrap does not return the wrapped writer")
	}
	rec2 := &recorder{ResponseWriter: httptest.NewRecorder()}
	rec2.WriteHeader(http.StatusContinue)
	rec2.WriteHeader(http.StatusOK)
	if rec2.status != http.StatusOK {
		t.Errorf("1xx must not be taken for the final status, got %d", rec2.status)
	}
}

func serve(g *Gateway, key, path, body string, next caddyhttp.Handler) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	w := httptest.NewRecorder()
	g.ServeHTTP(w, req, next)
	return w
}

var answer = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
	w.WriteHeader(http.StatusOK)
	_, err := w.Write([]byte(`{"ok":true}`))
	return err
})

// TestSettlement: which answers count against the quota.
func TestSettlement(t *testing.T) {
	rt := newTestRuntime(t)
	g := newTestGateway(rt)
	key := rt.tenant(t, "acme", "small")
	for _, tc := range []struct {
		name    string
		next    caddyhttp.Handler
		counted bool
	}{
		{"200 counts", answer, true},
		{"404 from upstream counts", caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			w.WriteHeader(404)
			return nil
		}), true},
		{"503 is released", caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			w.WriteHeader(503)
			return nil
		}), false},
		{"dial error is released", caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			return caddyhttp.Error(http.StatusBadGateway, fmt.Errorf("dial tcp: connection refused"))
		}), false},
		{"stream broken after headers still counts", caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			w.WriteHeader(200)
			w.Write([]byte("data: {}\n\n"))
			return caddyhttp.Error(http.StatusBadGateway, io.ErrUnexpectedEOF)
		}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := rt.Plan("small")
			before := rt.limiter.Usage("acme", p).Used
			serve(g, key, "/v1/chat/completions", `{}`, tc.next)
			after := rt.limiter.Usage("acme", p)
			if got := after.Used - before; got != map[bool]int64{true: 1, false: 0}[tc.counted] {
				t.Errorf("used went up by %d", got)
			}
			if after.Reserved != 0 {
				t.Errorf("reservation left behind: %d", after.Reserved)
			}
		})
	}
}

// TestBodyCheckKeepsBody: the next handler receives the exact bytes after validation.
func TestBodyCheckKeepsBody(t *testing.T) {
	rt := newTestRuntime(t)
	g := newTestGateway(rt)
	key := rt.tenant(t, "acme", "open")
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	var got []byte
	w := serve(g, key, "/v1/chat/completions", body, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		got, _ = io.ReadAll(r.Body)
		if r.ContentLength != int64(len(body)) {
			t.Errorf("ContentLength %d", r.ContentLength)
		}
		return nil
	}))
	if w.Code != 200 || !bytes.Equal(got, []byte(body)) {
		t.Fatalf("status %d, upstream got %q", w.Code, got)
	}
	g.MaxRequestBody = 10
	if w := serve(g, key, "/v1/chat/completions", body, answer); w.Code != 413 {
		t.Fatalf("over the limit: %d", w.Code)
	}
	// Without a Content-Length the limit is still enforced while reading.
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", io.MultiReader(strings.NewReader(body)))
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+key)
	rw := httptest.NewRecorder()
	g.ServeHTTP(rw, req, answer)
	if rw.Code != 413 {
		t.Fatalf("chunked over the limit: %d", rw.Code)
	}
}

// benchTenants makes n tenants on an unconstrained plan and warms the key cache with their keys.
func benchTenants(b *testing.B, rt *testRuntime, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = rt.tenant(b, fmt.Sprintf("t%d", i), "busy")
		rt.keys.Lookup(context.Background(), HashKey(keys[i]))
	}
	rt.keys.cache.Wait()
	return keys
}

// BenchmarkAdmission is the decision on the request path: key lookup (cached), plan, quota and bucket, the
// RateLimit fields, and settlement.
func BenchmarkAdmission(b *testing.B) {
	for _, tenants := range []int{1, 10000} {
		rt := newTestRuntime(b)
		g := newTestGateway(rt)
		keys := benchTenants(b, rt, tenants)
		admit := func(i int, h http.Header) {
			r := &http.Request{Header: http.Header{"Authorization": {"Bearer " + keys[i%len(keys)]}}}
			r = r.WithContext(context.Background())
			owner, refused := g.authenticate(r)
			if refused != nil {
				b.Fatal(refused.msg)
			}
			p, _ := rt.Plan(owner.Plan)
			res, d := rt.limiter.Admit(owner.TenantID, p)
			setRateLimitHeaders(h, d, p)
			rt.limiter.Settle(res, true)
		}
		b.Run(fmt.Sprintf("sequential/tenants=%d", tenants), func(b *testing.B) {
			h := http.Header{}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				admit(i, h)
			}
		})
		b.Run(fmt.Sprintf("parallel/tenants=%d", tenants), func(b *testing.B) {
			var n atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				h := http.Header{}
				for pb.Next() {
					admit(int(n.Add(1)), h)
				}
			})
		})
	}
}

// BenchmarkHandler is the whole ServeHTTP with an upstream that answers at once: admission, key stripping,
// the response recorder and the operation record (queued; the writer commits on the other core).
func BenchmarkHandler(b *testing.B) {
	rt := newTestRuntime(b)
	g := newTestGateway(rt)
	keys := benchTenants(b, rt, 1000)
	noop := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(200)
		return nil
	})
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		req := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
		for pb.Next() {
			clear(w.h)
			req.Header["Authorization"] = []string{"Bearer " + keys[int(n.Add(1))%len(keys)]}
			g.ServeHTTP(w, req, noop)
		}
	})
	b.StopTimer()
	rt.writer.Flush(context.Background())
}

// postParallel posts body to /v1/chat/completions through serve from b's parallel goroutines, with the keys in
// rotation.
func postParallel(b *testing.B, keys []string, body string, serve func(http.ResponseWriter, *http.Request) error) {
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
			req.Header["Authorization"] = []string{"Bearer " + keys[int(n.Add(1))%len(keys)]}
			serve(w, req)
		}
	})
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Flush()                      {}

// BenchmarkHandlerStream is ServeHTTP for a chat completion streamed as 20 events, each written and flushed on
// its own as reverse_proxy does for SSE: what the gateway adds to a stream (the recorder on every write and
// flush, and with metering the meter), against the same upstream called directly.
func BenchmarkHandlerStream(b *testing.B) {
	rt := newTestRuntime(b)
	keys := benchTenants(b, rt, 1000)
	var events [][]byte
	for i := range 17 {
		events = append(events, fmt.Appendf(nil, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"tok%d "}}]}`+"\n\n", i))
	}
	events = append(events, []byte(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\n"),
		[]byte(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":16,"total_tokens":28}}`+"\n\n"),
		[]byte("data: [DONE]\n\n"))
	upstream := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		rc := http.NewResponseController(w)
		for _, ev := range events {
			if _, err := w.Write(ev); err != nil {
				return err
			}
			if err := rc.Flush(); err != nil {
				return err
			}
		}
		return nil
	})
	body := `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Say hello to the benchmark"}]}`
	off := false
	unmetered, metered := newTestGateway(rt), newTestGateway(rt)
	unmetered.Metering = &off
	through := func(g *Gateway) func(http.ResponseWriter, *http.Request) error {
		return func(w http.ResponseWriter, r *http.Request) error { return g.ServeHTTP(w, r, upstream) }
	}
	for _, bc := range []struct {
		name  string
		serve func(http.ResponseWriter, *http.Request) error
	}{
		{"direct", upstream.ServeHTTP},
		{"metering=off", through(unmetered)},
		{"metering=on", through(metered)},
	} {
		b.Run(bc.name, func(b *testing.B) { postParallel(b, keys, body, bc.serve) })
	}
	rt.writer.Flush(context.Background())
}

// BenchmarkHandlerMetered is ServeHTTP for a chat completion: the body read, checked and parsed, the answer
// metered (a JSON body with usage), the cost priced and the record queued.
func BenchmarkHandlerMetered(b *testing.B) {
	rt := newTestRuntime(b)
	g := newTestGateway(rt)
	keys := benchTenants(b, rt, 1000)
	answer := []byte(`{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, how can I help?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}}`)
	upstream := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		_, err := w.Write(answer)
		return err
	})
	body := `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":"Say hello"}]}`
	postParallel(b, keys, body, func(w http.ResponseWriter, r *http.Request) error { return g.ServeHTTP(w, r, upstream) })
	b.StopTimer()
	rt.writer.Flush(context.Background())
}
