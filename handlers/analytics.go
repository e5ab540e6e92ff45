package handlers

import (
	"context"
	"math"
	"net/http"
	"time"

	"github.com/helixgateway/caddy-ai-gateway/ledger"
	"github.com/helixgateway/caddy-ai-gateway/pricing"
)

// maxAnalyticsRange is the longest range one analytics request may ask for.
const maxAnalyticsRange = 400 * 24 * time.Hour

// analyticsView is the answer of the analytics routes: the range (rounded out to whole UTC hours), one bucket per
// hour that had requests (hours without any are left out), the total, and the total by model and by operation
// type.
type analyticsView struct {
	TenantID        *string              `json:"tenant_id,omitempty"` // absent over all tenants
	From            time.Time            `json:"from"`
	To              time.Time            `json:"to"`
	Currency        string               `json:"currency"`
	Buckets         []analyticsBucket    `json:"buckets"`
	Total           analyticsSummary     `json:"total"`
	ByModel         []analyticsByModel   `json:"by_model"`
	ByOperationType []analyticsByOpType  `json:"by_operation_type"`
	Filter          *analyticsFilterView `json:"filter,omitempty"`
}

type analyticsFilterView struct {
	Model         string `json:"model,omitempty"`
	OperationType string `json:"operation_type,omitempty"`
}

type analyticsBucket struct {
	Hour time.Time `json:"hour"`
	analyticsSummary
}

type analyticsByModel struct {
	Model string `json:"model"` // "" for requests refused before their model was known
	analyticsSummary
}

type analyticsByOpType struct {
	OperationType string `json:"operation_type"`
	analyticsSummary
}

// analyticsSummary is what a set of requests did. Every request is exactly one of succeeded (the upstream
// answered 1xx-3xx), failed (the upstream answered 4xx or 5xx, or could not be reached) or denied (refused by
// the gateway, never sent upstream). success_rate is succeeded / (succeeded + failed): denials are the plan at
// work, not the service failing, so they are left out; it is null when there was no call. Latency and time to
// first byte cover the calls (not the denials), in milliseconds; their percentiles are within 1% of the exact
// ones (shown to the microsecond).
type analyticsSummary struct {
	Requests         int64         `json:"requests"`
	Succeeded        int64         `json:"succeeded"`
	Failed           int64         `json:"failed"`
	Failures         failuresView  `json:"failures"`
	Denied           deniedView    `json:"denied"`
	SuccessRate      *float64      `json:"success_rate"`
	LatencyMS        timingView    `json:"latency_ms"`
	TTFBMS           timingView    `json:"ttfb_ms"`
	InputTokens      int64         `json:"input_tokens"`
	CachedTokens     int64         `json:"cached_tokens"`
	CacheWriteTokens int64         `json:"cache_write_tokens"`
	OutputTokens     int64         `json:"output_tokens"`
	ReasoningTokens  int64         `json:"reasoning_tokens"`
	Cost             pricing.Money `json:"cost"`
}

type failuresView struct {
	Upstream4xx int64 `json:"upstream_4xx"`
	Upstream5xx int64 `json:"upstream_5xx"` // a 5xx answer or no answer
}

type deniedView struct {
	Total          int64 `json:"total"`
	RateLimited    int64 `json:"rate_limited"`
	QuotaExceeded  int64 `json:"quota_exceeded"`
	BudgetExceeded int64 `json:"budget_exceeded"`
	Unauthorized   int64 `json:"unauthorized"`
	Suspended      int64 `json:"suspended"`
	BadRequest     int64 `json:"bad_request"`
}

// timingView is in milliseconds; every field but count is null when count is 0.
type timingView struct {
	Count int64    `json:"count"`
	P50   *float64 `json:"p50"`
	P95   *float64 `json:"p95"`
	P99   *float64 `json:"p99"`
	Avg   *float64 `json:"avg"`
	Min   *float64 `json:"min"`
	Max   *float64 `json:"max"`
}

func viewTiming(t *ledger.Timing) timingView {
	v := timingView{Count: t.Count}
	if t.Count == 0 {
		return v
	}
	ms := func(us float64) *float64 {
		x := math.Round(us) / 1000 // to the microsecond, the records' unit
		return &x
	}
	v.P50, v.P95, v.P99 = ms(t.Quantile(0.50)), ms(t.Quantile(0.95)), ms(t.Quantile(0.99))
	v.Avg, v.Min, v.Max = ms(float64(t.SumUS)/float64(t.Count)), ms(float64(t.MinUS)), ms(float64(t.MaxUS))
	return v
}

func viewSummary(r *ledger.Rollup) analyticsSummary {
	d := r.Denied
	v := analyticsSummary{
		Requests: r.Requests, Succeeded: r.Succeeded, Failed: r.Failed(),
		Failures: failuresView{Upstream4xx: r.Failed4xx, Upstream5xx: r.Failed5xx},
		Denied: deniedView{Total: d.Total(), RateLimited: d.RateLimited, QuotaExceeded: d.QuotaExceeded,
			BudgetExceeded: d.BudgetExceeded, Unauthorized: d.Unauthorized, Suspended: d.Suspended, BadRequest: d.BadRequest},
		LatencyMS: viewTiming(&r.Latency), TTFBMS: viewTiming(&r.TTFB),
		InputTokens: r.InputTokens, CachedTokens: r.CachedTokens, CacheWriteTokens: r.CacheWriteTokens,
		OutputTokens: r.OutputTokens, ReasoningTokens: r.ReasoningTokens, Cost: pricing.Money(r.Cost),
	}
	if rate, ok := r.SuccessRate(); ok {
		v.SuccessRate = &rate
	}
	return v
}

func viewAnalytics(a *ledger.Analytics, currency string) analyticsView {
	v := analyticsView{From: a.From, To: a.To, Currency: currency, Total: viewSummary(&a.Total),
		Buckets:         make([]analyticsBucket, 0, len(a.Hours)),
		ByModel:         make([]analyticsByModel, 0, len(a.ByModel)),
		ByOperationType: make([]analyticsByOpType, 0, len(a.ByOperationType))}
	for i := range a.Hours {
		v.Buckets = append(v.Buckets, analyticsBucket{Hour: a.Hours[i].Hour, analyticsSummary: viewSummary(&a.Hours[i].Rollup)})
	}
	for i := range a.ByModel {
		v.ByModel = append(v.ByModel, analyticsByModel{Model: a.ByModel[i].Name, analyticsSummary: viewSummary(&a.ByModel[i].Rollup)})
	}
	for i := range a.ByOperationType {
		g := &a.ByOperationType[i]
		v.ByOperationType = append(v.ByOperationType, analyticsByOpType{OperationType: g.Name, analyticsSummary: viewSummary(&g.Rollup)})
	}
	return v
}

// analyticsQuery reads ?from=&to=&model=&operation_type=. from and to are RFC 3339; to defaults to now and from
// to 24 hours before to. The range must be positive and at most 400 days.
func analyticsQuery(r *http.Request, now time.Time) (ledger.AnalyticsQuery, error) {
	q := r.URL.Query()
	var a ledger.AnalyticsQuery
	a.To = now
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"to", &a.To}, {"from", &a.From}} {
		if s := q.Get(p.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return a, badField(p.name, "%s must be an RFC 3339 time, like 2026-11-27T10:00:00Z", p.name)
			}
			*p.dst = t
		}
	}
	if q.Get("from") == "" {
		a.From = a.To.Add(-24 * time.Hour)
	}
	switch {
	case !a.From.Before(a.To):
		return a, badField("from", "from must be before to")
	case a.To.Sub(a.From) > maxAnalyticsRange:
		return a, badField("from", "the range from from to to must be at most %d days", maxAnalyticsRange/(24*time.Hour))
	}
	a.Model = q.Get("model")
	if len(a.Model) > 200 {
		return a, badField("model", "model must be at most 200 characters")
	}
	switch a.OperationType = q.Get("operation_type"); a.OperationType {
	case "", OpChat, OpCompletion, OpEmbedding, OpResponse, OpMessage, OpOther:
	default:
		return a, badField("operation_type", "operation_type must be one of %s, %s, %s, %s, %s or %s",
			OpChat, OpCompletion, OpEmbedding, OpResponse, OpMessage, OpOther)
	}
	return a, nil
}

// writeAnalytics answers with the analytics of scope (a tenant, or all tenants) over the request's range.
func writeAnalytics(ctx context.Context, rt Runtime, w http.ResponseWriter, r *http.Request, scope ledger.AnalyticsQuery, now time.Time) error {
	q, err := analyticsQuery(r, now)
	if err != nil {
		return err
	}
	q.TenantID, q.AllTenants = scope.TenantID, scope.AllTenants
	// Records still in the writer's queue belong in the answer.
	if err := rt.Writer().Flush(ctx); err != nil {
		return err
	}
	a, err := rt.Ledger().Analytics(ctx, q)
	if err != nil {
		return err
	}
	v := viewAnalytics(a, rt.Billing().Currency)
	if !q.AllTenants {
		v.TenantID = &q.TenantID
	}
	if q.Model != "" || q.OperationType != "" {
		v.Filter = &analyticsFilterView{Model: q.Model, OperationType: q.OperationType}
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func tenantAnalytics(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	t, err := tenant(r.Context(), rt, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeAnalytics(r.Context(), rt, w, r, ledger.AnalyticsQuery{TenantID: t.ID}, time.Now())
}

func allAnalytics(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	return writeAnalytics(r.Context(), rt, w, r, ledger.AnalyticsQuery{AllTenants: true}, time.Now())
}
