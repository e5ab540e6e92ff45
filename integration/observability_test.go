package integration

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMetricsOnCaddyEndpoint(t *testing.T) {
	g := startBilling(t)
	key := g.tenantWithKey("acme", "open")
	const okLine = `caddy_ai_gateway_requests_total{outcome="ok",plan="open"} `
	before := metricValue(string(g.admin("GET", "/metrics", "").raw), okLine)
	g.call(key, "/v1/chat/completions", `{"model":"test-model","messages":[{"role":"user","content":"a b"}]}`)
	g.call(key, "/v1/chat/completions", `{"model":"unpriced-model","messages":[{"role":"user","content":"a b"}]}`)
	g.call("hx_nope", "/v1/chat/completions", `{}`)
	g.flush()
	r := g.admin("GET", "/metrics", "")
	body := string(r.raw)
	if after := metricValue(body, okLine); after != before+2 {
		t.Errorf("ok requests went from %v to %v, want +2", before, after)
	}
	for _, want := range []string{
		`caddy_ai_gateway_requests_total{outcome="unauthorized",plan=""}`,
		`caddy_ai_gateway_tokens_total{kind="input"}`,
		`caddy_ai_gateway_tokens_total{kind="output"}`,
		`caddy_ai_gateway_unpriced_calls_total`,
		`caddy_ai_gateway_cost_nanos_total`,
		`caddy_ai_gateway_admission_duration_seconds_bucket`,
		`caddy_ai_gateway_ledger_flush_duration_seconds_bucket`,
		`caddy_ai_gateway_ledger_queue_depth`,
		`caddy_ai_gateway_ledger_healthy 1`,
		`caddy_ai_gateway_webhook_delivered_total`,
		`caddy_ai_gateway_webhook_scheduled`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "tenant_requests_total{") {
		t.Error("per-tenant series without metrics_per_tenant")
	}
}

// TestAccessLogNamesTheTenant: Caddy's access log line carries user_id (the tenant) and the gateway's fields,
// and no key.
func TestAccessLogNamesTheTenant(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "access.log")
	// Caddy logs the request headers as they arrived, before any handler runs; it redacts Authorization
	// itself, and x-api-key is dropped by a filter, as the README shows.
	cfg := strings.Replace(billingBase, "\tai_gateway {HANDLER}\n", `	log {
		output file `+logFile+`
		format filter {
			fields {
				request>headers>X-Api-Key delete
			}
		}
	}
	ai_gateway
`, 1)
	g := start(t, cfg)
	key := g.tenantWithKey("acme", "open")
	h := map[string][]string{"X-Api-Key": {key}}
	if r := g.do("POST", "http://127.0.0.1:"+g.vars["{GATEWAY}"]+"/v1/chat/completions", h,
		`{"model":"test-model","messages":[{"role":"user","content":"a b"}]}`); r.status != 200 {
		t.Fatal(r.status)
	}
	g.call(key, "/v1/chat/completions", `{"model":"test-model","messages":[{"role":"user","content":"a b"}]}`) // Bearer
	var entry map[string]any
	deadline := time.Now().Add(3 * time.Second)
	for entry == nil && time.Now().Before(deadline) {
		f, _ := os.Open(logFile)
		if f != nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				var e map[string]any
				if json.Unmarshal(sc.Bytes(), &e) == nil && e["msg"] == "handled request" {
					entry = e
				}
			}
			f.Close()
		}
		time.Sleep(20 * time.Millisecond)
	}
	if entry == nil {
		t.Fatal("no access log line")
	}
	for field, want := range map[string]any{"user_id": "acme", "ai_tenant": "acme", "ai_model": "test-model", "ai_outcome": "ok",
		"ai_input_tokens": 2.0, "ai_output_tokens": 16.0, "ai_cost": "0.000034000"} {
		if entry[field] != want {
			t.Errorf("%s = %v, want %v (line %v)", field, entry[field], want, entry)
		}
	}
	if raw, _ := os.ReadFile(logFile); strings.Contains(string(raw), key) || !strings.Contains(string(raw), "REDACTED") {
		t.Errorf("the tenant's key is in the access log:\n%s", raw)
	}
}

// metricValue reads the value of the metric line starting with prefix (0 if absent; metrics are process-wide,
// so tests compare before and after).
func metricValue(body, prefix string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}
