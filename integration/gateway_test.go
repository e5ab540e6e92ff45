package integration

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// base is the Caddyfile most tests run: the gateway in front of ai_mock (or {UPSTREAM} when a test brings its own).
const base = `{
	admin 127.0.0.1:{ADMIN}
	auto_https off
	persist_config off
	grace_period 2s
	ai_gateway {
		database {DB}
		durability batch 10ms
		default_plan small
		plan small daily_operations 5  rate 1000/s  burst 1000
		plan fifty daily_operations 50
		plan slow {
			daily_operations unlimited
			rate 1/h  burst 2
		}
		plan open daily_operations unlimited
	}
}
http://127.0.0.1:{GATEWAY} {
	ai_gateway
	reverse_proxy {UPSTREAM}
}
http://127.0.0.1:{MOCK} {
	ai_mock
}
`

func startMock(t *testing.T) *gateway {
	mock := freePort(t)
	return start(t, base, "{MOCK}", mock, "{UPSTREAM}", "127.0.0.1:"+mock)
}

func TestUnauthorized(t *testing.T) {
	g := startMock(t)
	key := g.tenantWithKey("acme", "small")

	for _, tc := range []struct {
		name   string
		header http.Header
	}{
		{"missing", http.Header{}},
		{"unknown bearer", http.Header{"Authorization": {"Bearer hx_unknownunknownunknownunknownunknown0"}}},
		{"unknown x-api-key", http.Header{"X-Api-Key": {"hx_unknownunknownunknownunknownunknown0"}}},
		{"not bearer", http.Header{"Authorization": {"Basic " + key}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := g.do("POST", "http://127.0.0.1:"+g.vars["{GATEWAY}"]+"/v1/chat/completions", tc.header, chatBody)
			if r.status != 401 || r.errorCode() != "invalid_api_key" || r.str("error", "type") != "invalid_request_error" {
				t.Fatalf("got %d %s, want 401 invalid_api_key", r.status, r.raw)
			}
		})
	}

	if r := g.call(key, "/v1/chat/completions", chatBody); r.status != 200 {
		t.Fatalf("valid key: %d %s", r.status, r.raw)
	}
	keys := g.admin("GET", "/ai_gateway/tenants/acme/keys", "")
	keyID := keys.body["data"].([]any)[0].(map[string]any)["id"].(string)
	if r := g.admin("DELETE", "/ai_gateway/keys/"+keyID, ""); r.status != 200 || r.str("revoked_at") == "<nil>" {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	// Revocation is effective at once, although the key was cached by the call above.
	if r := g.call(key, "/v1/chat/completions", chatBody); r.status != 401 || r.errorCode() != "invalid_api_key" {
		t.Fatalf("revoked key: got %d %s, want 401", r.status, r.raw)
	}
	if n := g.operations("", "unauthorized"); n != 5 {
		t.Errorf("unauthorized records without tenant = %d, want 5 (four refused, one revoked)", n)
	}
	if n := g.operations("acme", "unauthorized"); n != 0 {
		t.Errorf("revoked key's request is recorded against no tenant; got %d for acme", n)
	}
}

func TestKeyStrippedBeforeUpstream(t *testing.T) {
	up := newRecordingUpstream(t)
	g := start(t, base, "{UPSTREAM}", up.addr)
	key := g.tenantWithKey("acme", "small")

	for _, h := range []http.Header{
		{"Authorization": {"Bearer " + key}},
		{"X-Api-Key": {key}},
	} {
		r := g.do("POST", "http://127.0.0.1:"+g.vars["{GATEWAY}"]+"/v1/chat/completions", h, chatBody)
		if r.status != 200 {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
		seen := *up.headers.Load()
		if seen.Get("Authorization") != "" || seen.Get("X-Api-Key") != "" {
			t.Fatalf("the tenant's key reached the upstream: %v", seen)
		}
		if !strings.Contains(r.header.Get("RateLimit-Policy"), `"daily";q=5;w=86400`) {
			t.Errorf("RateLimit-Policy = %q", r.header.Get("RateLimit-Policy"))
		}
	}
	if up.count.Load() != 2 {
		t.Fatalf("upstream saw %d requests, want 2", up.count.Load())
	}
}

func TestQuotaExceeded(t *testing.T) {
	g := startMock(t)
	key := g.tenantWithKey("acme", "small")
	for i := 1; i <= 5; i++ {
		r := g.call(key, "/v1/chat/completions", chatBody)
		if r.status != 200 {
			t.Fatalf("call %d: %d %s", i, r.status, r.raw)
		}
		want := fmt.Sprintf(`"daily";r=%d;`, 5-i)
		if !strings.HasPrefix(r.header.Get("RateLimit"), want) {
			t.Errorf("call %d: RateLimit = %q, want prefix %q", i, r.header.Get("RateLimit"), want)
		}
	}
	r := g.call(key, "/v1/chat/completions", chatBody)
	if r.status != 429 || r.errorCode() != "quota_exceeded" {
		t.Fatalf("6th call: %d %s, want 429 quota_exceeded", r.status, r.raw)
	}
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	now := time.Now().UTC()
	untilMidnight := now.Truncate(24 * time.Hour).Add(24 * time.Hour).Sub(now)
	if err != nil || time.Duration(retry)*time.Second < untilMidnight-5*time.Second || time.Duration(retry)*time.Second > untilMidnight+5*time.Second {
		t.Errorf("Retry-After = %q, want about %s (next UTC midnight)", r.header.Get("Retry-After"), untilMidnight)
	}
	if !strings.HasPrefix(r.header.Get("RateLimit"), `"daily";r=0;`) {
		t.Errorf("RateLimit = %q", r.header.Get("RateLimit"))
	}
	if n := g.operations("acme", "denied_quota"); n != 1 {
		t.Errorf("denied_quota records = %d, want 1", n)
	}
	u := g.admin("GET", "/ai_gateway/tenants/acme/usage", "")
	if u.str("operations", "used") != "5" || u.str("operations", "remaining") != "0" || u.str("operations", "limit") != "5" {
		t.Errorf("usage = %s", u.raw)
	}
}

func TestRateLimited(t *testing.T) {
	g := startMock(t)
	key := g.tenantWithKey("acme", "slow") // burst 2, one token an hour
	for i := 0; i < 2; i++ {
		if r := g.call(key, "/v1/chat/completions", chatBody); r.status != 200 {
			t.Fatalf("call %d: %d %s", i, r.status, r.raw)
		}
	}
	r := g.call(key, "/v1/chat/completions", chatBody)
	if r.status != 429 || r.errorCode() != "rate_limit_exceeded" {
		t.Fatalf("3rd call: %d %s, want 429 rate_limit_exceeded", r.status, r.raw)
	}
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || retry < 3500 || retry > 3600 {
		t.Errorf("Retry-After = %q, want about an hour", r.header.Get("Retry-After"))
	}
	if got := r.header.Get("RateLimit"); got != `"burst";r=0;t=7200` && !strings.HasPrefix(got, `"burst";r=0;`) {
		t.Errorf("RateLimit = %q", got)
	}
	if n := g.operations("acme", "denied_rate"); n != 1 {
		t.Errorf("denied_rate records = %d, want 1", n)
	}
}

// TestConcurrentQuotaExact: 200 concurrent clients against a quota of 50; exactly 50 reach the upstream.
func TestConcurrentQuotaExact(t *testing.T) {
	up := newRecordingUpstream(t)
	g := start(t, base, "{UPSTREAM}", up.addr)
	key := g.tenantWithKey("acme", "fifty")

	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := g.call(key, "/v1/chat/completions", chatBody)
			mu.Lock()
			codes[r.status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if up.count.Load() != 50 || codes[200] != 50 || codes[429] != 150 {
		t.Fatalf("upstream saw %d, codes %v; want exactly 50 through and 150 refused", up.count.Load(), codes)
	}
	if n := g.operations("acme", ""); n != 200 {
		t.Errorf("operation records = %d, want one per request (200)", n)
	}
	if n := g.operations("acme", "ok"); n != 50 {
		t.Errorf("ok records = %d, want 50", n)
	}
}

// TestCountsSurviveReloadAndRestart: a reload and a full restart on the same database never hand out a fresh quota
// and never lose or duplicate a record.
func TestCountsSurviveReloadAndRestart(t *testing.T) {
	// The upstream is outside the reloaded config: an ai_mock site in it would be reloaded too, and a request
	// reaching its old server as that shuts down fails with 502, as with any Caddy upstream being reloaded.
	up := newRecordingUpstream(t)
	g := start(t, base, "{UPSTREAM}", up.addr)
	key := g.tenantWithKey("acme", "small") // 5 a day
	for i := 0; i < 3; i++ {
		if r := g.call(key, "/v1/chat/completions", chatBody); r.status != 200 {
			t.Fatalf("call %d: %d", i, r.status)
		}
	}
	// A reload with a changed config (the new config starts before the old one stops).
	g.load(strings.Replace(base, "grace_period 2s", "grace_period 3s", 1))
	if r := g.call(key, "/v1/chat/completions", chatBody); r.status != 200 {
		t.Fatalf("after reload: %d %s", r.status, r.raw)
	}
	g.restart()
	if r := g.call(key, "/v1/chat/completions", chatBody); r.status != 200 {
		t.Fatalf("after restart: %d %s", r.status, r.raw)
	}
	if r := g.call(key, "/v1/chat/completions", chatBody); r.status != 429 || r.errorCode() != "quota_exceeded" {
		t.Fatalf("6th call after restart: %d %s, want 429 quota_exceeded", r.status, r.raw)
	}
	g.restart()
	if r := g.call(key, "/v1/chat/completions", chatBody); r.status != 429 {
		t.Fatalf("after second restart: %d, want 429", r.status)
	}
	if n := g.operations("acme", "ok"); n != 5 {
		t.Errorf("ok records = %d, want 5", n)
	}
	if n := g.operations("acme", ""); n != 7 {
		t.Errorf("records = %d, want 7 (one per request)", n)
	}
}

// TestUpstreamFailureReleases: a 5xx or an unreachable upstream gives the operation back.
func TestUpstreamFailureReleases(t *testing.T) {
	dead := freePort(t) // nothing listens here
	g := startMock(t)
	key := g.tenantWithKey("acme", "small")
	for i := 0; i < 3; i++ {
		r := g.call(key, "/v1/chat/completions", chatBody, "X-Mock-Status", "503")
		if r.status != 503 {
			t.Fatalf("injected 503: got %d %s", r.status, r.raw)
		}
	}
	if r := g.call(key, "/v1/chat/completions", chatBody, "X-Mock-Status", "400"); r.status != 400 {
		t.Fatalf("injected 400: got %d", r.status)
	}
	u := g.admin("GET", "/ai_gateway/tenants/acme/usage", "")
	if u.str("operations", "used") != "1" || u.str("operations", "in_flight") != "0" {
		t.Fatalf("after three 503s and a 400, usage = %s; want used 1 (a 4xx is an answer)", u.raw)
	}
	if n := g.operations("acme", "upstream_error"); n != 3 {
		t.Errorf("upstream_error records = %d, want 3", n)
	}

	g.load(strings.Replace(base, "{UPSTREAM}", "127.0.0.1:"+dead, 1))
	if r := g.call(key, "/v1/chat/completions", chatBody); r.status != 502 {
		t.Fatalf("unreachable upstream: got %d %s, want 502", r.status, r.raw)
	}
	u = g.admin("GET", "/ai_gateway/tenants/acme/usage", "")
	if u.str("operations", "used") != "1" {
		t.Fatalf("a failed connection was counted: %s", u.raw)
	}
}

func TestSuspendedAndBadBodies(t *testing.T) {
	g := startMock(t)
	key := g.tenantWithKey("acme", "open")
	for _, tc := range []struct {
		name, body string
		header     []string
		status     int
		code       string
	}{
		{"malformed JSON", `{"model":`, nil, 400, "invalid_request"},
		{"not JSON", `hello`, nil, 400, "invalid_request"},
		{"too large", `{"x":"` + strings.Repeat("a", 17<<20) + `"}`, nil, 413, "request_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := g.call(key, "/v1/chat/completions", tc.body, tc.header...)
			if r.status != tc.status || r.errorCode() != tc.code {
				t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tc.status, tc.code)
			}
			if r.header.Get("RateLimit-Policy") == "" && r.header.Get("RateLimit") == "" && tc.status != 413 {
				t.Logf("no RateLimit fields (unlimited plan has none)")
			}
		})
	}
	if n := g.operations("acme", "bad_request"); n != 3 {
		t.Errorf("bad_request records = %d, want 3", n)
	}
	if r := g.admin("PATCH", "/ai_gateway/tenants/acme", `{"status":"suspended"}`); r.status != 200 {
		t.Fatalf("suspend: %d %s", r.status, r.raw)
	}
	if r := g.call(key, "/v1/chat/completions", chatBody); r.status != 403 || r.errorCode() != "tenant_suspended" {
		t.Fatalf("suspended: got %d %s", r.status, r.raw)
	}
	g.admin("PATCH", "/ai_gateway/tenants/acme", `{"status":"active"}`)
	if r := g.call(key, "/v1/chat/completions", chatBody); r.status != 200 {
		t.Fatalf("reactivated: got %d %s", r.status, r.raw)
	}
}

func TestSelfServiceUsageIsNotAnOperation(t *testing.T) {
	g := startMock(t)
	key := g.tenantWithKey("acme", "small")
	g.call(key, "/v1/chat/completions", chatBody)
	for i := 0; i < 10; i++ {
		r := g.call(key, "/v1/gateway/usage", "")
		if r.status != 200 || r.str("tenant_id") != "acme" || r.str("operations", "used") != "1" {
			t.Fatalf("self-service usage: %d %s", r.status, r.raw)
		}
	}
	if r := g.call("", "/v1/gateway/usage", ""); r.status != 401 {
		t.Fatalf("self-service without key: %d", r.status)
	}
	if n := g.operations("acme", ""); n != 1 {
		t.Errorf("records = %d, want 1: self-service calls are not operations", n)
	}
}

func TestStaticTenantFromCaddyfile(t *testing.T) {
	t.Setenv("HELIX_TEST_KEY", "hx_statickeystatickeystatickey0000000001")
	cfg := strings.Replace(base, "default_plan small", "default_plan small\n\t\ttenant demo {\n\t\t\tplan fifty\n\t\t\tkey {env.HELIX_TEST_KEY}\n\t\t}", 1)
	up := newRecordingUpstream(t) // outside the reloaded config, see TestCountsSurviveReloadAndRestart
	g := start(t, cfg, "{UPSTREAM}", up.addr)
	if r := g.call("hx_statickeystatickeystatickey0000000001", "/v1/chat/completions", chatBody); r.status != 200 {
		t.Fatalf("static key: %d %s", r.status, r.raw)
	}
	if r := g.admin("GET", "/ai_gateway/tenants/demo", ""); r.str("plan") != "fifty" {
		t.Fatalf("static tenant: %s", r.raw)
	}
	// The key changes in the config: the old one is revoked on reload.
	t.Setenv("HELIX_TEST_KEY", "hx_statickeystatickeystatickey0000000002")
	g.load(cfg)
	if r := g.call("hx_statickeystatickeystatickey0000000001", "/v1/chat/completions", chatBody); r.status != 401 {
		t.Fatalf("old static key after reload: %d", r.status)
	}
	if r := g.call("hx_statickeystatickeystatickey0000000002", "/v1/chat/completions", chatBody); r.status != 200 {
		t.Fatalf("new static key after reload: %d %s", r.status, r.raw)
	}
}
