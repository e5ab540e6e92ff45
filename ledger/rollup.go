package ledger

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"time"
)

// Rollup is the additive facts of a set of operation records: counts, sums, minimum and maximum, and latency
// sketches. Rates, averages and percentiles are derived when read, so the rollups of any hours merge into
// exactly the rollup of all their records.
//
// Every record is a request, and exactly one of: succeeded, failed or denied.
//
//   - Succeeded: the call reached the upstream, which answered 1xx-3xx.
//   - Failed: the call reached (or tried to reach) the upstream and did not succeed. Failed4xx: the upstream
//     answered 4xx (a refused request, the provider's own rate limit). Failed5xx: it answered 5xx or could not
//     be reached (outcome upstream_error; a record with an outcome this build does not know counts here too).
//   - Denied: the gateway answered without calling the upstream, by reason (Denials).
//
// Latency and TTFB cover calls only (succeeded and failed): a denial answers in microseconds and would hide
// the upstream's latency. TTFB covers the calls whose answer reached the client at all.
type Rollup struct {
	rollupCounts
	Latency Timing
	TTFB    Timing
}

// rollupCounts is a Rollup but for its timings: the counts and sums, no pointers (the writer keeps thousands
// of them pending, see pendingRow).
type rollupCounts struct {
	Requests  int64
	Succeeded int64
	Failed4xx int64
	Failed5xx int64
	Denied    Denials

	InputTokens      int64
	CachedTokens     int64
	CacheWriteTokens int64
	OutputTokens     int64
	ReasoningTokens  int64
	Cost             int64 // nano-units of the currency
}

// Denials counts requests the gateway refused, by outcome.
type Denials struct {
	RateLimited    int64 // denied_rate
	QuotaExceeded  int64 // denied_quota
	BudgetExceeded int64 // denied_budget
	Unauthorized   int64 // unauthorized (these records have no tenant)
	Suspended      int64 // suspended, or the tenant's plan is not configured
	BadRequest     int64 // bad_request: malformed, too large or unpriced
}

// Total is the number of denied requests.
func (d Denials) Total() int64 {
	return d.RateLimited + d.QuotaExceeded + d.BudgetExceeded + d.Unauthorized + d.Suspended + d.BadRequest
}

// Timing summarizes durations in microseconds.
type Timing struct {
	timingStats
	Sketch Sketch
}

// timingStats is a Timing but for its sketch.
type timingStats struct {
	Count, SumUS, MinUS, MaxUS int64 // MinUS and MaxUS are 0 when Count is 0
}

// add counts d, whose sketch bucket is bucket.
func (t *Timing) add(d time.Duration, bucket int) {
	t.timingStats.add(d)
	t.Sketch.addIndex(bucket, 1)
}

func (t *timingStats) add(d time.Duration) {
	us := d.Microseconds()
	if t.Count == 0 || us < t.MinUS {
		t.MinUS = us
	}
	t.MaxUS = max(t.MaxUS, us)
	t.Count++
	t.SumUS += us
}

func (t *Timing) merge(o *Timing) {
	if o.Count == 0 {
		return
	}
	if t.Count == 0 || o.MinUS < t.MinUS {
		t.MinUS = o.MinUS
	}
	t.MaxUS = max(t.MaxUS, o.MaxUS)
	t.Count += o.Count
	t.SumUS += o.SumUS
	t.Sketch.Merge(&o.Sketch)
}

// Quantile is the q-quantile in microseconds, within SketchRelativeError of the exact one, clamped to the
// exact minimum and maximum (which only brings it closer); 0 when Count is 0.
func (t *Timing) Quantile(q float64) float64 {
	if t.Count == 0 {
		return 0
	}
	return min(max(t.Sketch.Quantile(q), float64(t.MinUS)), float64(t.MaxUS))
}

// Failed is the number of calls that did not succeed.
func (r *Rollup) Failed() int64 { return r.Failed4xx + r.Failed5xx }

// SuccessRate is succeeded / (succeeded + failed): the share of calls that reached the upstream and got a
// non-error answer. Denials are left out (they are the plan at work, not the service failing); ok is false
// when there were no calls.
func (r *Rollup) SuccessRate() (rate float64, ok bool) {
	calls := r.Succeeded + r.Failed()
	if calls == 0 {
		return 0, false
	}
	return float64(r.Succeeded) / float64(calls), true
}

// Add counts one operation record.
func (r *Rollup) Add(op *Operation) {
	r.add(op, sketchIndex(op.Latency.Microseconds()), sketchIndex(op.TTFB.Microseconds()))
}

// add is Add with the record's sketch buckets worked out (once for all the rollups a record goes to).
func (r *Rollup) add(op *Operation, latency, ttfb int) {
	timed, firstByte := r.rollupCounts.add(op)
	if timed {
		r.Latency.add(op.Latency, latency)
	}
	if firstByte {
		r.TTFB.add(op.TTFB, ttfb)
	}
}

// add counts op, and reports whether its latency and its time to first byte count in the timings: a call's
// latency does, and its time to first byte if its answer reached the client.
func (r *rollupCounts) add(op *Operation) (latency, ttfb bool) {
	r.Requests++
	call := true
	switch op.Outcome {
	case OutcomeOK:
		switch {
		case op.Status < 400:
			r.Succeeded++
		case op.Status < 500:
			r.Failed4xx++
		default:
			r.Failed5xx++
		}
	case OutcomeDeniedRate:
		r.Denied.RateLimited++
		call = false
	case OutcomeDeniedQuota:
		r.Denied.QuotaExceeded++
		call = false
	case OutcomeDeniedBudget:
		r.Denied.BudgetExceeded++
		call = false
	case OutcomeUnauthorized:
		r.Denied.Unauthorized++
		call = false
	case OutcomeSuspended:
		r.Denied.Suspended++
		call = false
	case OutcomeBadRequest:
		r.Denied.BadRequest++
		call = false
	default: // upstream_error, or an outcome this build does not know
		r.Failed5xx++
	}
	u := &op.Usage
	r.InputTokens += u.InputTokens
	r.CachedTokens += u.CachedTokens
	r.CacheWriteTokens += u.CacheWriteTokens
	r.OutputTokens += u.OutputTokens
	r.ReasoningTokens += u.ReasoningTokens
	r.Cost += op.Cost
	// as recorded: ttfb_us 0 is an answer that never reached the client
	return call, call && op.TTFB >= time.Microsecond
}

// Merge adds o's facts to r.
func (r *Rollup) Merge(o *Rollup) {
	r.rollupCounts.merge(&o.rollupCounts)
	r.Latency.merge(&o.Latency)
	r.TTFB.merge(&o.TTFB)
}

func (r *rollupCounts) merge(o *rollupCounts) {
	r.Requests += o.Requests
	r.Succeeded += o.Succeeded
	r.Failed4xx += o.Failed4xx
	r.Failed5xx += o.Failed5xx
	d, od := &r.Denied, &o.Denied
	d.RateLimited += od.RateLimited
	d.QuotaExceeded += od.QuotaExceeded
	d.BudgetExceeded += od.BudgetExceeded
	d.Unauthorized += od.Unauthorized
	d.Suspended += od.Suspended
	d.BadRequest += od.BadRequest
	r.InputTokens += o.InputTokens
	r.CachedTokens += o.CachedTokens
	r.CacheWriteTokens += o.CacheWriteTokens
	r.OutputTokens += o.OutputTokens
	r.ReasoningTokens += o.ReasoningTokens
	r.Cost += o.Cost
}

// rollupColumns are the stored facts, in the order of row.fields.
const rollupColumns = `requests, succeeded, failed_4xx, failed_5xx, denied_rate, denied_quota, denied_budget, unauthorized,
	suspended, bad_request, input_tokens, cached_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost,
	latency_count, latency_sum_us, latency_min_us, latency_max_us, latency_sketch,
	ttfb_count, ttfb_sum_us, ttfb_min_us, ttfb_max_us, ttfb_sketch`

// rollupRow is a Rollup as stored, its sketches still encoded.
type rollupRow struct {
	Rollup
	latency, ttfb []byte
}

func (row *rollupRow) fields() []any {
	r, d := &row.Rollup, &row.Denied
	return []any{&r.Requests, &r.Succeeded, &r.Failed4xx, &r.Failed5xx, &d.RateLimited, &d.QuotaExceeded,
		&d.BudgetExceeded, &d.Unauthorized, &d.Suspended, &d.BadRequest, &r.InputTokens, &r.CachedTokens,
		&r.CacheWriteTokens, &r.OutputTokens, &r.ReasoningTokens, &r.Cost,
		&r.Latency.Count, &r.Latency.SumUS, &r.Latency.MinUS, &r.Latency.MaxUS, &row.latency,
		&r.TTFB.Count, &r.TTFB.SumUS, &r.TTFB.MinUS, &r.TTFB.MaxUS, &row.ttfb}
}

// appendValues appends r's columns for an INSERT, in rollupColumns order, with the sketches given encoded.
func (r *Rollup) appendValues(dst []driver.Value, latencySketch, ttfbSketch []byte) []driver.Value {
	d := &r.Denied
	return append(dst, r.Requests, r.Succeeded, r.Failed4xx, r.Failed5xx, d.RateLimited, d.QuotaExceeded, d.BudgetExceeded,
		d.Unauthorized, d.Suspended, d.BadRequest, r.InputTokens, r.CachedTokens, r.CacheWriteTokens, r.OutputTokens,
		r.ReasoningTokens, r.Cost, r.Latency.Count, r.Latency.SumUS, r.Latency.MinUS, r.Latency.MaxUS, latencySketch,
		r.TTFB.Count, r.TTFB.SumUS, r.TTFB.MinUS, r.TTFB.MaxUS, ttfbSketch)
}

// hourOf is the start of t's UTC hour in Unix seconds.
func hourOf(t time.Time) int64 {
	s := t.Unix()
	m := s % 3600
	if m < 0 {
		m += 3600
	}
	return s - m
}

// rollupKey is one row of hourly_usage; in hourly_usage_all the tenant is always "".
type rollupKey struct {
	tenant string
	hour   int64
	model  string
	opType string
}

// rollupBatch gathers a transaction's records by key, so that each key costs one read and one write however
// many records it has. The all-tenants rows are summed from the tenants' when written: keeping them beside
// cost every record a second map lookup and sketch add (BenchmarkWriterPaced).
type rollupBatch struct {
	tenants map[rollupKey]*Rollup
}

func (b *rollupBatch) add(op *Operation) {
	if b.tenants == nil {
		b.tenants = map[rollupKey]*Rollup{}
	}
	k := rollupKey{tenant: op.TenantID, hour: hourOf(op.At), model: op.Model, opType: op.Type}
	r := b.tenants[k]
	if r == nil {
		r = new(Rollup)
		b.tenants[k] = r
	}
	r.add(op, sketchIndex(op.Latency.Microseconds()), sketchIndex(op.TTFB.Microseconds()))
}

// rollupSQL reads and writes one rollup row of each table.
var rollupSQL = func() (q struct{ getTenant, putTenant, getAll, putAll string }) {
	placeholders := strings.TrimSuffix(strings.Repeat("?, ", strings.Count(rollupColumns, ",")+1), ", ")
	// The facts add up in SQL; only the sketches are merged in Go (and read back for it).
	var set []string
	for _, c := range strings.Split(rollupColumns, ",") {
		switch c = strings.TrimSpace(c); {
		case strings.HasSuffix(c, "_sketch"):
			set = append(set, c+" = excluded."+c)
		case strings.HasSuffix(c, "_min_us"):
			n := strings.TrimSuffix(c, "_min_us") + "_count"
			set = append(set, fmt.Sprintf("%[1]s = CASE WHEN excluded.%[2]s = 0 THEN %[1]s WHEN %[2]s = 0 THEN excluded.%[1]s "+
				"ELSE min(%[1]s, excluded.%[1]s) END", c, n))
		case strings.HasSuffix(c, "_max_us"):
			set = append(set, c+" = max("+c+", excluded."+c+")")
		default:
			set = append(set, c+" = "+c+" + excluded."+c)
		}
	}
	q.getTenant = `SELECT latency_sketch, ttfb_sketch FROM hourly_usage WHERE tenant_id = ? AND hour = ? AND model = ? AND op_type = ?`
	q.putTenant = `INSERT INTO hourly_usage (tenant_id, hour, model, op_type, ` + rollupColumns + `) VALUES (?, ?, ?, ?, ` +
		placeholders + `) ON CONFLICT (tenant_id, hour, model, op_type) DO UPDATE SET ` + strings.Join(set, ", ")
	q.getAll = `SELECT latency_sketch, ttfb_sketch FROM hourly_usage_all WHERE hour = ? AND model = ? AND op_type = ?`
	q.putAll = `INSERT INTO hourly_usage_all (hour, model, op_type, ` + rollupColumns + `) VALUES (?, ?, ?, ` +
		placeholders + `) ON CONFLICT (hour, model, op_type) DO UPDATE SET ` + strings.Join(set, ", ")
	return q
}()

// write merges the batch into the stored rollups inside run's transaction. The single writer holds the
// database while it runs, so reading a row, merging in Go and writing it back is safe; the sketches are why
// the merge is in Go rather than in the upsert. (The writer writes the rollups every 5 minutes, so reading
// each row back costs little; it used to keep the sketches it had stored in memory instead, 4 MB with 10,000 tenants.
// A Go SQL function merging them inside the upsert was tried: go-sqlite3 calls it through reflection, which
// cost what the read saves.)
func (b *rollupBatch) write(ctx context.Context, run stmtRunner) error {
	w := rollupWrite{run: run}
	for k, r := range b.tenants {
		if err := w.tenant(ctx, k, r); err != nil {
			return err
		}
	}
	return w.finish(ctx)
}

// rollupWrite adds tenants' rollups to hourly_usage one at a time, and their sums to hourly_usage_all at the end.
// A key may come more than once (a read sees what the transaction wrote before it).
type rollupWrite struct {
	run  stmtRunner
	all  map[rollupKey]*Rollup // the sums over the tenants, by key without the tenant
	vals []driver.Value        // reused: a row's key and columns
}

func (w *rollupWrite) tenant(ctx context.Context, k rollupKey, r *Rollup) error {
	w.vals = append(w.vals[:0], k.tenant, k.hour, k.model, k.opType)
	if err := mergeRollup(ctx, w.run, rollupSQL.getTenant, rollupSQL.putTenant, r, w.vals); err != nil {
		return fmt.Errorf("adding hourly usage of %q: %w", k.tenant, err)
	}
	if w.all == nil {
		w.all = map[rollupKey]*Rollup{}
	}
	k.tenant = ""
	sum := w.all[k]
	if sum == nil {
		sum = new(Rollup)
		w.all[k] = sum
	}
	sum.Merge(r)
	return nil
}

func (w *rollupWrite) finish(ctx context.Context) error {
	for k, r := range w.all {
		w.vals = append(w.vals[:0], k.hour, k.model, k.opType)
		if err := mergeRollup(ctx, w.run, rollupSQL.getAll, rollupSQL.putAll, r, w.vals); err != nil {
			return fmt.Errorf("adding hourly usage of all tenants: %w", err)
		}
	}
	return nil
}

// mergeRollup adds a batch's facts to the stored row with this key (the first values of vals). The counts and
// sums add up in the upsert; the sketches are read back and merged here, as SQL cannot add two histograms.
func mergeRollup(ctx context.Context, run stmtRunner, get, put string, add *Rollup, vals []driver.Value) error {
	storedLatency, storedTTFB, err := run.queryRow2(ctx, get, vals...)
	if err != nil {
		return err
	}
	latency, err := appendMerged(nil, storedLatency, &add.Latency.Sketch)
	if err != nil {
		return err
	}
	ttfb, err := appendMerged(nil, storedTTFB, &add.TTFB.Sketch)
	if err != nil {
		return err
	}
	_, err = run.exec(ctx, put, add.appendValues(vals, latency, ttfb)...)
	return err
}

// backfillRollups rolls up the records written before rollups existed (schema version 3), a chunk of records
// at a time so that memory stays bounded; merging chunks is what the writer does anyway.
func backfillRollups(ctx context.Context, tx *sql.Tx) error {
	const chunk = 50_000
	for after := int64(0); ; {
		rows, err := tx.QueryContext(ctx, `SELECT seq, tenant_id, at, op_type, model, status, outcome, latency_us, ttfb_us,
			input_tokens, cached_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost
			FROM operations WHERE seq > ? ORDER BY seq LIMIT ?`, after, chunk)
		if err != nil {
			return err
		}
		var b rollupBatch
		n := 0
		for rows.Next() {
			var op Operation
			var at, latency, ttfb int64
			u := &op.Usage
			if err := rows.Scan(&after, &op.TenantID, &at, &op.Type, &op.Model, &op.Status, &op.Outcome, &latency, &ttfb,
				&u.InputTokens, &u.CachedTokens, &u.CacheWriteTokens, &u.OutputTokens, &u.ReasoningTokens, &op.Cost); err != nil {
				rows.Close()
				return err
			}
			op.At, op.Latency, op.TTFB = time.Unix(0, at), time.Duration(latency)*time.Microsecond, time.Duration(ttfb)*time.Microsecond
			b.add(&op)
			n++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if err := b.write(ctx, txRunner{tx}); err != nil {
			return fmt.Errorf("rolling up the records before seq %d: %w", after, err)
		}
	}
}
