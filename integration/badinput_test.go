package integration

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helixgateway/caddy-ai-gateway/handlers"
	"github.com/helixgateway/caddy-ai-gateway/ledger"
)

// Bad input from tenants and upstreams: each gets the documented answer, nothing crashes, no other tenant's
// numbers move, and the gateway keeps serving afterwards.

// answer is a response read as far as the server sent it; readErr is set when the connection was cut mid-body.
type answer struct {
	status  int
	header  http.Header
	body    []byte
	readErr error
}

// sendRaw sends req and reads the whole answer. A transport error (the server refused the request outright
// or closed the connection before an answer) is returned, not fatal.
func sendRaw(c *http.Client, req *http.Request) (answer, error) {
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, readErr := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: body, readErr: readErr}, nil
}

func (g *gateway) url(path string) string { return "http://127.0.0.1:" + g.vars["{GATEWAY}"] + path }

// postReader posts body as is: a *bytes.Reader gets a Content-Length, any other reader is sent chunked.
func (g *gateway) postReader(key, path string, body io.Reader, header ...string) answer {
	g.t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.url(path), body)
	if err != nil {
		g.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	a, err := sendRaw(g.client, req)
	if err != nil {
		g.t.Fatalf("POST %s: %v", path, err)
	}
	return a
}

// waitOps waits until the tenant has n operation records: a call whose connection was cut is recorded when its
// handler unwinds, which may be just after the client saw the cut.
func (g *gateway) waitOps(tenant string, n int64) {
	g.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		// A bounded flush: a writer stuck on a commit must fail the test, not hang it.
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := g.app().Writer().Flush(ctx)
		cancel()
		if err != nil {
			g.t.Fatalf("flushing the ledger writer: %v (commit error: %v)", err, g.app().Writer().Err())
		}
		got, err := g.app().Ledger().OperationCount(context.Background(), tenant, "")
		if err != nil {
			g.t.Fatal(err)
		}
		if got == n {
			return
		}
		if got > n || time.Now().After(deadline) {
			g.t.Fatalf("%s has %d operation records, want %d", tenant, got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dbFilesContain reports whether the SQLite database or its WAL holds s anywhere, in any table or free page.
func (g *gateway) dbFilesContain(s string) bool {
	g.t.Helper()
	g.flush()
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		b, err := os.ReadFile(g.vars["{DB}"] + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			g.t.Fatal(err)
		}
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

func withUpstream(cfg, hostport string) string {
	return strings.Replace(cfg, "reverse_proxy 127.0.0.1:{MOCK}", "reverse_proxy "+hostport, 1)
}

var jsonEndpoints = []string{"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses", "/v1/messages"}

// TestBadBodies: malformed, truncated and non-object bodies on every JSON endpoint are 400 invalid_request, oversized
// ones 413 request_too_large with or without a Content-Length, and none reaches the upstream or counts.
func TestBadBodies(t *testing.T) {
	up := newRecordingUpstream(t)
	g := start(t, withUpstream(billingBase, up.addr), "{HANDLER}", "{\n\t\tmax_request_body 4KiB\n\t}")
	key := g.tenantWithKey("acme", "open")
	bystander := g.tenantWithKey("bystander", "open")
	if r := g.call(bystander, "/v1/chat/completions", `{"model":"test-model","messages":[]}`); r.status != 200 {
		t.Fatalf("bystander: %d %s", r.status, r.raw)
	}

	valid := `{"model":"test-model","messages":[{"role":"user","content":"hello there"}],"prompt":"p","input":"i","max_tokens":5}`
	bad := []struct{ name, body string }{
		{"malformed", `{"model":`},
		{"truncated", valid[:len(valid)/2]},
		{"truncated in a string", valid[:20]},
		{"unclosed object", strings.TrimSuffix(valid, "}")},
		{"trailing brace", valid + `}`},
		{"two objects", valid + valid},
		{"array", `[` + valid + `]`},
		{"string", `"hello"`},
		{"number", `42`},
		{"null", `null`},
		{"true", `true`},
		{"form encoded", `model=test-model&prompt=hi`},
		{"control character in a string", "{\"model\":\"test\x01model\"}"},
		{"byte order mark", "\xef\xbb\xbf" + valid},
		{"NUL after the object", valid + "\x00"},
		{"single quotes", `{'model':'test-model'}`},
		{"bad escape", `{"model":"\x"}`},
		{"whitespace only", " \n\t "},
		{"nested array, not an object", strings.Repeat("[", 1500) + strings.Repeat("]", 1500)},
	}
	refused := 0
	for _, path := range jsonEndpoints {
		for _, tc := range bad {
			t.Run(strings.TrimPrefix(path, "/v1/")+"/"+tc.name, func(t *testing.T) {
				a := g.postReader(key, path, bytes.NewReader([]byte(tc.body)))
				refused++
				if a.status != 400 || !strings.Contains(string(a.body), `"code":"invalid_request"`) ||
					!strings.Contains(string(a.body), `"type":"invalid_request_error"`) {
					t.Fatalf("got %d %s, want 400 invalid_request", a.status, a.body)
				}
			})
		}
	}

	t.Run("too large", func(t *testing.T) {
		big := `{"model":"test-model","messages":[{"role":"user","content":"` + strings.Repeat("a", 5000) + `"}]}`
		for _, path := range append(jsonEndpoints, "/v1/models/upload") {
			for _, chunked := range []bool{false, true} {
				if chunked && path == "/v1/models/upload" {
					continue // TestOversizedChunkedBodyOnOtherPath
				}
				var body io.Reader = bytes.NewReader([]byte(big))
				if chunked {
					body = io.MultiReader(strings.NewReader(big)) // no length known: sent chunked
				}
				a := g.postReader(key, path, body)
				refused++
				if a.status != 413 || !strings.Contains(string(a.body), `"code":"request_too_large"`) {
					t.Errorf("%s (chunked %v): got %d %s, want 413 request_too_large", path, chunked, a.status, a.body)
				}
			}
		}
	})

	before := up.count.Load()
	t.Run("exactly the limit passes", func(t *testing.T) {
		prefix, suffix := `{"model":"test-model","messages":[{"role":"user","content":"`, `"}]}`
		body := prefix + strings.Repeat("b", 4096-len(prefix)-len(suffix)) + suffix
		if a := g.postReader(key, "/v1/chat/completions", io.MultiReader(strings.NewReader(body))); a.status != 200 {
			t.Fatalf("a body of exactly max_request_body: %d %s", a.status, a.body)
		}
	})
	t.Run("deep nesting inside an object passes", func(t *testing.T) {
		body := `{"model":"test-model","messages":[{"role":"user","content":` + strings.Repeat("[", 1500) + strings.Repeat("]", 1500) + `}]}`
		if a := g.postReader(key, "/v1/chat/completions", strings.NewReader(body)); a.status != 200 {
			t.Fatalf("deeply nested valid object: %d %s", a.status, a.body)
		}
	})
	if got := up.count.Load() - before; got != 2 {
		t.Errorf("the upstream saw %d of the two valid requests", got)
	}

	t.Run("invalid UTF-8 is forwarded consistently", func(t *testing.T) {
		// encoding/json's validity check does not look at UTF-8, and neither do providers' parsers uniformly, so
		// the gateway forwards such bytes rather than judging them; what matters is that it does so on every
		// endpoint, records the call and shows it in billing without a 500.
		for _, path := range jsonEndpoints {
			body := "{\"model\":\"test-model\",\"messages\":[{\"role\":\"user\",\"content\":\"caf\xc3 \xff\xfe \xed\xa0\x80\"}],\"input\":\"\xc0\xaf\",\"prompt\":\"\x80\"}"
			if a := g.postReader(key, path, strings.NewReader(body)); a.status != 200 {
				t.Errorf("%s: %d %s, want it forwarded (200) like every other endpoint", path, a.status, a.body)
			}
		}
		a := g.postReader(key, "/v1/chat/completions", strings.NewReader("{\"model\":\"bad-\xff-model\",\"stream\":true,\"messages\":[]}"))
		if a.status != 200 {
			t.Fatalf("invalid UTF-8 in the model of a stream: %d %s", a.status, a.body)
		}
		if op := g.lastOp("acme"); op.Outcome != ledger.OutcomeOK || !op.Price.Unpriced {
			t.Errorf("record of the call with an invalid UTF-8 model: %+v", op)
		}
		for _, path := range []string{"/ai_gateway/tenants/acme/billing", "/ai_gateway/tenants/acme/analytics", "/ai_gateway/analytics"} {
			if r := g.admin("GET", path, ""); r.status != 200 || r.body == nil {
				t.Errorf("%s after invalid UTF-8 models: %d %s", path, r.status, r.raw)
			}
		}
	})

	if n := g.operations("acme", ledger.OutcomeBadRequest); n != int64(refused) {
		t.Errorf("bad_request records = %d, want %d", n, refused)
	}
	u := g.admin("GET", "/ai_gateway/tenants/acme/usage", "")
	if u.str("operations", "used") != "8" || u.str("operations", "in_flight") != "0" {
		t.Errorf("refused bodies must give their operation back: usage %s", u.raw)
	}
	if n := g.operations("bystander", ""); n != 1 {
		t.Errorf("the bystander has %d records, want its own 1", n)
	}
	if r := g.call(key, "/v1/chat/completions", `{"model":"test-model","messages":[]}`); r.status != 200 {
		t.Fatalf("after the bad bodies: %d %s", r.status, r.raw)
	}
}

// TestOversizedChunkedBodyOnOtherPath: on a path that is not a JSON endpoint the body streams to the upstream
// through a size limit; a chunked body over max_request_body must still be 413 request_too_large (as the
// contract says for any body over the limit, and as the same body with a Content-Length gets), not a 502 recorded
// as an upstream error.
func TestOversizedChunkedBodyOnOtherPath(t *testing.T) {
	up := newRecordingUpstream(t)
	g := start(t, withUpstream(billingBase, up.addr), "{HANDLER}", "{\n\t\tmax_request_body 4KiB\n\t}")
	key := g.tenantWithKey("acme", "open")
	big := strings.Repeat("z", 5000)
	a := g.postReader(key, "/v1/files", io.MultiReader(strings.NewReader(big)))
	if a.status != 413 || !strings.Contains(string(a.body), `"code":"request_too_large"`) {
		t.Errorf("chunked body over the limit on /v1/files: %d %q, want 413 request_too_large", a.status, a.body)
	}
	if n := g.operations("acme", ledger.OutcomeBadRequest); n != 1 {
		t.Errorf("bad_request records %d, want 1 (outcomes: upstream_error %d)", n, g.operations("acme", ledger.OutcomeUpstreamError))
	}
	if a := g.postReader(key, "/v1/files", bytes.NewReader([]byte(big))); a.status != 413 {
		t.Errorf("the same body with a Content-Length: %d", a.status)
	}
}

// TestEmptyPostBody: a POST to a JSON endpoint without a body is not valid JSON, like any other bad body: 400
// invalid_request, not forwarded, not counted — whether it says Content-Length: 0 or sends an empty chunked body.
func TestEmptyPostBody(t *testing.T) {
	up := newRecordingUpstream(t)
	g := start(t, withUpstream(billingBase, up.addr), "{HANDLER}", "")
	key := g.tenantWithKey("acme", "open")
	for _, path := range jsonEndpoints {
		for _, chunked := range []bool{false, true} {
			var body io.Reader = http.NoBody // Content-Length: 0
			if chunked {
				body = io.MultiReader()
			}
			a := g.postReader(key, path, body)
			if a.status != 400 || !strings.Contains(string(a.body), `"code":"invalid_request"`) {
				t.Errorf("POST %s with an empty body (chunked %v): %d %s, want 400 invalid_request", path, chunked, a.status, a.body)
			}
		}
	}
	if n := up.count.Load(); n != 0 {
		t.Errorf("%d empty POSTs reached the upstream", n)
	}
	// A GET without a body is not a bad request: OpenAI has GET routes under these paths (stored completions).
	if r := g.call(key, "/v1/chat/completions", ""); r.status != 200 {
		t.Errorf("GET without a body: %d %s", r.status, r.raw)
	}
}

// TestLongHeaders: very long headers and keys get a 4xx (401 for an unknown key, 431 past Go's header limit),
// never a 5xx, and no key, known or not, ends up in the database.
func TestLongHeaders(t *testing.T) {
	g := startBilling(t)
	key := g.tenantWithKey("acme", "open")
	longKey := "hx_" + ledger.RandomBase62(10_000)
	longAnthropicKey := "hx_" + ledger.RandomBase62(10_000)
	for _, tc := range []struct {
		name   string
		header http.Header
		want   []int // acceptable statuses
	}{
		{"60 KB header with a valid key", http.Header{"Authorization": {"Bearer " + key}, "X-Junk": {strings.Repeat("j", 60_000)}}, []int{200, 431}},
		{"200 headers of 4 KB", func() http.Header {
			h := http.Header{"Authorization": {"Bearer " + key}}
			for i := range 200 {
				h.Set("X-Junk-"+string(rune('a'+i%26))+strings.Repeat("x", i/26), strings.Repeat("v", 4000))
			}
			return h
		}(), []int{200, 431}},
		{"10 KB bearer key", http.Header{"Authorization": {"Bearer " + longKey}}, []int{401}},
		{"10 KB x-api-key", http.Header{"X-Api-Key": {longAnthropicKey}}, []int{401}},
		{"valid key after a 10 KB bearer", http.Header{"Authorization": {"Bearer " + longKey}, "X-Api-Key": {key}}, []int{401}},
		{"2 MB header", http.Header{"Authorization": {"Bearer " + key}, "X-Junk": {strings.Repeat("j", 2<<20)}}, []int{431}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", g.url("/v1/chat/completions"), strings.NewReader(chatBody))
			req.Header = tc.header
			a, err := sendRaw(g.client, req)
			if err != nil {
				// The server may close the connection on an oversized header before the client reads the 431.
				if !containsStatus(tc.want, 431) {
					t.Fatalf("transport error: %v", err)
				}
				return
			}
			if !containsStatus(tc.want, a.status) {
				t.Fatalf("got %d %.200s, want one of %v", a.status, a.body, tc.want)
			}
			if a.status == 401 && !strings.Contains(string(a.body), "invalid_api_key") {
				t.Errorf("401 without invalid_api_key: %s", a.body)
			}
		})
	}
	g.client.CloseIdleConnections()
	if r := g.call(key, "/v1/chat/completions", chatBody); r.status != 200 {
		t.Fatalf("after the long headers: %d %s", r.status, r.raw)
	}
	for name, secret := range map[string]string{"valid key": key, "10 KB bearer": longKey[:64], "10 KB x-api-key": longAnthropicKey[:64]} {
		if g.dbFilesContain(secret) {
			t.Errorf("the database holds the %s", name)
		}
	}
}

func containsStatus(list []int, s int) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestUnknownModels: with `unpriced allow` (the default) a model without a price is served and recorded at zero
// cost, marked unpriced; with `unpriced refuse` it is 400 model_not_priced before the upstream.
func TestUnknownModels(t *testing.T) {
	t.Run("allow", func(t *testing.T) {
		g := startBilling(t)
		key := g.tenantWithKey("acme", "open")
		r := g.call(key, "/v1/chat/completions", `{"model":"helix-no-such-model","messages":[{"role":"user","content":"a b c"}]}`)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		op := g.lastOp("acme")
		if !op.Price.Unpriced || op.Cost != 0 || op.Model != "helix-no-such-model" || op.Usage.Source != "reported" || op.Usage.OutputTokens != 16 {
			t.Fatalf("record %+v", op)
		}
		b := g.admin("GET", "/ai_gateway/tenants/acme/billing", "")
		if b.status != 200 || !strings.Contains(string(b.raw), "helix-no-such-model") || b.str("total", "cost") != "0.000000000" {
			t.Fatalf("billing: %d %s", b.status, b.raw)
		}
	})
	t.Run("refuse", func(t *testing.T) {
		g := start(t, strings.Replace(billingBase, "\t\ttax_rate 10%\n", "\t\ttax_rate 10%\n\t\tunpriced refuse\n", 1), "{HANDLER}", "")
		key := g.tenantWithKey("acme", "open")
		for _, tc := range []struct{ path, body string }{
			{"/v1/chat/completions", `{"model":"helix-no-such-model","messages":[{"role":"user","content":"hi"}]}`},
			{"/v1/chat/completions", `{"model":"helix-no-such-model","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
			{"/v1/embeddings", `{"model":"helix-no-such-model","input":"x"}`},
			{"/v1/messages", `{"model":"claude-nonexistent-9","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`},
		} {
			r := g.call(key, tc.path, tc.body)
			if r.status != 400 || r.errorCode() != "model_not_priced" || r.str("error", "type") != "invalid_request_error" {
				t.Errorf("%s %s: %d %s, want 400 model_not_priced", tc.path, tc.body, r.status, r.raw)
			}
		}
		if r := g.call(key, "/v1/chat/completions", `{"model":"TEST-MODEL","messages":[{"role":"user","content":"hi"}]}`); r.status != 200 {
			t.Errorf("a priced model (any case) is served: %d %s", r.status, r.raw)
		}
		if n := g.operations("acme", ledger.OutcomeBadRequest); n != 4 {
			t.Errorf("bad_request records %d, want 4", n)
		}
		if u := g.admin("GET", "/ai_gateway/tenants/acme/usage", ""); u.str("operations", "used") != "1" {
			t.Errorf("refused calls were counted: %s", u.raw)
		}
	})
}

// TestUnknownKeyFlood: 3,000 distinct unknown keys sent concurrently all get 401 quickly; a repeated unknown key is
// answered from the key directory's negative cache without asking SQLite; and the gateway keeps serving.
func TestUnknownKeyFlood(t *testing.T) {
	g := startBilling(t)
	good := g.tenantWithKey("acme", "open")
	const n, workers = 3000, 32
	keys := make(chan string, n)
	for range n {
		keys <- handlers.KeyPrefix + ledger.RandomBase62(40)
	}
	close(keys)
	var wrong atomic.Int64
	var firstWrong atomic.Value
	began := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				req, _ := http.NewRequest("POST", g.url("/v1/chat/completions"), strings.NewReader(chatBody))
				req.Header.Set("Authorization", "Bearer "+k)
				a, err := sendRaw(g.client, req)
				if err != nil || a.status != 401 || !bytes.Contains(a.body, []byte("invalid_api_key")) {
					wrong.Add(1)
					firstWrong.CompareAndSwap(nil, a.status)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(began)
	t.Logf("%d unknown keys answered in %s (%.0f/s)", n, took, n/took.Seconds())
	if wrong.Load() != 0 {
		t.Fatalf("%d of %d unknown keys did not get 401 invalid_api_key (first: %v)", wrong.Load(), n, firstWrong.Load())
	}
	if took > 20*time.Second {
		t.Errorf("3,000 unknown keys took %s", took)
	}
	if got := g.operations("", ledger.OutcomeUnauthorized); got != n {
		t.Errorf("unauthorized records %d, want %d", got, n)
	}

	// The negative cache: a key that was looked up once as unknown is answered from memory for a while. Make it
	// valid behind the directory's back (straight in the ledger, without the admin API's invalidation): as long
	// as the cached "unknown" stands, the gateway keeps refusing it, which shows that SQLite was not asked.
	probe, control := handlers.KeyPrefix+ledger.RandomBase62(40), handlers.KeyPrefix+ledger.RandomBase62(40)
	if r := g.call(probe, "/v1/chat/completions", chatBody); r.status != 401 {
		t.Fatalf("probe: %d", r.status)
	}
	time.Sleep(50 * time.Millisecond) // ristretto applies a Set asynchronously
	for _, k := range []string{probe, control} {
		h := handlers.HashKey(k)
		if err := g.app().Ledger().CreateKey(context.Background(), &ledger.Key{ID: ledger.NewID("key_"), TenantID: "acme", Name: "direct", Prefix: k[:9]}, h[:]); err != nil {
			t.Fatal(err)
		}
	}
	if r := g.call(probe, "/v1/chat/completions", chatBody); r.status != 401 {
		t.Errorf("a repeated unknown key got %d: the directory asked SQLite instead of its negative cache", r.status)
	}
	if r := g.call(control, "/v1/chat/completions", chatBody); r.status != 200 {
		t.Errorf("a key never seen before is looked up in SQLite: got %d", r.status)
	}
	probeHash := handlers.HashKey(probe)
	g.app().Keys().Invalidate(probeHash[:])
	if r := g.call(probe, "/v1/chat/completions", chatBody); r.status != 200 {
		t.Errorf("after invalidation the probe key is looked up again: got %d", r.status)
	}
	if r := g.call(good, "/v1/chat/completions", chatBody); r.status != 200 {
		t.Fatalf("a valid key after the flood: %d %s", r.status, r.raw)
	}
	if r := g.call(good, "/v1/gateway/usage", ""); r.status != 200 || r.str("tenant_id") != "acme" {
		t.Fatalf("self-service after the flood: %d %s", r.status, r.raw)
	}
}
