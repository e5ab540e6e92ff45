package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/helixgateway/caddy-ai-gateway/ledger"
)

var analyticsNow = time.Date(2026, 11, 27, 10, 20, 0, 0, time.UTC)

func TestAnalyticsQueryParams(t *testing.T) {
	for _, tc := range []struct {
		name, query    string
		from, to       time.Time // before rounding to hours, which the ledger does
		model, opType  string
		param, message string // the field a 400 names
	}{
		{name: "defaults: the last 24 hours", from: analyticsNow.Add(-24 * time.Hour), to: analyticsNow},
		{name: "from only: until now", query: "from=2026-11-20T00:00:00Z", from: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), to: analyticsNow},
		{name: "to only: the 24 hours before", query: "to=2026-11-01T12:00:00Z",
			from: time.Date(2026, 10, 31, 12, 0, 0, 0, time.UTC), to: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)},
		{name: "offsets and fractions", query: "from=2026-11-01T12:30:00.5%2B02:00&to=2026-11-02T00:00:00Z",
			from: time.Date(2026, 11, 1, 10, 30, 0, 5e8, time.UTC), to: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)},
		{name: "filters", query: "model=gpt-4o-mini&operation_type=embedding", from: analyticsNow.Add(-24 * time.Hour), to: analyticsNow,
			model: "gpt-4o-mini", opType: "embedding"},
		{name: "400 days", query: "from=2025-10-23T10:20:00Z", from: analyticsNow.Add(-400 * 24 * time.Hour), to: analyticsNow},
		{name: "not RFC 3339", query: "from=yesterday", param: "from", message: "RFC 3339"},
		{name: "a date only", query: "to=2026-11-01", param: "to", message: "RFC 3339"},
		{name: "no time zone", query: "from=2026-11-01T00:00:00", param: "from", message: "RFC 3339"},
		{name: "empty range", query: "from=2026-11-01T00:00:00Z&to=2026-11-01T00:00:00Z", param: "from", message: "before to"},
		{name: "reversed", query: "from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", param: "from", message: "before to"},
		{name: "over 400 days", query: "from=2025-10-23T10:19:59Z", param: "from", message: "400 days"},
		{name: "unknown operation type", query: "operation_type=chats", param: "operation_type", message: "one of"},
		{name: "long model", query: "model=" + strings.Repeat("m", 201), param: "model", message: "200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x?"+tc.query, nil)
			q, err := analyticsQuery(r, analyticsNow)
			if tc.param != "" {
				var p *problem
				if !errors.As(err, &p) || p.status != 400 || p.param != tc.param || !strings.Contains(p.msg, tc.message) {
					t.Fatalf("got %v (%+v), want a 400 naming %q", err, p, tc.param)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !q.From.Equal(tc.from) || !q.To.Equal(tc.to) || q.Model != tc.model || q.OperationType != tc.opType {
				t.Errorf("got %s to %s, %q %q; want %s to %s, %q %q", q.From, q.To, q.Model, q.OperationType, tc.from, tc.to, tc.model, tc.opType)
			}
		})
	}
}

// analyticsFixture writes, for tenant acme, hour 08:00: three calls (200 at 100ms, 200 at 300ms, 503 at
// 50ms) and a quota denial; hour 09:00: a rate limit denial only; and an unauthorized request at 09:00.
func analyticsFixture(t *testing.T) (*testRuntime, string) {
	rt := newTestRuntime(t)
	key := rt.tenant(t, "acme", "open")
	h8 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	op := func(tenant string, at time.Time, status int, outcome string, latency time.Duration, cost int64) *ledger.Operation {
		return &ledger.Operation{ID: ledger.NewID("op_"), At: at, TenantID: tenant, Type: OpChat, Status: status, Outcome: outcome,
			Latency: latency, TTFB: latency / 2, Model: "gpt-4o-mini", Cost: cost,
			Usage: ledger.Usage{InputTokens: 10, OutputTokens: 20, CachedTokens: 1, ReasoningTokens: 2}}
	}
	for _, o := range []*ledger.Operation{
		op("acme", h8.Add(time.Minute), 200, ledger.OutcomeOK, 100*time.Millisecond, 1500),
		op("acme", h8.Add(59*time.Minute), 200, ledger.OutcomeOK, 300*time.Millisecond, 2500),
		op("acme", h8.Add(30*time.Minute), 503, ledger.OutcomeUpstreamError, 50*time.Millisecond, 0),
		{ID: ledger.NewID("op_"), At: h8.Add(40 * time.Minute), TenantID: "acme", Type: OpChat, Status: 429, Outcome: ledger.OutcomeDeniedQuota},
		{ID: ledger.NewID("op_"), At: h8.Add(70 * time.Minute), TenantID: "acme", Type: OpChat, Status: 429, Outcome: ledger.OutcomeDeniedRate},
		{ID: ledger.NewID("op_"), At: h8.Add(80 * time.Minute), Type: OpChat, Status: 401, Outcome: ledger.OutcomeUnauthorized},
	} {
		if err := rt.writer.Record(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	return rt, key
}

// decodeAnalytics runs h and decodes its JSON answer.
func decodeAnalytics(t *testing.T, h func(http.ResponseWriter, *http.Request) error, target string) (int, analyticsJSON) {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", target, nil)
	if err := h(w, r); err != nil {
		writeProblem(w, err)
	}
	var v analyticsJSON
	if w.Code == 200 {
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", w.Body, err)
		}
	}
	return w.Code, v
}

// analyticsJSON is the answer as a client reads it.
type analyticsJSON struct {
	TenantID *string            `json:"tenant_id"`
	From     string             `json:"from"`
	To       string             `json:"to"`
	Currency string             `json:"currency"`
	Buckets  []summaryJSON      `json:"buckets"`
	Total    summaryJSON        `json:"total"`
	ByModel  []summaryJSON      `json:"by_model"`
	Filter   *map[string]string `json:"filter"`
}

type summaryJSON struct {
	Hour         string              `json:"hour"`
	Model        *string             `json:"model"`
	Requests     int64               `json:"requests"`
	Succeeded    int64               `json:"succeeded"`
	Failed       int64               `json:"failed"`
	Denied       map[string]int64    `json:"denied"`
	Failures     map[string]int64    `json:"failures"`
	SuccessRate  *float64            `json:"success_rate"`
	Latency      map[string]*float64 `json:"latency_ms"`
	TTFB         map[string]*float64 `json:"ttfb_ms"`
	InputTokens  int64               `json:"input_tokens"`
	OutputTokens int64               `json:"output_tokens"`
	Cost         string              `json:"cost"`
}

func TestAnalyticsRoutes(t *testing.T) {
	rt, key := analyticsFixture(t)
	tenantRoute := func(w http.ResponseWriter, r *http.Request) error {
		r.SetPathValue("id", "acme")
		return tenantAnalytics(rt, w, r)
	}
	rng := "?from=2026-11-27T08:10:00Z&to=2026-11-27T09:30:00Z" // rounded out to [08:00, 10:00)
	code, v := decodeAnalytics(t, tenantRoute, "/ai_gateway/tenants/acme/analytics"+rng)
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	if v.TenantID == nil || *v.TenantID != "acme" || v.From != "2026-11-27T08:00:00Z" || v.Currency != "USD" || len(v.Buckets) != 2 {
		t.Fatalf("answer %+v", v)
	}
	h8, h9 := v.Buckets[0], v.Buckets[1]
	if h8.Hour != "2026-11-27T08:00:00Z" || h8.Requests != 4 || h8.Succeeded != 2 || h8.Failed != 1 || h8.Denied["total"] != 1 ||
		h8.Denied["quota_exceeded"] != 1 || h8.Failures["upstream_5xx"] != 1 || h8.SuccessRate == nil || *h8.SuccessRate != 2.0/3 {
		t.Errorf("08:00 bucket %+v", h8)
	}
	// Latencies of the three calls: 50, 100, 300 ms. Nearest rank: p50 is 100 ms, p95 and p99 300 ms (within 1%).
	lat := h8.Latency
	within := func(got *float64, want float64) bool { return got != nil && *got >= want*0.99 && *got <= want*1.01 }
	if !within(lat["p50"], 100) || !within(lat["p95"], 300) || !within(lat["p99"], 300) || *lat["avg"] != 150 ||
		*lat["min"] != 50 || *lat["max"] != 300 || *lat["count"] != 3 {
		t.Errorf("08:00 latency %v", h8.Latency)
	}
	if !within(h8.TTFB["p50"], 50) || *h8.TTFB["max"] != 150 {
		t.Errorf("08:00 ttfb %v", h8.TTFB)
	}
	if h8.Cost != "0.000004000" || h8.InputTokens != 30 || h8.OutputTokens != 60 {
		t.Errorf("08:00 cost %s tokens %d/%d", h8.Cost, h8.InputTokens, h8.OutputTokens)
	}
	// An hour of denials only: no calls, so no success rate and no latency.
	if h9.Requests != 1 || h9.Denied["rate_limited"] != 1 || h9.SuccessRate != nil || h9.Latency["p50"] != nil || *h9.Latency["count"] != 0 {
		t.Errorf("09:00 bucket %+v", h9)
	}
	if v.Total.Requests != 5 || v.Total.Succeeded != 2 || *v.Total.SuccessRate != 2.0/3 || v.Total.Denied["total"] != 2 {
		t.Errorf("total %+v", v.Total)
	}
	if len(v.ByModel) != 2 || v.ByModel[0].Requests != 3 || *v.ByModel[0].Model != "gpt-4o-mini" || *v.ByModel[1].Model != "" {
		t.Errorf("by model %+v", v.ByModel)
	}

	// All tenants: the unauthorized request too.
	code, all := decodeAnalytics(t, func(w http.ResponseWriter, r *http.Request) error { return allAnalytics(rt, w, r) }, "/ai_gateway/analytics"+rng)
	if code != 200 || all.TenantID != nil || all.Total.Requests != 6 || all.Total.Denied["unauthorized"] != 1 || all.Buckets[1].Requests != 2 {
		t.Errorf("all tenants: %d %+v", code, all.Total)
	}

	// Self-service: the same body, for the key's own tenant, through the gateway; not an operation.
	g := newTestGateway(rt)
	g.now = func() time.Time { return time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC) } // default range: the last 24 hours
	before, _ := rt.store.OperationCount(context.Background(), "acme", "")
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/v1/gateway/analytics", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	g.ServeHTTP(w, r, nil)
	var self analyticsJSON
	if err := json.Unmarshal(w.Body.Bytes(), &self); w.Code != 200 || err != nil {
		t.Fatalf("self-service: %d %s", w.Code, w.Body)
	}
	if self.From != "2026-11-26T09:00:00Z" || self.To != "2026-11-27T10:00:00Z" || self.Total.Requests != 5 || *self.TenantID != "acme" {
		t.Errorf("self-service: %s", w.Body)
	}
	rt.writer.Flush(context.Background())
	if after, _ := rt.store.OperationCount(context.Background(), "acme", ""); after != before {
		t.Errorf("the self-service request was recorded as an operation")
	}

	// Errors: an unknown tenant, a bad range.
	if code, _ := decodeAnalytics(t, func(w http.ResponseWriter, r *http.Request) error {
		r.SetPathValue("id", "nobody")
		return tenantAnalytics(rt, w, r)
	}, "/ai_gateway/tenants/nobody/analytics"); code != 404 {
		t.Errorf("unknown tenant: %d", code)
	}
	w = httptest.NewRecorder()
	r = httptest.NewRequest("GET", "/v1/gateway/analytics?to=soon", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	g.ServeHTTP(w, r, nil)
	if w.Code != 400 || !strings.Contains(w.Body.String(), `"param":"to"`) {
		t.Errorf("bad range: %d %s", w.Code, w.Body)
	}
}
