package ledger

import (
	"context"
	"fmt"
	"time"
)

// The totals — daily_usage (the quota), monthly_usage (billing) and the hourly rollups (analytics) — are a
// function of the operation records. Writing them with every batch costs an upsert per tenant and table per
// batch, which with many active tenants is most of the writer's work. Instead the writer adds committed
// records up in memory and writes them later, or when someone reads them (Flush):
//
//   - all of them every 5 minutes (sooner when the entries take MaxPendingBytes), in a transaction that stores
//     aggregated_seq, the seq of the last record daily_usage and monthly_usage include, and rollup_seq, the
//     seq of the last record the rollups include. An entry stays one per tenant, hour, model and type however
//     long it is pending;
//   - the quota and billing increments alone, storing aggregated_seq only, when AggregateInterval is shorter
//     than RollupInterval (it is not by default).
//
// Both were written more often. A rollup row is read back and merged (its latency sketches), so it costs about
// twice a quota row: writing the rollups every 5 minutes rather than every 30 s took most of the writer's
// periodic work away (with 10,000 active tenants, 0.15-0.4 s of CPU every 30 s). The quota write that stayed
// on 30 s still took 70-145 ms of one core, nine times in ten for nothing that the full write would not do
// anyway: the API reads through Flush, and a crash replays the records past rollup_seq whichever mark the
// quota stopped at. Requests that arrive during such a write wait for the CPU, so it now waits for the rollups.
//
// Records are the source of truth: after a crash, NewWriter adds up the records past rollup_seq again before
// anything reads a total, their quota and billing parts only past aggregated_seq, so no record is lost from
// the totals or counted in them twice. rollup_seq <= aggregated_seq always.

// Defaults for how far the totals may trail the records.
const (
	DefaultAggregateInterval = DefaultRollupInterval // daily_usage and monthly_usage
	DefaultRollupInterval    = 5 * time.Minute       // the hourly rollups
	// DefaultMaxPendingBytes of pending entries write all the totals at once, whenever they are due. An entry
	// takes about 410 bytes and 2-4 bytes a record in its sketches (more for tenants with many records, at most
	// what bins over their latencies' buckets take): 12 MiB holds 20,000 entries of about 25 records each,
	// 10,000 tenants' two entries through about a minute of 7,000 requests/s. It was a count of entries
	// (20,000), which bounded memory only while sketches stayed small: 20,000 entries of 150 records each held
	// 6.4 KB apiece in sketch bins, 130 MB (2.0 KB apiece now). 10 MiB was tried: 20,000 entries alone nearly
	// fill it, so the totals were written about as often as with the count (BenchmarkWriterPaced with 10,000
	// tenants: 16.5-17.6 against 13.1-14.3 µs a record), for a peak RSS within the benchmark's spread.
	DefaultMaxPendingBytes = 12 << 20
)

// pendingEntryBytes is what an entry takes on the heap besides its sketches' buckets and its names: a
// pendingRow and its map slot (BenchmarkPendingMemory, with one record an entry).
const pendingEntryBytes = 408

type dayKey struct {
	tenant string
	day    int64 // days since 1970-01-01, UTC
}

type monthKey struct {
	tenant        string
	month         int64 // year*12 + month-1, UTC
	opType, model string
}

func unixDay(t time.Time) int64 { return floorDiv(t.Unix(), 86400) }

func monthIndex(t time.Time) int64 {
	y, m, _ := t.UTC().Date()
	return int64(y)*12 + int64(m) - 1
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

func (k dayKey) String() string { return Day(time.Unix(k.day*86400, 0)) }

func (k monthKey) String() string {
	return Month(time.Date(int(k.month/12), time.Month(k.month%12+1), 1, 0, 0, 0, 0, time.UTC))
}

// monthTotals is one monthly_usage row's increment.
type monthTotals struct {
	operations                                         int64
	input, cached, cacheWrite, output, reasoning, cost int64
}

func (m *monthTotals) merge(o *monthTotals) {
	m.operations += o.operations
	m.input += o.input
	m.cached += o.cached
	m.cacheWrite += o.cacheWrite
	m.output += o.output
	m.reasoning += o.reasoning
	m.cost += o.cost
}

func (m *monthTotals) add(op *Operation) {
	u := &op.Usage
	m.operations++
	m.input += u.InputTokens
	m.cached += u.CachedTokens
	m.cacheWrite += u.CacheWriteTokens
	m.output += u.OutputTokens
	m.reasoning += u.ReasoningTokens
	m.cost += op.Cost
}

// aggregates are what a set of committed records adds to the totals: one entry per tenant, hour, model,
// operation type and quota day, holding that hour's rollup and what it adds to the day's quota and the
// month's bill (the daily and monthly rows are summed from the entries when written, so a tenant costs
// one entry, not three; the all-tenants rollups are summed from them too, see rollupBatch).
type aggregates struct {
	pendingEntries
	since      time.Time // when the first of them was added; zero when empty
	quotaSince time.Time // when the first quota or billing increment not yet written was added; zero if none
}

// quotaDay is the day (and month) a record counts on: the day its call was admitted, or else arrived.
func quotaDay(op *Operation) time.Time {
	if op.QuotaDay.IsZero() {
		return op.At
	}
	return op.QuotaDay
}

// storedQuotaDay is the quota_day column of op: empty when it is the day op arrived.
func storedQuotaDay(op *Operation) string {
	if op.QuotaDay.IsZero() || unixDay(op.QuotaDay) == unixDay(op.At) {
		return ""
	}
	return Day(op.QuotaDay)
}

// add adds op to the pending totals; with quota false, to the rollups only (a record replayed that
// daily_usage and monthly_usage already include).
func (a *aggregates) add(op *Operation, quota bool) {
	if a.since.IsZero() {
		a.since = time.Now()
	}
	row := a.entry(op)
	row.add(op, sketchIndex(op.Latency.Microseconds()), sketchIndex(op.TTFB.Microseconds()), &a.arena)
	a.compact()
	if quota && op.TenantID != "" && (op.Counted || op.billable()) {
		if op.Counted {
			row.counted++
		}
		if op.billable() {
			row.billed.add(op)
		}
		if a.quotaSince.IsZero() {
			a.quotaSince = time.Now()
		}
	}
}

// size is the number of entries pending.
func (a *aggregates) size() int { return a.made }

func (a *aggregates) empty() bool { return a.since.IsZero() }

func (a *aggregates) reset() {
	a.pendingEntries.reset()
	a.since, a.quotaSince = time.Time{}, time.Time{}
}

// quotaWritten drops the quota and billing increments, once a transaction that wrote them has committed.
func (a *aggregates) quotaWritten() {
	for n := range a.made {
		row := a.row(uint32(n))
		row.counted, row.billed = 0, monthTotals{}
	}
	a.quotaSince = time.Time{}
}

// writeQuota adds the pending quota and billing increments to daily_usage and monthly_usage inside run's
// transaction.
func (a *aggregates) writeQuota(ctx context.Context, run stmtRunner) error {
	counted := map[dayKey]int64{}
	billed := map[monthKey]*monthTotals{}
	a.each(func(k pendingKey, tenant, model, opType string, row *pendingRow) error {
		if row.counted > 0 {
			counted[dayKey{tenant, k.quotaDay}] += row.counted
		}
		if row.billed.operations > 0 {
			mk := monthKey{tenant, monthIndex(time.Unix(k.quotaDay*86400, 0)), opType, model}
			m := billed[mk]
			if m == nil {
				m = new(monthTotals)
				billed[mk] = m
			}
			m.merge(&row.billed)
		}
		return nil
	})
	for k, n := range counted {
		if _, err := run.exec(ctx, addDailyUsage, k.tenant, k.String(), n); err != nil {
			return fmt.Errorf("adding daily usage: %w", err)
		}
	}
	for k, m := range billed {
		if _, err := run.exec(ctx, addMonthlyUsage, k.tenant, k.String(), k.opType, k.model, m.operations, m.input,
			m.cached, m.cacheWrite, m.output, m.reasoning, m.cost); err != nil {
			return fmt.Errorf("adding monthly usage: %w", err)
		}
	}
	return nil
}

// writeRollups adds the pending rollups to the hourly tables inside run's transaction, one entry at a time:
// an entry becomes a Rollup only for its write.
func (a *aggregates) writeRollups(ctx context.Context, run stmtRunner) error {
	w := rollupWrite{run: run}
	if err := a.each(func(pk pendingKey, tenant, model, opType string, row *pendingRow) error {
		r := row.rollup(&a.arena)
		return w.tenant(ctx, rollupKey{tenant: tenant, hour: pk.hour, model: model, opType: opType}, &r)
	}); err != nil {
		return err
	}
	return w.finish(ctx)
}

// flushAggregates writes all the pending totals and both marks in one transaction.
func (w *Writer) flushAggregates() error { return w.flushTotals(true, nil) }

// flushTotals writes the pending quota and billing increments and aggregated_seq, and with rollups also the
// rollups and rollup_seq, in one transaction, paced with pause if it is not nil (pacedRunner). On failure
// everything stays pending, for a later attempt.
func (w *Writer) flushTotals(rollups bool, pause func(time.Duration)) error {
	if w.pending.quotaSince.IsZero() && (!rollups || w.pending.empty()) &&
		w.lastSeq == w.aggregatedSeq && (!rollups || w.lastSeq == w.rollupSeq) {
		return nil
	}
	marks := `UPDATE ledger_state SET value = ? WHERE name = 'aggregated_seq'`
	if rollups {
		marks = `UPDATE ledger_state SET value = ? WHERE name IN ('aggregated_seq', 'rollup_seq')`
	}
	ctx := context.Background()
	if err := w.inTx(func(d *driverStmts) error {
		var run stmtRunner = d
		if pause != nil {
			run = &pacedRunner{stmtRunner: d, every: totalsSlice, now: time.Now, pause: pause}
		}
		if err := w.pending.writeQuota(ctx, run); err != nil {
			return err
		}
		if rollups {
			if err := w.pending.writeRollups(ctx, run); err != nil {
				return err
			}
		}
		if _, err := d.exec(ctx, marks, w.lastSeq); err != nil {
			return fmt.Errorf("storing the totals' marks: %w", err)
		}
		return nil
	}); err != nil {
		return err
	}
	w.aggregatedSeq = w.lastSeq
	if rollups {
		w.pending.reset()
		w.rollupSeq = w.lastSeq
	} else {
		w.pending.quotaWritten()
	}
	return nil
}

// aggregatesDue reports whether all the pending totals should be written now (the rollups' turn, or they
// take too much memory).
func (w *Writer) aggregatesDue() bool {
	return !w.pending.empty() && (time.Since(w.pending.since) >= w.rollupInterval || w.pending.bytes() >= w.maxPending)
}

// quotaDue reports whether the pending quota and billing increments should be written now.
func (w *Writer) quotaDue() bool {
	return !w.pending.quotaSince.IsZero() && time.Since(w.pending.quotaSince) >= w.aggInterval
}

// replay adds up the records committed after the stored totals (a crash before their write), and writes them.
func (w *Writer) replay(ctx context.Context) (records int, err error) {
	if err := w.store.w.QueryRowContext(ctx, `SELECT (SELECT value FROM ledger_state WHERE name = 'aggregated_seq'),
		(SELECT value FROM ledger_state WHERE name = 'rollup_seq')`).Scan(&w.aggregatedSeq, &w.rollupSeq); err != nil {
		return 0, fmt.Errorf("reading aggregated_seq and rollup_seq: %w", err)
	}
	w.lastSeq = min(w.rollupSeq, w.aggregatedSeq)
	const chunk = 50_000
	for {
		rows, err := w.store.w.QueryContext(ctx, `SELECT seq, tenant_id, at, op_type, model, status, outcome, counted, quota_day,
			latency_us, ttfb_us, input_tokens, cached_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost
			FROM operations WHERE seq > ? ORDER BY seq LIMIT ?`, w.lastSeq, chunk)
		if err != nil {
			return records, err
		}
		n := 0
		for rows.Next() {
			var op Operation
			var at, latency, ttfb int64
			var day string
			u := &op.Usage
			if err := rows.Scan(&w.lastSeq, &op.TenantID, &at, &op.Type, &op.Model, &op.Status, &op.Outcome, &op.Counted, &day,
				&latency, &ttfb, &u.InputTokens, &u.CachedTokens, &u.CacheWriteTokens, &u.OutputTokens, &u.ReasoningTokens,
				&op.Cost); err != nil {
				rows.Close()
				return records, err
			}
			op.At, op.Latency, op.TTFB = time.Unix(0, at).UTC(), time.Duration(latency)*time.Microsecond, time.Duration(ttfb)*time.Microsecond
			if day != "" {
				if op.QuotaDay, err = time.Parse(time.DateOnly, day); err != nil {
					rows.Close()
					return records, fmt.Errorf("operation seq %d: quota_day %q: %w", w.lastSeq, day, err)
				}
			}
			w.pending.add(&op, w.lastSeq > w.aggregatedSeq)
			n++
		}
		if err := rows.Err(); err != nil {
			return records, err
		}
		records += n
		if n < chunk {
			break
		}
		if err := w.flushAggregates(); err != nil { // keeps memory bounded over a long replay
			return records, err
		}
	}
	return records, w.flushAggregates()
}
