package integration

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helixgateway/caddy-ai-gateway/ledger"
)

// Upstreams that misbehave: garbage bodies, lies about encoding and length, cut streams, absurd usage reports.

// TestUnpricedRefuseWithoutModel: `unpriced refuse` is meant to keep unpriced calls out; a body that names no model
// (or names it with a non-string) must not slip past it to an upstream that serves a default model, to be recorded
// at zero cost.
func TestUnpricedRefuseWithoutModel(t *testing.T) {
	up := newJunkUpstream(t)
	g := start(t, withUpstream(strings.Replace(billingBase, "\t\ttax_rate 10%\n", "\t\ttax_rate 10%\n\t\tunpriced refuse\n", 1), up.addr()), "{HANDLER}", "")
	key := g.tenantWithKey("acme", "open")
	for _, body := range []string{
		`{"messages":[{"role":"user","content":"hello"}]}`,
		`{"model":42,"messages":[{"role":"user","content":"hello"}]}`,
		`{"model":["test-model"],"messages":[{"role":"user","content":"hello"}]}`,
		`{"model":"","messages":[{"role":"user","content":"hello"}]}`,
	} {
		r := g.call(key, "/v1/chat/completions", body, "X-Junk", "ok")
		if r.status == 200 {
			op := g.lastOp("acme")
			t.Errorf("%s was served under unpriced refuse: recorded model %q, unpriced %v, cost %d; want 400 before the upstream",
				body, op.Model, op.Price.Unpriced, op.Cost)
		}
	}
}

// junkUpstream answers according to the request's X-Junk header: well-formed, binary junk, lies about its
// encoding or length, malformed or cut streams.
type junkUpstream struct {
	srv  *httptest.Server
	sent sync.Map // mode -> the bytes the upstream wrote
}

func (u *junkUpstream) addr() string { return strings.TrimPrefix(u.srv.URL, "http://") }

func (u *junkUpstream) wrote(mode string) []byte {
	b, _ := u.sent.Load(mode)
	bs, _ := b.([]byte)
	return bs
}

const junkOK = `{"id":"chatcmpl-1","object":"chat.completion","model":"test-model","choices":[{"index":0,"message":{"role":"assistant","content":"hi there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`

func newJunkUpstream(t *testing.T) *junkUpstream {
	u := &junkUpstream{}
	junk := make([]byte, 64<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range junk {
		junk[i] = byte(rng.UintN(256))
	}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mode := r.Header.Get("X-Junk")
		var out bytes.Buffer
		write := func(s []byte) {
			out.Write(s)
			w.Write(s)
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
		}
		defer func() { u.sent.Store(mode, out.Bytes()) }()
		h := w.Header()
		switch mode {
		case "ok":
			h.Set("Content-Type", "application/json")
			write([]byte(junkOK))
		case "binary":
			h.Set("Content-Type", "application/json")
			write(junk)
		case "gzip-lie":
			h.Set("Content-Type", "application/json")
			h.Set("Content-Encoding", "gzip")
			write(junk[:4096])
		case "empty":
			h.Set("Content-Type", "application/json")
			w.WriteHeader(200)
		case "sse-malformed":
			h.Set("Content-Type", "text/event-stream")
			for _, line := range []string{
				"data: {\"choices\":[{\"delta\":{\"content\":\"hel\n\n",
				"data: {broken json}\n\n",
				": a comment\n\n",
				"event:\n\n",
				"data:" + strings.Repeat("x", 70_000) + "\n\n",
				"data: {\"usage\":{\"prompt_tokens\":\"NaN\",\"completion_tokens\":-5}}\n\n",
				"data: \x00\xff\xfe\n\n",
				"data: [DONE\n\n",
				"\r\r\r\n\n\n",
			} {
				write([]byte(line))
			}
		case "sse-cut":
			h.Set("Content-Type", "text/event-stream")
			write([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"partial answer here\"}}]}\n\n"))
			write([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"cut he"))
			panic(http.ErrAbortHandler) // the connection is closed mid-line, without the chunked terminator
		case "anthropic-cut":
			h.Set("Content-Type", "text/event-stream")
			write([]byte("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-test\",\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n"))
			write([]byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"some words that stream\"}}\n\n"))
			write([]byte("event: content_block_delta\ndata: {\"type\":\"content_blo"))
			panic(http.ErrAbortHandler)
		case "short":
			h.Set("Content-Type", "application/json")
			h.Set("Content-Length", "1000")
			write([]byte(`{"id":"x","choices":[{"message":{"content":"trunc`)) // the server closes: 1000 promised
		case "huge-usage":
			h.Set("Content-Type", "application/json")
			write([]byte(`{"id":"x","object":"chat.completion","model":"test-model","choices":[],"usage":{"prompt_tokens":1e400,"completion_tokens":99999999999999999999999}}`))
		case "html-500":
			h.Set("Content-Type", "text/html")
			w.WriteHeader(500)
			write(junk[:1000])
		default:
			http.Error(w, "unknown junk mode "+mode, 400)
		}
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// TestUpstreamGarbage: whatever an upstream sends, the client gets it as sent (or the cut the upstream made),
// the call is recorded, the reservation is settled, and the next call works.
func TestUpstreamGarbage(t *testing.T) {
	up := newJunkUpstream(t)
	g := start(t, withUpstream(billingBase, up.addr()), "{HANDLER}", "")
	key := g.tenantWithKey("acme", "open")
	// A client that neither asks for nor undoes compression, so it sees the upstream's bytes.
	raw := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	chat := `{"model":"test-model","messages":[{"role":"user","content":"one two three four five six seven eight"}]}`
	streamChat := `{"model":"test-model","stream":true,"messages":[{"role":"user","content":"one two three four"}]}`
	streamMessages := `{"model":"claude-test","stream":true,"max_tokens":50,"messages":[{"role":"user","content":"one two three four"}]}`
	var ops int64
	for _, tc := range []struct {
		mode, path, body string
		status           int
		cut              bool // the client sees the connection cut mid-body
		source           string
		counted          bool
	}{
		{"binary", "/v1/chat/completions", chat, 200, false, "estimated", true},
		{"gzip-lie", "/v1/chat/completions", chat, 200, false, "estimated", true},
		{"empty", "/v1/chat/completions", chat, 200, false, "estimated", true},
		{"sse-malformed", "/v1/chat/completions", streamChat, 200, false, "", true},
		{"sse-malformed", "/v1/messages", streamMessages, 200, false, "", true},
		{"sse-cut", "/v1/chat/completions", streamChat, 200, true, "estimated", true},
		{"anthropic-cut", "/v1/messages", streamMessages, 200, true, "estimated", true},
		{"short", "/v1/chat/completions", chat, 200, true, "estimated", true},
		{"html-500", "/v1/chat/completions", chat, 500, false, "", false},
	} {
		t.Run(tc.mode+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest("POST", g.url(tc.path), strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("X-Junk", tc.mode)
			req.Header.Set("Accept-Encoding", "gzip")
			a, err := sendRaw(raw, req)
			if err != nil {
				t.Fatalf("transport error before an answer: %v", err)
			}
			if a.status != tc.status && !(tc.cut && a.status == 502) {
				t.Fatalf("status %d %.200q, want %d", a.status, a.body, tc.status)
			}
			if tc.cut != (a.readErr != nil) && a.status != 502 {
				t.Errorf("read error %v; want a cut connection: %v", a.readErr, tc.cut)
			}
			if !tc.cut && !bytes.Equal(a.body, up.wrote(tc.mode)) {
				t.Errorf("the client got %d bytes that differ from the %d the upstream sent", len(a.body), len(up.wrote(tc.mode)))
			}
			ops++
			g.waitOps("acme", ops)
			op := g.lastOp("acme")
			if op.Status != a.status || op.Counted != tc.counted || tc.cut && !op.Usage.Interrupted {
				t.Errorf("record: status %d counted %v interrupted %v, want %d %v %v (%+v)", op.Status, op.Counted, op.Usage.Interrupted, a.status, tc.counted, tc.cut, op)
			}
			if tc.source != "" && op.Usage.Source != tc.source {
				t.Errorf("usage source %q, want %q (%+v)", op.Usage.Source, tc.source, op.Usage)
			}
			if op.Cost < 0 || op.Usage.InputTokens < 0 || op.Usage.OutputTokens < 0 {
				t.Errorf("impossible usage %+v cost %d", op.Usage, op.Cost)
			}
			if a.status == 200 && op.Usage.Source != "reported" && op.Cost == 0 {
				t.Errorf("a 2xx answer without a usage report cost nothing: %+v", op.Usage)
			}
			if tc.mode == "anthropic-cut" && op.Usage.InputTokens != 25 {
				t.Errorf("cut Anthropic stream: input tokens %d, want the 25 that message_start reported", op.Usage.InputTokens)
			}
		})
	}
	if op := g.lastOp("acme"); op.Outcome != ledger.OutcomeUpstreamError {
		t.Errorf("a 500 is recorded as %q", op.Outcome)
	}
	u := g.admin("GET", "/ai_gateway/tenants/acme/usage", "")
	if u.str("operations", "in_flight") != "0" || u.str("spend", "in_flight") != "0.000000000" {
		t.Errorf("reservations left after the garbage: %s", u.raw)
	}
	r := g.call(key, "/v1/chat/completions", chat, "X-Junk", "ok")
	if r.status != 200 || string(r.raw) != junkOK {
		t.Fatalf("a good answer after the garbage: %d %s", r.status, r.raw)
	}
	if op := g.lastOp("acme"); op.Usage.Source != "reported" || op.Usage.InputTokens != 3 || op.Usage.OutputTokens != 2 {
		t.Errorf("good answer metered as %+v", op.Usage)
	}
}

// TestHugeUsageDoesNotJamTheLedger: an upstream reporting absurd usage (1e400 tokens) must not stop the gateway.
// Today the meter saturates the tokens, the cost saturates at MaxMoney, and the second such record overflows
// monthly_usage.cost: SQLite turns the sum into a REAL, the STRICT table refuses it, the writer retries the same
// batch forever and the gateway answers 503 ledger_unavailable to every tenant. (Two such records in one batch
// wrap monthTotals.cost to a negative number instead.)
func TestHugeUsageDoesNotJamTheLedger(t *testing.T) {
	up := newJunkUpstream(t)
	g := start(t, withUpstream(billingBase, up.addr()), "{HANDLER}", "")
	key := g.tenantWithKey("acme", "open")
	bystander := g.tenantWithKey("bystander", "open")
	body := `{"model":"test-model","messages":[{"role":"user","content":"hello"}]}`
	for i := range 2 {
		if r := g.call(key, "/v1/chat/completions", body, "X-Junk", "huge-usage"); r.status != 200 {
			t.Fatalf("huge usage %d: %d %s", i, r.status, r.raw)
		}
		g.waitOps("acme", int64(i+1)) // one record per batch, so the second is added to the first's monthly row
	}
	if r := g.call(bystander, "/v1/chat/completions", body, "X-Junk", "ok"); r.status != 200 {
		t.Fatalf("another tenant after a huge usage report: %d %s", r.status, r.raw)
	}
	g.waitOps("bystander", 1)
	b := g.admin("GET", "/ai_gateway/tenants/acme/billing", "")
	if b.status != 200 || strings.HasPrefix(b.str("total", "cost"), "-") {
		t.Errorf("billing after huge usage: %d %s", b.status, b.raw)
	}
}

// TestHugeUsageKeepsTheBudget: after a call whose reported usage saturates its cost, a tenant with a monthly budget
// must be refused (402), not let through because spent + held + estimate overflows int64 (limits/budget.go fits
// and settle add without saturating).
func TestHugeUsageKeepsTheBudget(t *testing.T) {
	up := newJunkUpstream(t)
	g := start(t, withUpstream(billingBase, up.addr()), "{HANDLER}", "")
	key := g.tenantWithKey("acme", "capped") // monthly_budget 0.001
	if r := g.call(key, "/v1/chat/completions", `{"model":"test-model","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}`, "X-Junk", "huge-usage"); r.status != 200 {
		t.Fatalf("first call: %d %s", r.status, r.raw)
	}
	if r := g.call(key, "/v1/embeddings", `{"model":"test-model","input":"hi"}`, "X-Junk", "ok"); r.status != 402 || r.errorCode() != "budget_exceeded" {
		t.Errorf("after spending the saturated cost: %d %s, want 402 budget_exceeded", r.status, r.raw)
	}
	if u := g.admin("GET", "/ai_gateway/tenants/acme/usage", ""); strings.HasPrefix(u.str("spend", "spent"), "-") || u.str("spend", "remaining") != "0.000000000" {
		t.Errorf("usage after a saturated cost: %s", u.raw)
	}
}
