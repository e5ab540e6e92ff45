package integration

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/helixgateway/caddy-ai-gateway/ledger"
)

// analyticsAnswer is the analytics body as a client reads it.
type analyticsAnswer struct {
	TenantID *string         `json:"tenant_id"`
	From     time.Time       `json:"from"`
	To       time.Time       `json:"to"`
	Buckets  []analyticsPart `json:"buckets"`
	Total    analyticsPart   `json:"total"`
}

type analyticsPart struct {
	Hour        time.Time          `json:"hour"`
	Requests    int64              `json:"requests"`
	Succeeded   int64              `json:"succeeded"`
	Failed      int64              `json:"failed"`
	Failures    map[string]int64   `json:"failures"`
	Denied      map[string]int64   `json:"denied"`
	SuccessRate *float64           `json:"success_rate"`
	Latency     map[string]float64 `json:"latency_ms"`
	TTFB        map[string]float64 `json:"ttfb_ms"`
	InputTokens int64              `json:"input_tokens"`
	Cost        string             `json:"cost"`
}

func decodeAnswer(t *testing.T, r reply) analyticsAnswer {
	t.Helper()
	var a analyticsAnswer
	if r.status != http.StatusOK {
		t.Fatalf("analytics: %d %s", r.status, r.raw)
	}
	if err := json.Unmarshal(r.raw, &a); err != nil {
		t.Fatalf("analytics body: %v: %s", err, r.raw)
	}
	return a
}

// TestAnalyticsThroughTheGateway: calls through ai_mock with injected latency and failures, and quota denials,
// show up in the hour they were made, with the right counts, success rate and percentiles, in the tenant's
// admin route, the all-tenants route and the tenant's self-service route.
func TestAnalyticsThroughTheGateway(t *testing.T) {
	g := startMock(t)
	key := g.tenantWithKey("acme", "small") // 5 operations a day
	other := g.tenantWithKey("beta", "open")
	started := time.Now().UTC()

	for _, c := range []struct {
		header []string
		status int
	}{
		{[]string{"X-Mock-Latency", "120ms"}, 200},
		{[]string{"X-Mock-Latency", "250ms"}, 200},
		{[]string{"X-Mock-Latency", "400ms"}, 200},
		{[]string{"X-Mock-Status", "503", "X-Mock-Latency", "30ms"}, 503}, // failed: the operation is given back
		{[]string{"X-Mock-Status", "429"}, 429},                           // failed: the provider refused (counts)
		{[]string{"X-Mock-Latency", "60ms"}, 200},                         // the 5th operation of the day
		{nil, 429}, // quota_exceeded
		{nil, 429}, // quota_exceeded
	} {
		if r := g.call(key, "/v1/chat/completions", chatBody, c.header...); r.status != c.status {
			t.Fatalf("%v: %d %s, want %d", c.header, r.status, r.raw, c.status)
		}
	}
	if r := g.call(other, "/v1/chat/completions", chatBody, "X-Mock-Latency", "10ms"); r.status != 200 {
		t.Fatalf("beta: %d %s", r.status, r.raw)
	}
	if r := g.call("hx_notakeynotakeynotakeynotakeynotakey00", "/v1/chat/completions", chatBody); r.status != 401 {
		t.Fatalf("bad key: %d", r.status)
	}
	ended := time.Now().UTC()

	from, to := started.Add(-time.Hour).Format(time.RFC3339), ended.Add(time.Hour).Format(time.RFC3339)
	tenant := decodeAnswer(t, g.admin("GET", "/ai_gateway/tenants/acme/analytics?from="+from+"&to="+to, ""))
	total := tenant.Total
	if total.Requests != 8 || total.Succeeded != 4 || total.Failed != 2 || total.Failures["upstream_5xx"] != 1 ||
		total.Failures["upstream_4xx"] != 1 || total.Denied["quota_exceeded"] != 2 || total.Denied["total"] != 2 {
		t.Errorf("acme total: %+v", total)
	}
	if total.SuccessRate == nil || *total.SuccessRate != 4.0/6 {
		t.Errorf("success rate %v, want 4/6 (denials left out)", total.SuccessRate)
	}
	if total.InputTokens == 0 || total.Cost == "0.000000000" {
		t.Errorf("tokens %d, cost %s", total.InputTokens, total.Cost)
	}

	// The right hours: the buckets hold exactly what the records say, hour by hour.
	ops, err := g.app().Ledger().Operations(context.Background(), "acme", 100)
	if err != nil || len(ops) != 8 {
		t.Fatalf("records: %v, %d", err, len(ops))
	}
	perHour := map[time.Time]int64{}
	var latencies, ttfbs []int64
	for _, op := range ops {
		perHour[op.At.Truncate(time.Hour)]++
		if op.Outcome == ledger.OutcomeOK || op.Outcome == ledger.OutcomeUpstreamError {
			latencies = append(latencies, op.Latency.Microseconds())
			if op.TTFB >= time.Microsecond {
				ttfbs = append(ttfbs, op.TTFB.Microseconds())
			}
		}
	}
	if len(tenant.Buckets) != len(perHour) {
		t.Fatalf("%d buckets, records in %d hours", len(tenant.Buckets), len(perHour))
	}
	for _, b := range tenant.Buckets {
		if perHour[b.Hour] != b.Requests || b.Hour.Before(started.Truncate(time.Hour)) || b.Hour.After(ended) {
			t.Errorf("bucket %s: %d requests, the records say %d", b.Hour, b.Requests, perHour[b.Hour])
		}
	}

	// Percentiles within 1% of the exact ones from the records (and shown to the microsecond).
	// (At least: a loaded machine adds its own delays.)
	if slow := slices.DeleteFunc(slices.Clone(latencies), func(us int64) bool { return us < 120_000 }); len(slow) < 3 ||
		slices.Max(latencies) < 400_000 {
		t.Errorf("latencies %v µs do not reflect the injected 120, 250 and 400 ms", latencies)
	}
	checkPercentiles(t, "latency", total.Latency, latencies)
	checkPercentiles(t, "ttfb", total.TTFB, ttfbs)

	// All tenants: beta's call and the request without a tenant are in.
	all := decodeAnswer(t, g.admin("GET", "/ai_gateway/analytics?from="+from+"&to="+to, ""))
	if all.TenantID != nil || all.Total.Requests != 10 || all.Total.Succeeded != 5 || all.Total.Denied["unauthorized"] != 1 ||
		all.Total.Denied["total"] != 3 {
		t.Errorf("all tenants: %+v", all.Total)
	}

	// Self-service: the same body for the key's tenant, by default over the last 24 hours.
	self := decodeAnswer(t, g.call(key, "/v1/gateway/analytics", ""))
	if self.TenantID == nil || *self.TenantID != "acme" || self.Total.Requests != 8 || self.Total.Succeeded != 4 ||
		self.Total.Latency["p99"] != total.Latency["p99"] {
		t.Errorf("self-service: %+v", self.Total)
	}
	if !self.To.After(ended) || self.To.Sub(self.From) != 25*time.Hour || self.To.Minute() != 0 {
		t.Errorf("self-service default range %s to %s", self.From, self.To)
	}
	if n := g.operations("acme", ""); n != 8 {
		t.Errorf("%d records: the analytics request was recorded as an operation", n)
	}

	// Bad ranges.
	wantError(t, g.admin("GET", "/ai_gateway/tenants/acme/analytics?from=yesterday", ""), 400, "invalid_field", "from")
	wantError(t, g.admin("GET", "/ai_gateway/analytics?from="+to+"&to="+from, ""), 400, "invalid_field", "from")
	wantError(t, g.call(key, "/v1/gateway/analytics?to=2026-13-01T00:00:00Z", ""), 400, "invalid_field", "to")
	wantError(t, g.admin("GET", "/ai_gateway/tenants/nobody/analytics", ""), 404, "not_found", "")
}

// checkPercentiles compares a timing's p50/p95/p99 (ms) with the exact nearest-rank percentiles of values (µs).
func checkPercentiles(t *testing.T, name string, got map[string]float64, values []int64) {
	t.Helper()
	slices.Sort(values)
	for _, p := range []struct {
		field string
		q     float64
	}{{"p50", 0.50}, {"p95", 0.95}, {"p99", 0.99}} {
		exact := float64(values[max(int(math.Ceil(p.q*float64(len(values)))), 1)-1])
		if us := got[p.field] * 1000; math.Abs(us-exact) > exact*ledger.SketchRelativeError+1 {
			t.Errorf("%s %s = %.3f ms, exact %.3f ms: more than 1%% off", name, p.field, got[p.field], exact/1000)
		}
	}
	if got["max"]*1000 != float64(values[len(values)-1]) || got["count"] != float64(len(values)) {
		t.Errorf("%s max %v count %v, want %d µs and %d", name, got["max"], got["count"], values[len(values)-1], len(values))
	}
}
