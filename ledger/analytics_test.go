package ledger

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var analyticsBase = time.Date(2026, 3, 10, 6, 0, 0, 0, time.UTC)

// randomOp is a record as the gateway writes them: denials without a call (and unauthorized ones without a
// tenant), calls with skewed latencies, tokens and cost, spread over six hours.
func randomOp(r *rand.Rand) *Operation {
	op := &Operation{ID: NewID("op_"), TenantID: []string{"acme", "beta", "gamma"}[r.IntN(3)], KeyID: "k",
		Type: []string{"chat", "embedding", "message"}[r.IntN(3)], Method: "POST", Path: "/v1/x",
		At: analyticsBase.Add(time.Duration(r.Int64N(int64(6 * time.Hour))))}
	switch p := r.IntN(100); {
	case p < 55:
		op.Outcome, op.Status = OutcomeOK, []int{200, 200, 201, 302}[r.IntN(4)]
	case p < 65:
		op.Outcome, op.Status = OutcomeOK, []int{400, 404, 429}[r.IntN(3)]
	case p < 75:
		op.Outcome, op.Status = OutcomeUpstreamError, []int{500, 502, 503}[r.IntN(3)]
	default:
		op.Outcome = []string{OutcomeDeniedRate, OutcomeDeniedQuota, OutcomeDeniedBudget, OutcomeUnauthorized,
			OutcomeSuspended, OutcomeBadRequest}[r.IntN(6)]
		op.Status = map[string]int{OutcomeDeniedRate: 429, OutcomeDeniedQuota: 429, OutcomeDeniedBudget: 402,
			OutcomeUnauthorized: 401, OutcomeSuspended: 403, OutcomeBadRequest: 400}[op.Outcome]
		if op.Outcome == OutcomeUnauthorized {
			op.TenantID, op.KeyID = "", ""
		}
		op.Latency = time.Duration(r.Int64N(200_000)) // sub-millisecond, with nanoseconds
		return op
	}
	op.Counted = op.Status < 500
	op.Model = []string{"gpt-4o-mini", "claude-test", ""}[r.IntN(3)]
	// Lognormal around 300ms with a heavy tail, not whole microseconds: records keep microseconds.
	op.Latency = time.Duration(math.Exp(math.Log(3e8) + 1.3*r.NormFloat64()))
	if r.IntN(10) > 0 {
		op.TTFB = time.Duration(float64(op.Latency) * r.Float64())
	}
	if op.Status < 400 {
		op.Usage = Usage{InputTokens: r.Int64N(5000), CachedTokens: r.Int64N(100), CacheWriteTokens: r.Int64N(50),
			OutputTokens: r.Int64N(2000), ReasoningTokens: r.Int64N(300), Source: "reported"}
		op.Cost = r.Int64N(50_000_000)
	}
	return op
}

// rawOp is an operation record as read back from the operations table.
type rawOp struct {
	tenant, model, opType, outcome string
	hour                           int64
	status                         int
	latencyUS, ttfbUS              int64
	tokens                         [5]int64
	cost                           int64
}

func rawOps(tb testing.TB, s *Store) []rawOp {
	tb.Helper()
	rows, err := s.r.Query(`SELECT tenant_id, model, op_type, outcome, at, status, latency_us, ttfb_us, input_tokens,
		cached_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost FROM operations`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var ops []rawOp
	for rows.Next() {
		var o rawOp
		var at int64
		if err := rows.Scan(&o.tenant, &o.model, &o.opType, &o.outcome, &at, &o.status, &o.latencyUS, &o.ttfbUS,
			&o.tokens[0], &o.tokens[1], &o.tokens[2], &o.tokens[3], &o.tokens[4], &o.cost); err != nil {
			tb.Fatal(err)
		}
		o.hour = time.Unix(0, at).UTC().Truncate(time.Hour).Unix()
		ops = append(ops, o)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return ops
}

// expectRollup recomputes, from raw records and the documented definitions, what a rollup must hold.
func expectRollup(tb testing.TB, label string, got *Rollup, ops []rawOp) {
	tb.Helper()
	var want Rollup
	var lat, ttfb []int64
	for _, o := range ops {
		want.Requests++
		call := false
		switch {
		case o.outcome == OutcomeOK && o.status < 400:
			want.Succeeded++
			call = true
		case o.outcome == OutcomeOK && o.status < 500:
			want.Failed4xx++
			call = true
		case o.outcome == OutcomeOK || o.outcome == OutcomeUpstreamError:
			want.Failed5xx++
			call = true
		case o.outcome == OutcomeDeniedRate:
			want.Denied.RateLimited++
		case o.outcome == OutcomeDeniedQuota:
			want.Denied.QuotaExceeded++
		case o.outcome == OutcomeDeniedBudget:
			want.Denied.BudgetExceeded++
		case o.outcome == OutcomeUnauthorized:
			want.Denied.Unauthorized++
		case o.outcome == OutcomeSuspended:
			want.Denied.Suspended++
		case o.outcome == OutcomeBadRequest:
			want.Denied.BadRequest++
		default:
			tb.Fatalf("unexpected outcome %q", o.outcome)
		}
		want.InputTokens += o.tokens[0]
		want.CachedTokens += o.tokens[1]
		want.CacheWriteTokens += o.tokens[2]
		want.OutputTokens += o.tokens[3]
		want.ReasoningTokens += o.tokens[4]
		want.Cost += o.cost
		if call {
			lat = append(lat, o.latencyUS)
			if o.ttfbUS > 0 {
				ttfb = append(ttfb, o.ttfbUS)
			}
		}
	}
	counts := func(r *Rollup) [16]int64 {
		d := r.Denied
		return [16]int64{r.Requests, r.Succeeded, r.Failed4xx, r.Failed5xx, d.RateLimited, d.QuotaExceeded, d.BudgetExceeded,
			d.Unauthorized, d.Suspended, d.BadRequest, r.InputTokens, r.CachedTokens, r.CacheWriteTokens, r.OutputTokens,
			r.ReasoningTokens, r.Cost}
	}
	if counts(got) != counts(&want) {
		tb.Errorf("%s: counts and sums %v, recomputed from records %v", label, counts(got), counts(&want))
	}
	if got.Requests != got.Succeeded+got.Failed()+got.Denied.Total() {
		tb.Errorf("%s: requests %d != succeeded + failed + denied", label, got.Requests)
	}
	expectTiming(tb, label+" latency", &got.Latency, lat)
	expectTiming(tb, label+" ttfb", &got.TTFB, ttfb)
}

func expectTiming(tb testing.TB, label string, got *Timing, values []int64) {
	tb.Helper()
	var sum int64
	for _, v := range values {
		sum += v
	}
	slices.Sort(values)
	if got.Count != int64(len(values)) || got.SumUS != sum || got.Sketch.Count() != uint64(len(values)) {
		tb.Errorf("%s: count %d sum %d sketch %d, want %d and %d", label, got.Count, got.SumUS, got.Sketch.Count(), len(values), sum)
		return
	}
	if len(values) == 0 {
		return
	}
	if got.MinUS != values[0] || got.MaxUS != values[len(values)-1] {
		tb.Errorf("%s: min %d max %d, want %d and %d", label, got.MinUS, got.MaxUS, values[0], values[len(values)-1])
	}
	for _, q := range []float64{0.5, 0.95, 0.99, 1} {
		want := exactQuantile(values, q)
		if e := relErr(got.Quantile(q), max(want, 1)); e > errorBound {
			tb.Errorf("%s p%g: %.1f µs, exact %d µs, relative error %.4f > %g", label, q*100, got.Quantile(q), want, e, SketchRelativeError)
		}
	}
}

func groupOps(ops []rawOp, key func(rawOp) string) map[string][]rawOp {
	m := map[string][]rawOp{}
	for _, o := range ops {
		m[key(o)] = append(m[key(o)], o)
	}
	return m
}

// TestRollupsEqualRecomputation is the property: for random workloads written through the real Writer, in
// batches of random sizes and with records sent twice (a retry must not count twice), every rollup row and
// every query answer equals what the raw records give: counts and sums exactly, percentiles within the
// sketch's bound of the exact ones.
func TestRollupsEqualRecomputation(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 99))
			s := openTestStore(t)
			w := newTestWriter(t, s, WriterOptions{Interval: time.Millisecond, MaxBatch: 1 + r.IntN(400)})
			ctx := testCtx(t)
			for range 2500 + r.IntN(2000) {
				op := randomOp(r)
				if err := w.Record(ctx, op); err != nil {
					t.Fatal(err)
				}
				if r.IntN(20) == 0 { // sent again, as a retried batch would
					again := *op
					if err := w.Record(ctx, &again); err != nil {
						t.Fatal(err)
					}
				}
				if r.IntN(300) == 0 {
					w.Flush(ctx)
				}
			}
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			ops := rawOps(t, s)

			expectStoredRollups(t, s, ops)

			// The query: whole range and a partial one, each tenant, the tenant-less requests, and all tenants.
			for _, rng := range [][2]time.Time{
				{analyticsBase.Add(-time.Hour), analyticsBase.Add(7 * time.Hour)},
				{analyticsBase.Add(90 * time.Minute), analyticsBase.Add(3*time.Hour + 10*time.Minute)}, // hours 1 to 3
			} {
				from, to := HourRange(rng[0], rng[1])
				inRange := func(o rawOp) bool { return o.hour >= from.Unix() && o.hour < to.Unix() }
				for _, tenant := range []string{"acme", "beta", "gamma", "", "*"} {
					q := AnalyticsQuery{TenantID: tenant, AllTenants: tenant == "*", From: rng[0], To: rng[1]}
					a, err := s.Analytics(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					var sel []rawOp
					for _, o := range ops {
						if inRange(o) && (tenant == "*" || o.tenant == tenant) {
							sel = append(sel, o)
						}
					}
					label := fmt.Sprintf("tenant %q [%s, %s)", tenant, from.Format("15:04"), to.Format("15:04"))
					if !a.From.Equal(from) || !a.To.Equal(to) {
						t.Errorf("%s: range %s-%s", label, a.From, a.To)
					}
					expectRollup(t, label+" total", &a.Total, sel)
					hours := groupOps(sel, func(o rawOp) string { return fmt.Sprint(o.hour) })
					if len(a.Hours) != len(hours) {
						t.Errorf("%s: %d hours, want %d", label, len(a.Hours), len(hours))
					}
					for i, h := range a.Hours {
						if i > 0 && !a.Hours[i-1].Hour.Before(h.Hour) {
							t.Errorf("%s: hours out of order", label)
						}
						expectRollup(t, label+" "+h.Hour.Format("15:04"), &h.Rollup, hours[fmt.Sprint(h.Hour.Unix())])
					}
					models := groupOps(sel, func(o rawOp) string { return o.model })
					for _, g := range a.ByModel {
						expectRollup(t, label+" model "+g.Name, &g.Rollup, models[g.Name])
					}
					types := groupOps(sel, func(o rawOp) string { return o.opType })
					for _, g := range a.ByOperationType {
						expectRollup(t, label+" type "+g.Name, &g.Rollup, types[g.Name])
					}
					if len(a.ByModel) != len(models) || len(a.ByOperationType) != len(types) {
						t.Errorf("%s: %d models and %d types, want %d and %d", label, len(a.ByModel), len(a.ByOperationType), len(models), len(types))
					}
				}
			}
		})
	}
}

// expectStoredRollups checks every stored rollup row, per tenant and over all tenants, against the records.
func expectStoredRollups(t *testing.T, s *Store, ops []rawOp) {
	t.Helper()
	for _, table := range []string{"hourly_usage", "hourly_usage_all"} {
		byKey := groupOps(ops, func(o rawOp) string {
			if table == "hourly_usage_all" {
				o.tenant = ""
			}
			return fmt.Sprint(o.tenant, "|", o.hour, "|", o.model, "|", o.opType)
		})
		stored := storedRollups(t, s, table)
		if len(stored) != len(byKey) {
			t.Errorf("%s: %d rows, want one per key: %d", table, len(stored), len(byKey))
		}
		for k, want := range byKey {
			got, ok := stored[k]
			if !ok {
				t.Errorf("%s: no row for %s", table, k)
				continue
			}
			expectRollup(t, table+" "+k, &got, want)
		}
	}
}

// storedRollups reads a rollup table whole, keyed tenant|hour|model|op_type.
func storedRollups(tb testing.TB, s *Store, table string) map[string]Rollup {
	tb.Helper()
	tenant := "tenant_id"
	if table == "hourly_usage_all" {
		tenant = "''"
	}
	rows, err := s.r.Query(`SELECT ` + tenant + `, hour, model, op_type, ` + rollupColumns + ` FROM ` + table)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := map[string]Rollup{}
	for rows.Next() {
		var row rollupRow
		var t, model, opType string
		var hour int64
		if err := rows.Scan(append([]any{&t, &hour, &model, &opType}, row.fields()...)...); err != nil {
			tb.Fatal(err)
		}
		r, err := row.decode()
		if err != nil {
			tb.Fatal(err)
		}
		out[fmt.Sprint(t, "|", hour, "|", model, "|", opType)] = r
	}
	return out
}

// TestTotalsFailingWriteIsRetried: a write of the totals that fails after part of the rollups are written
// leaves none of them behind and keeps them pending; the records are committed regardless, and the next write
// counts every record once.
func TestTotalsFailingWriteIsRetried(t *testing.T) {
	s := openTestStore(t)
	w := newTestWriter(t, s, WriterOptions{Interval: time.Millisecond})
	raw := rawDB(t, s.Path())
	// The all-tenants rollup is written last: failing it fails the transaction after everything else ran.
	if _, err := raw.Exec(`CREATE TRIGGER block_rollups BEFORE INSERT ON hourly_usage_all
		BEGIN SELECT RAISE(ABORT, 'blocked by the test'); END`); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 5))
	for range 50 {
		if err := w.Record(testCtx(t), randomOp(r)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(testCtx(t)); err == nil || !strings.Contains(err.Error(), "blocked by the test") {
		t.Fatalf("Flush = %v, want the failed write of the totals", err)
	}
	if n := totalOps(t, s); n != 50 {
		t.Fatalf("%d records committed, want 50", n)
	}
	if len(storedRollups(t, s, "hourly_usage")) != 0 {
		t.Fatal("rollups committed by a failing transaction")
	}
	if _, err := raw.Exec(`DROP TRIGGER block_rollups`); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	ops := rawOps(t, s)
	a, err := s.Analytics(testCtx(t), AnalyticsQuery{AllTenants: true, From: analyticsBase, To: analyticsBase.Add(6 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	expectRollup(t, "after the retry", &a.Total, ops)
}

func TestHourRange(t *testing.T) {
	h := func(s string) time.Time { v, _ := time.Parse(time.RFC3339Nano, s); return v }
	for _, tc := range []struct{ from, to, wantFrom, wantTo string }{
		{"2026-03-10T06:00:00Z", "2026-03-10T08:00:00Z", "2026-03-10T06:00:00Z", "2026-03-10T08:00:00Z"},
		{"2026-03-10T06:59:59Z", "2026-03-10T07:00:01Z", "2026-03-10T06:00:00Z", "2026-03-10T08:00:00Z"},
		{"2026-03-10T06:00:00Z", "2026-03-10T07:00:00.000000001Z", "2026-03-10T06:00:00Z", "2026-03-10T08:00:00Z"},
		{"2026-03-10T08:30:00+02:00", "2026-03-10T09:00:00+01:00", "2026-03-10T06:00:00Z", "2026-03-10T08:00:00Z"},
		{"1969-12-31T23:30:00Z", "1970-01-01T00:30:00Z", "1969-12-31T23:00:00Z", "1970-01-01T01:00:00Z"},
	} {
		f, to := HourRange(h(tc.from), h(tc.to))
		if !f.Equal(h(tc.wantFrom)) || !to.Equal(h(tc.wantTo)) || f.Location() != time.UTC {
			t.Errorf("HourRange(%s, %s) = %s, %s; want %s, %s", tc.from, tc.to, f, to, tc.wantFrom, tc.wantTo)
		}
	}
}

// TestAnalyticsFilters: the model and operation type filters, and a range holding no record.
func TestAnalyticsFilters(t *testing.T) {
	s := openTestStore(t)
	w := newTestWriter(t, s, WriterOptions{})
	ctx := testCtx(t)
	mk := func(model, opType string, at time.Time, status int) *Operation {
		op := testOp(NewID("op_"), "acme", at)
		op.Model, op.Type, op.Status = model, opType, status
		return op
	}
	for _, op := range []*Operation{
		mk("m1", "chat", analyticsBase, 200), mk("m1", "chat", analyticsBase.Add(time.Minute), 404),
		mk("m2", "chat", analyticsBase.Add(time.Hour), 200), mk("m1", "embedding", analyticsBase.Add(2*time.Hour), 200),
	} {
		if err := w.Record(ctx, op); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush(ctx)
	q := AnalyticsQuery{TenantID: "acme", From: analyticsBase, To: analyticsBase.Add(3 * time.Hour)}
	for _, tc := range []struct {
		model, opType   string
		requests, hours int
		succeeded       int64
	}{
		{"", "", 4, 3, 3},
		{"m1", "", 3, 2, 2},
		{"m1", "chat", 2, 1, 1},
		{"", "embedding", 1, 1, 1},
		{"nope", "", 0, 0, 0},
	} {
		q.Model, q.OperationType = tc.model, tc.opType
		a, err := s.Analytics(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if a.Total.Requests != int64(tc.requests) || len(a.Hours) != tc.hours || a.Total.Succeeded != tc.succeeded {
			t.Errorf("model %q type %q: %d requests in %d hours, %d succeeded; want %d, %d, %d", tc.model, tc.opType,
				a.Total.Requests, len(a.Hours), a.Total.Succeeded, tc.requests, tc.hours, tc.succeeded)
		}
	}
	q.Model, q.OperationType = "", ""
	rate, ok := mustAnalytics(t, s, q).Total.SuccessRate()
	if !ok || rate != 0.75 {
		t.Errorf("success rate %v %v, want 0.75 (3 of 4 calls)", rate, ok)
	}
	q.From, q.To = analyticsBase.Add(-48*time.Hour), analyticsBase.Add(-47*time.Hour)
	if a := mustAnalytics(t, s, q); a.Total.Requests != 0 || len(a.Hours) != 0 || a.Hours == nil {
		t.Errorf("empty range: %+v", a)
	} else if _, ok := a.Total.SuccessRate(); ok {
		t.Error("a success rate without calls")
	}
	q.From, q.To = analyticsBase.Add(time.Hour), analyticsBase.Add(2*time.Hour) // half-open: the hour at To is out
	if a := mustAnalytics(t, s, q); a.Total.Requests != 1 || len(a.Hours) != 1 || !a.Hours[0].Hour.Equal(analyticsBase.Add(time.Hour)) {
		t.Errorf("[07:00, 08:00): %d requests in %d hours", a.Total.Requests, len(a.Hours))
	}
}

func mustAnalytics(tb testing.TB, s *Store, q AnalyticsQuery) *Analytics {
	tb.Helper()
	a, err := s.Analytics(context.Background(), q)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// TestMigrationBackfillsRollups: a database written before schema version 3 gets rollups of its records.
func TestMigrationBackfillsRollups(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	raw := rawDB(t, path)
	for _, m := range migrations[:2] {
		if _, err := raw.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	// Records as a gateway on schema version 2 wrote them.
	r := rand.New(rand.NewPCG(3, 3))
	tx, err := raw.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for range 700 {
		op := randomOp(r)
		u := &op.Usage
		if _, err := tx.Exec(`INSERT INTO operations (id, tenant_id, key_id, at, op_type, method, path, status, outcome,
			counted, latency_us, ttfb_us, model, input_tokens, cached_tokens, cache_write_tokens, output_tokens,
			reasoning_tokens, cost) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			op.ID, op.TenantID, op.KeyID, op.At.UnixNano(), op.Type, op.Method, op.Path, op.Status, op.Outcome, op.Counted,
			op.Latency.Microseconds(), op.TTFB.Microseconds(), op.Model, u.InputTokens, u.CachedTokens, u.CacheWriteTokens,
			u.OutputTokens, u.ReasoningTokens, op.Cost); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`PRAGMA user_version = 2`); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ops := rawOps(t, s)
	if len(ops) != 700 {
		t.Fatalf("%d records", len(ops))
	}
	expectStoredRollups(t, s, ops)
}

// decode turns the scanned row into a Rollup with its sketches.
func (row *rollupRow) decode() (Rollup, error) {
	r := row.Rollup
	r.Latency.Sketch, r.TTFB.Sketch = Sketch{}, Sketch{}
	if err := r.Latency.Sketch.mergeBinary(row.latency); err != nil {
		return r, err
	}
	return r, r.TTFB.Sketch.mergeBinary(row.ttfb)
}
