package ledger

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestTotalsTrailTheRecords: the totals are written when read (Flush) or once AggregateInterval has passed,
// not with every batch of records.
func TestTotalsTrailTheRecords(t *testing.T) {
	t.Run("until a Flush", func(t *testing.T) {
		s := openTestStore(t)
		w := newTestWriter(t, s, WriterOptions{Interval: time.Millisecond, AggregateInterval: time.Hour})
		for i := range 3 {
			if err := w.Record(testCtx(t), testOp(fmt.Sprint("op", i), "acme", opDay)); err != nil {
				t.Fatal(err)
			}
		}
		if !waitFor(5*time.Second, func() bool { return totalOps(t, s) == 3 }) {
			t.Fatal("records not committed")
		}
		if got := usageOn(t, s, opDay)["acme"]; got != 0 {
			t.Fatalf("daily usage %d before the totals were due, want 0", got)
		}
		if err := w.Flush(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if got := usageOn(t, s, opDay)["acme"]; got != 3 {
			t.Fatalf("daily usage %d after Flush, want 3", got)
		}
	})
	t.Run("until the interval, also when idle", func(t *testing.T) {
		s := openTestStore(t)
		w := newTestWriter(t, s, WriterOptions{Interval: time.Millisecond, AggregateInterval: 50 * time.Millisecond})
		for i := range 3 {
			if err := w.Record(testCtx(t), testOp(fmt.Sprint("op", i), "acme", opDay)); err != nil {
				t.Fatal(err)
			}
		}
		if !waitFor(5*time.Second, func() bool { return usageOn(t, s, opDay)["acme"] == 3 }) {
			t.Fatalf("daily usage %d, want 3 once the interval passed", usageOn(t, s, opDay)["acme"])
		}
	})
	t.Run("until enough entries wait", func(t *testing.T) {
		s := openTestStore(t)
		w := newTestWriter(t, s, WriterOptions{Interval: time.Millisecond, AggregateInterval: time.Hour,
			MaxPendingBytes: 10 * pendingEntryBytes})
		for i := range 20 { // a tenant each: an entry each
			if err := w.Record(testCtx(t), testOp(fmt.Sprint("op", i), fmt.Sprint("t", i), opDay)); err != nil {
				t.Fatal(err)
			}
		}
		if !waitFor(5*time.Second, func() bool { return len(usageOn(t, s, opDay)) > 0 }) {
			t.Fatal("totals not written with more entries waiting than MaxPendingBytes holds")
		}
	})
	t.Run("until one entry's sketches grow large", func(t *testing.T) {
		s := openTestStore(t)
		// Room for the tenant's entry and the all-tenants one, and a few KB of sketch buckets: 3,000 records
		// with latencies over the whole range outgrow it, though the entries stay two.
		w := newTestWriter(t, s, WriterOptions{Interval: time.Millisecond, AggregateInterval: time.Hour,
			MaxPendingBytes: 2*pendingEntryBytes + 8<<10})
		r := rand.New(rand.NewPCG(5, 6))
		for i := range 3000 {
			op := testOp(fmt.Sprint("op", i), "acme", opDay)
			op.Latency = time.Duration(math.Exp(r.Float64()*math.Log(float64(time.Hour/time.Microsecond)))) * time.Microsecond
			op.TTFB = op.Latency / 2
			if err := w.Record(testCtx(t), op); err != nil {
				t.Fatal(err)
			}
		}
		if !waitFor(5*time.Second, func() bool { return usageOn(t, s, opDay)["acme"] > 0 }) {
			t.Fatal("totals not written while two entries' sketches took more than MaxPendingBytes")
		}
	})
}

// TestTotalsReplayedAfterAnUnwrittenStop: when the totals of committed records were never written (a crash,
// or a failing disk at shutdown), the next writer adds those records up before anything reads a total, and
// only those: nothing is missing and nothing counts twice, however often the ledger is reopened.
func TestTotalsReplayedAfterAnUnwrittenStop(t *testing.T) {
	s := openTestStore(t)
	raw := rawDB(t, s.Path())
	w, err := s.NewWriter(WriterOptions{Interval: time.Millisecond, AggregateInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	// Half the records have their totals written; the rest only their records.
	r := rand.New(rand.NewPCG(9, 9))
	var ops []*Operation
	for i := range 200 {
		op := randomOp(r)
		op.Counted = op.Outcome == OutcomeOK
		if i == 150 { // arrived just before midnight, admitted just after: counts on the next day
			op.At = time.Date(2026, 3, 10, 23, 59, 59, 999_000_000, time.UTC)
			op.QuotaDay = time.Date(2026, 3, 11, 0, 0, 0, 1000, time.UTC)
			op.Outcome, op.Status, op.Counted, op.TenantID, op.Type, op.Model = OutcomeOK, 200, true, "late", "chat", "m"
			op.Cost = 7
		}
		ops = append(ops, op)
		if err := w.Record(ctx, op); err != nil {
			t.Fatal(err)
		}
		if i == 99 {
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Exec(`CREATE TRIGGER block_totals BEFORE INSERT ON daily_usage
				BEGIN SELECT RAISE(ABORT, 'blocked by the test'); END`); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !waitFor(5*time.Second, func() bool { return totalOps(t, s) == 200 }) {
		t.Fatal("records not committed")
	}
	w.Close() // cannot write the totals: they are lost with the writer
	if _, err := raw.Exec(`DROP TRIGGER block_totals`); err != nil {
		t.Fatal(err)
	}

	if late := ops[150]; Day(quotaDay(late)) != "2026-03-11" || Day(late.At) != "2026-03-10" {
		t.Fatalf("test setup: the late call counts on %s", Day(quotaDay(late)))
	}
	for reopen := range 2 {
		restart(t, s)
		checkTotals(t, s, ops, fmt.Sprint("reopen ", reopen))
	}
}

// restart starts a writer and stops it, as a restart of the gateway does: it adds up what the totals lack.
func restart(t *testing.T, s *Store) {
	t.Helper()
	w, err := s.NewWriter(WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
}

// checkTotals compares the stored daily usage, monthly billing and all-tenants rollups with what ops add up to.
func checkTotals(t *testing.T, s *Store, ops []*Operation, label string) {
	t.Helper()
	ctx := testCtx(t)
	days := map[string]map[string]int64{}
	cost := map[string]int64{}
	for _, op := range ops {
		if op.Counted {
			d := Day(quotaDay(op))
			if days[d] == nil {
				days[d] = map[string]int64{}
			}
			days[d][op.TenantID]++
		}
		if op.billable() {
			cost[op.TenantID+" "+Month(quotaDay(op))] += op.Cost
		}
	}
	for d, want := range days {
		day, _ := time.Parse(time.DateOnly, d)
		if got := usageOn(t, s, day); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: daily usage on %s = %v, want %v", label, d, got, want)
		}
	}
	for k, want := range cost {
		var tenant, month string
		fmt.Sscan(k, &tenant, &month)
		lines, err := s.MonthlyUsage(ctx, tenant, month)
		if err != nil {
			t.Fatal(err)
		}
		var got int64
		for _, l := range lines {
			got += l.Cost
		}
		if got != want {
			t.Errorf("%s: %s spent %d in %s, want %d", label, tenant, got, month, want)
		}
	}
	a, err := s.Analytics(ctx, AnalyticsQuery{AllTenants: true, From: analyticsBase, To: analyticsBase.Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	expectRollup(t, label, &a.Total, rawOps(t, s))
}

// marks are the stored aggregated_seq and rollup_seq.
func marks(t *testing.T, db *sql.DB) (aggregated, rollup int64) {
	t.Helper()
	if err := db.QueryRow(`SELECT (SELECT value FROM ledger_state WHERE name = 'aggregated_seq'),
		(SELECT value FROM ledger_state WHERE name = 'rollup_seq')`).Scan(&aggregated, &rollup); err != nil {
		t.Fatal(err)
	}
	return aggregated, rollup
}

// TestRollupsTrailWithTheirOwnMark: the quota and billing totals are written on their interval while the
// hourly rollups wait for theirs; a crash between the two marks replays the records into the rollups only, so
// daily usage and billing never count them twice.
func TestRollupsTrailWithTheirOwnMark(t *testing.T) {
	s := openTestStore(t)
	raw := rawDB(t, s.Path())
	w, err := s.NewWriter(WriterOptions{Interval: time.Millisecond, AggregateInterval: 20 * time.Millisecond,
		RollupInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	r := rand.New(rand.NewPCG(6, 6))
	var ops []*Operation
	record := func(n int) {
		for range n {
			op := randomOp(r)
			op.Counted = op.Outcome == OutcomeOK
			ops = append(ops, op)
			if err := w.Record(ctx, op); err != nil {
				t.Fatal(err)
			}
		}
		want := int64(len(ops))
		if !waitFor(5*time.Second, func() bool { a, _ := marks(t, raw); return a == want }) {
			a, ro := marks(t, raw)
			t.Fatalf("aggregated_seq %d, rollup_seq %d after %d records: quota totals not written on their interval", a, ro, want)
		}
	}
	record(100)
	var hourly int64
	if err := raw.QueryRow(`SELECT count(*) FROM hourly_usage`).Scan(&hourly); err != nil {
		t.Fatal(err)
	}
	if _, ro := marks(t, raw); hourly != 0 || ro != 0 {
		t.Errorf("%d hourly rows and rollup_seq %d before the rollup interval: the rollups did not wait", hourly, ro)
	}
	// The rollups cannot be written any more (the writer dies with them pending); the quota totals still are.
	if _, err := raw.Exec(`CREATE TRIGGER block_rollups BEFORE INSERT ON hourly_usage
		BEGIN SELECT RAISE(ABORT, 'blocked by the test'); END`); err != nil {
		t.Fatal(err)
	}
	record(50)
	w.Close()
	if _, err := raw.Exec(`DROP TRIGGER block_rollups`); err != nil {
		t.Fatal(err)
	}
	if a, ro := marks(t, raw); a != 150 || ro != 0 {
		t.Fatalf("marks after the crash: aggregated_seq %d, rollup_seq %d; want 150 and 0", a, ro)
	}
	// Retention keeps what the rollups still need, although the quota totals include it.
	if n, err := s.PruneOperations(ctx, time.Now().Add(24*time.Hour), 0); err != nil || n != 0 {
		t.Fatalf("pruned %d records the rollups do not include yet (%v)", n, err)
	}
	for reopen := range 2 {
		restart(t, s)
		checkTotals(t, s, ops, fmt.Sprint("reopen ", reopen))
		if a, ro := marks(t, raw); a != 150 || ro != 150 {
			t.Errorf("reopen %d: aggregated_seq %d, rollup_seq %d; want 150 and 150", reopen, a, ro)
		}
	}
}

// TestPruneKeepsWhatTheTotalsNeed: retention never deletes a record the stored totals do not include yet, nor
// the newest record (which keeps new seqs above aggregated_seq).
func TestPruneKeepsWhatTheTotalsNeed(t *testing.T) {
	s := openTestStore(t)
	w := newTestWriter(t, s, WriterOptions{Interval: time.Millisecond, AggregateInterval: time.Hour})
	ctx := testCtx(t)
	old := time.Now().Add(-90 * 24 * time.Hour)
	for i := range 5 {
		if err := w.Record(ctx, testOp(fmt.Sprint("op", i), "acme", old)); err != nil {
			t.Fatal(err)
		}
	}
	if !waitFor(5*time.Second, func() bool { return totalOps(t, s) == 5 }) {
		t.Fatal("records not committed")
	}
	if n, err := s.PruneOperations(ctx, time.Now(), 100); err != nil || n != 0 {
		t.Fatalf("pruned %d (%v) records the totals do not include yet, want 0", n, err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneOperations(ctx, time.Now(), 100); err != nil || n != 4 {
		t.Fatalf("pruned %d (%v), want 4: all but the newest", n, err)
	}
	if err := w.Record(ctx, testOp("op-next", "acme", time.Now())); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var seq, aggregated int64
	if err := s.r.QueryRow(`SELECT seq FROM operations WHERE id = 'op-next'`).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	if err := s.r.QueryRow(`SELECT value FROM ledger_state WHERE name = 'aggregated_seq'`).Scan(&aggregated); err != nil {
		t.Fatal(err)
	}
	if seq != 6 || aggregated != 6 {
		t.Fatalf("new record seq %d, aggregated_seq %d; want 6 and 6", seq, aggregated)
	}
}

func TestDayAndMonthKeys(t *testing.T) {
	for _, ts := range []string{"1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2024-02-29T12:00:00Z", "2026-12-31T23:59:59.999Z"} {
		at, _ := time.Parse(time.RFC3339Nano, ts)
		if got, want := (dayKey{day: unixDay(at)}).String(), Day(at); got != want {
			t.Errorf("%s: day %s, want %s", ts, got, want)
		}
		if got, want := (monthKey{month: monthIndex(at)}).String(), Month(at); got != want {
			t.Errorf("%s: month %s, want %s", ts, got, want)
		}
	}
}

// TestTotalsOfAnHourOnTwoQuotaDays: calls of one tenant, hour, model and type that count on two days (one
// admitted after midnight) make one hourly row and a daily count on each day, also when the first write of
// the totals fails and is retried.
func TestTotalsOfAnHourOnTwoQuotaDays(t *testing.T) {
	s := openTestStore(t)
	w := newTestWriter(t, s, WriterOptions{Interval: time.Millisecond, AggregateInterval: time.Hour})
	raw := rawDB(t, s.Path())
	ctx := testCtx(t)
	at := time.Date(2026, 3, 10, 23, 59, 59, 0, time.UTC)
	for i := range 3 {
		op := testOp(fmt.Sprint("op", i), "acme", at)
		if i == 2 {
			op.QuotaDay = at.Add(2 * time.Second)
		}
		if err := w.Record(ctx, op); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec(`CREATE TRIGGER block BEFORE INSERT ON hourly_usage_all BEGIN SELECT RAISE(ABORT, 'blocked'); END`); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err == nil {
		t.Fatal("the write of the totals did not fail")
	}
	if _, err := raw.Exec(`DROP TRIGGER block`); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if d10, d11 := usageOn(t, s, at)["acme"], usageOn(t, s, at.Add(time.Hour))["acme"]; d10 != 2 || d11 != 1 {
		t.Errorf("daily usage %d on the 10th and %d on the 11th, want 2 and 1", d10, d11)
	}
	rows := storedRollups(t, s, "hourly_usage")
	if len(rows) != 1 {
		t.Fatalf("%d hourly rows, want 1: %v", len(rows), rows)
	}
	for _, r := range rows {
		if r.Requests != 3 || r.Latency.Count != 3 || r.Latency.Sketch.Count() != 3 {
			t.Errorf("hourly row: %d requests, latency count %d, sketch %d; want 3 each", r.Requests, r.Latency.Count, r.Latency.Sketch.Count())
		}
	}
}

// By default the quota and billing totals wait for the rollups' write: a quota write of its own took 70-145 ms
// of a core every 30 s with 10,000 active tenants, and requests arriving meanwhile waited for the CPU.
func TestQuotaTotalsWaitForTheRollupsByDefault(t *testing.T) {
	w := newTestWriter(t, openTestStore(t), WriterOptions{})
	if w.aggInterval < w.rollupInterval {
		t.Errorf("quota totals every %v, rollups every %v: want the quota written with the rollups", w.aggInterval, w.rollupInterval)
	}
}

// countingRunner counts the statements it is given and takes a millisecond of a fake clock for each.
type countingRunner struct {
	execs int
	clock *time.Time
}

func (c *countingRunner) exec(context.Context, string, ...driver.Value) (driver.Result, error) {
	c.execs++
	*c.clock = c.clock.Add(time.Millisecond)
	return nil, nil
}

func (c *countingRunner) queryRow2(context.Context, string, ...driver.Value) ([]byte, []byte, error) {
	return nil, nil, nil
}

// A paced write pauses after every slice of statements for as long as the slice took.
func TestPacedRunnerPausesAsLongAsEachSlice(t *testing.T) {
	clock := time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)
	var pauses []time.Duration
	run := &countingRunner{clock: &clock}
	p := &pacedRunner{stmtRunner: run, every: 4, now: func() time.Time { return clock },
		pause: func(d time.Duration) { pauses = append(pauses, d); clock = clock.Add(d) }}
	for range 10 {
		p.exec(context.Background(), "")
	}
	if run.execs != 10 || len(pauses) != 2 || pauses[0] != 4*time.Millisecond || pauses[1] != 4*time.Millisecond {
		t.Errorf("%d statements, pauses %v; want 10 and [4ms 4ms]", run.execs, pauses)
	}
}

// The writer paces the totals write that falls due with batch durability, where nobody waits for it; not
// with sync durability, where requests wait for their record's commit, nor for a Flush.
func TestDueTotalsWritePacedInBatchModeOnly(t *testing.T) {
	var mu sync.Mutex
	paused := 0
	pauseTotals = func(time.Duration) { mu.Lock(); paused++; mu.Unlock() }
	t.Cleanup(func() { pauseTotals = time.Sleep })
	pauses := func() int { mu.Lock(); defer mu.Unlock(); return paused }
	const tenants = 3 * totalsSlice // a daily, a monthly and two hourly statements each
	for _, tc := range []struct {
		name  string
		sync  bool
		flush bool
		want  bool
	}{{"batch", false, false, true}, {"sync", true, false, false}, {"flush", false, true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			paused = 0
			mu.Unlock()
			s := openTestStore(t)
			interval := time.Hour
			if !tc.flush {
				interval = 50 * time.Millisecond
			}
			w := newTestWriter(t, s, WriterOptions{Interval: time.Millisecond, Sync: tc.sync, AggregateInterval: interval, RollupInterval: interval})
			for i := range tenants {
				if err := w.Record(testCtx(t), testOp(fmt.Sprint("op", i), fmt.Sprint("t", i), opDay)); err != nil {
					t.Fatal(err)
				}
			}
			if tc.flush {
				if err := w.Flush(testCtx(t)); err != nil {
					t.Fatal(err)
				}
			} else {
				// The totals fall due with the next batch after the interval.
				for i := 0; len(usageOn(t, s, opDay)) < tenants; i++ {
					if i > 500 {
						t.Fatal("the totals were not written")
					}
					time.Sleep(10 * time.Millisecond)
					if err := w.Record(testCtx(t), testOp(fmt.Sprint("late", i), "t0", opDay)); err != nil {
						t.Fatal(err)
					}
				}
			}
			if got := len(usageOn(t, s, opDay)); got != tenants {
				t.Fatalf("daily usage of %d tenants, want %d", got, tenants)
			}
			if n := pauses(); (n > 0) != tc.want {
				t.Errorf("%d pauses, want some: %v", n, tc.want)
			}
		})
	}
}
