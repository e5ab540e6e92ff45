package ledger

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

var opDay = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// waitFor polls cond until it holds or timeout passes; it reports whether cond held. It waits on the
// writer's goroutine and SQLite, never on a clock the code under test reads.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

// testCtx bounds what a test waits for, so a lost record fails the test instead of hanging it.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func totalOps(tb testing.TB, s *Store) int64 {
	tb.Helper()
	var n int64
	if err := s.r.QueryRow(`SELECT count(*) FROM operations`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func usageOn(tb testing.TB, s *Store, day time.Time) map[string]int64 {
	tb.Helper()
	u, err := s.DailyUsage(context.Background(), day)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// blockCommits makes every commit of operation records fail, as a full or failing disk would, through a
// trigger installed from a second connection (file permissions do not stop root). unblock removes it.
func blockCommits(tb testing.TB, path string) (unblock func()) {
	tb.Helper()
	raw := rawDB(tb, path)
	if _, err := raw.Exec(`CREATE TRIGGER block_ops BEFORE INSERT ON operations
		BEGIN SELECT RAISE(ABORT, 'commits blocked by the test'); END`); err != nil {
		tb.Fatal(err)
	}
	return func() {
		if _, err := raw.Exec(`DROP TRIGGER block_ops`); err != nil {
			tb.Error(err)
		}
	}
}

// observedLogger records the writer's logs, so a test can wait for its n-th failed attempt.
func observedLogger() (*zap.Logger, func() int) {
	core, logs := observer.New(zap.InfoLevel)
	failed := func() int { return logs.FilterMessage("committing operation records").Len() }
	return zap.New(core), failed
}

func TestWriterBatchCommitsWithinInterval(t *testing.T) {
	t.Run("the interval ends the window", func(t *testing.T) {
		s := openTestStore(t)
		w := newTestWriter(t, s, WriterOptions{Interval: 10 * time.Millisecond})
		for i := range 3 {
			if err := w.Record(testCtx(t), testOp(fmt.Sprint("op", i), "acme", opDay)); err != nil {
				t.Fatal(err)
			}
		}
		if !waitFor(5*time.Second, func() bool { return totalOps(t, s) == 3 }) {
			t.Fatalf("%d of 3 records committed without a Flush, interval 10ms", totalOps(t, s))
		}
	})
	t.Run("Flush ends a long window", func(t *testing.T) {
		s := openTestStore(t)
		w := newTestWriter(t, s, WriterOptions{Interval: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for i := range 3 {
			if err := w.Record(ctx, testOp(fmt.Sprint("op", i), "acme", opDay)); err != nil {
				t.Fatal(err)
			}
		}
		if n := totalOps(t, s); n != 0 {
			t.Errorf("%d records committed at once in batch mode with a 1h window: not batched", n)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if n := totalOps(t, s); n != 3 {
			t.Errorf("%d records after Flush, want 3", n)
		}
		if err := w.Err(); err != nil {
			t.Errorf("Err() = %v on a healthy writer", err)
		}
	})
	// Records do not wake the writer during its window; what must end it early does.
	t.Run("a full batch ends a long window", func(t *testing.T) {
		s := openTestStore(t)
		w := newTestWriter(t, s, WriterOptions{Interval: time.Hour, MaxBatch: 8})
		// The writer takes the first record and opens its window before the others come. (Sent all at once,
		// the batch can split: a full queue's token may end a window that had taken only 7, and the 8th then
		// rightly waits for its own window, alone.)
		if err := w.Record(testCtx(t), testOp("op0", "acme", opDay)); err != nil {
			t.Fatal(err)
		}
		if !waitFor(5*time.Second, func() bool { return w.QueueDepth() == 0 }) {
			t.Fatal("the writer never took the first record")
		}
		for i := 1; i < 8; i++ {
			if err := w.Record(testCtx(t), testOp(fmt.Sprint("op", i), "acme", opDay)); err != nil {
				t.Fatal(err)
			}
		}
		if !waitFor(5*time.Second, func() bool { return totalOps(t, s) == 8 }) {
			t.Fatalf("%d of a full batch of 8 committed, 1h window", totalOps(t, s))
		}
	})
	t.Run("a sync record ends a long window", func(t *testing.T) {
		s := openTestStore(t)
		w := newTestWriter(t, s, WriterOptions{Interval: time.Hour})
		if err := w.Record(testCtx(t), testOp("op-batch", "acme", opDay)); err != nil {
			t.Fatal(err)
		}
		w.SetDurability(true, 0)
		if err := w.Record(testCtx(t), testOp("op-sync", "acme", opDay)); err != nil {
			t.Fatal(err)
		}
		if n := totalOps(t, s); n != 2 {
			t.Errorf("%d records after a sync record returned, want 2", n)
		}
	})
}

func TestWriterDailyUsage(t *testing.T) {
	est := time.FixedZone("EST", -5*3600)
	day1 := time.Date(2025, 1, 31, 0, 0, 0, 0, time.UTC)
	day2 := day1.AddDate(0, 0, 1)
	tests := []struct {
		name       string
		op         func(op *Operation)
		want1      map[string]int64 // daily_usage on day1
		want2      map[string]int64 // on day2
		wantStored int64
	}{
		{
			name:  "counted, on At's UTC day",
			op:    func(op *Operation) { op.At = day1.Add(13 * time.Hour) },
			want1: map[string]int64{"acme": 1}, want2: map[string]int64{}, wantStored: 1,
		},
		{
			name: "QuotaDay wins over At at 23:59:59.9",
			op: func(op *Operation) {
				op.At = day1.Add(24*time.Hour - 100*time.Millisecond)
				op.QuotaDay = day2
			},
			want1: map[string]int64{}, want2: map[string]int64{"acme": 1}, wantStored: 1,
		},
		{
			name:  "At in another zone counts on its UTC day",
			op:    func(op *Operation) { op.At = time.Date(2025, 1, 31, 20, 0, 0, 0, est) }, // 01:00 UTC on day2
			want1: map[string]int64{}, want2: map[string]int64{"acme": 1}, wantStored: 1,
		},
		{
			name: "not counted",
			op: func(op *Operation) {
				op.At, op.Counted, op.Outcome, op.Status = day1.Add(time.Hour), false, OutcomeDeniedQuota, 429
			},
			want1: map[string]int64{}, want2: map[string]int64{}, wantStored: 1,
		},
		{
			name: "counted but no tenant",
			op: func(op *Operation) {
				op.At, op.TenantID, op.Outcome, op.Status = day1.Add(time.Hour), "", OutcomeUnauthorized, 401
			},
			want1: map[string]int64{}, want2: map[string]int64{}, wantStored: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestStore(t)
			w := newTestWriter(t, s, WriterOptions{})
			ctx := testCtx(t)
			op := testOp("op1", "acme", opDay)
			tt.op(op)
			if err := w.Record(ctx, op); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if got := usageOn(t, s, day1); !maps.Equal(got, tt.want1) {
				t.Errorf("usage on %s = %v, want %v", Day(day1), got, tt.want1)
			}
			if got := usageOn(t, s, day2); !maps.Equal(got, tt.want2) {
				t.Errorf("usage on %s = %v, want %v", Day(day2), got, tt.want2)
			}
			if n := totalOps(t, s); n != tt.wantStored {
				t.Errorf("%d records stored, want %d (every record is stored, counted or not)", n, tt.wantStored)
			}
		})
	}
}

func TestWriterDailyUsageSumsAcrossBatches(t *testing.T) {
	s := openTestStore(t)
	w := newTestWriter(t, s, WriterOptions{MaxBatch: 3})
	ctx := testCtx(t)
	want := map[string]int64{"acme": 7, "globex": 4}
	i := 0
	for tenant, n := range want {
		for range n {
			i++
			if err := w.Record(ctx, testOp(fmt.Sprint("op", i), tenant, opDay)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(ctx); err != nil { // a second batch adds to the first day's row
			t.Fatal(err)
		}
	}
	if got := usageOn(t, s, opDay); !maps.Equal(got, want) {
		t.Errorf("usage = %v, want %v", got, want)
	}
	if got := usageOn(t, s, opDay.AddDate(0, 0, 1)); len(got) != 0 {
		t.Errorf("usage on the next day = %v, want none", got)
	}
}

func TestWriterRecordIDIsIdempotent(t *testing.T) {
	tests := []struct {
		name         string
		flushBetween bool
	}{
		{"same batch", false},
		{"two batches", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestStore(t)
			w := newTestWriter(t, s, WriterOptions{Interval: time.Hour})
			ctx := testCtx(t)
			first := testOp("op-dup", "acme", opDay)
			again := testOp("op-dup", "acme", opDay)
			again.Path = "/retried"
			if err := w.Record(ctx, first); err != nil {
				t.Fatal(err)
			}
			if tt.flushBetween {
				if err := w.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Record(ctx, again); err != nil {
				t.Fatal(err)
			}
			if err := w.Record(ctx, testOp("op-other", "acme", opDay)); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if n := totalOps(t, s); n != 2 {
				t.Errorf("%d records stored, want 2 (op-dup once)", n)
			}
			if got := usageOn(t, s, opDay)["acme"]; got != 2 {
				t.Errorf("daily usage = %d, want 2: a record written twice was counted twice", got)
			}
			ops, err := s.Operations(ctx, "acme", 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, op := range ops {
				if op.ID == "op-dup" && op.Path != first.Path {
					t.Errorf("stored op-dup has path %q, want the first write's %q", op.Path, first.Path)
				}
			}
		})
	}
}

func TestWriterCloseCommitsEverythingQueued(t *testing.T) {
	const n = 10_000
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.NewWriter(WriterOptions{Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	for i := range n {
		if err := w.Record(ctx, testOp(fmt.Sprint("op", i), "acme", opDay)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := totalOps(t, s); got != n {
		t.Errorf("%d records after Close and reopen, want %d", got, n)
	}
	if got := usageOn(t, s, opDay)["acme"]; got != n {
		t.Errorf("daily usage after reopen = %d, want %d", got, n)
	}
}

func TestWriterAfterClose(t *testing.T) {
	s := openTestStore(t)
	w, err := s.NewWriter(WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"Record", func() error { return w.Record(ctx, testOp("late", "acme", opDay)) }, ErrClosed},
		{"Record in sync mode", func() error { w.SetDurability(true, 0); return w.Record(ctx, testOp("late2", "acme", opDay)) }, ErrClosed},
		{"Flush", func() error { return w.Flush(ctx) }, ErrClosed},
		{"Close again", w.Close, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if n := totalOps(t, s); n != 0 {
		t.Errorf("%d records written after Close", n)
	}
}

func TestWriterConcurrentRecords(t *testing.T) {
	const goroutines, perGoroutine, tenants = 32, 1000, 4
	s := openTestStore(t)
	w := newTestWriter(t, s, WriterOptions{Interval: 5 * time.Millisecond})
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			tenant := fmt.Sprint("t", g%tenants)
			for i := range perGoroutine {
				if err := w.Record(ctx, testOp(fmt.Sprintf("g%d-%d", g, i), tenant, opDay)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := totalOps(t, s); n != goroutines*perGoroutine {
		t.Errorf("%d records, want %d", n, goroutines*perGoroutine)
	}
	want := map[string]int64{}
	for g := range tenants {
		want[fmt.Sprint("t", g)] = goroutines * perGoroutine / tenants
	}
	if got := usageOn(t, s, opDay); !maps.Equal(got, want) {
		t.Errorf("daily usage = %v, want %v", got, want)
	}
}

func TestWriterBackpressure(t *testing.T) {
	t.Run("a writer that cannot keep up loses nothing", func(t *testing.T) {
		const goroutines, perGoroutine, queue = 8, 250, 4
		s := openTestStore(t)
		// One record per transaction: far slower than Record, so the 4-slot queue is full most of the time.
		w := newTestWriter(t, s, WriterOptions{QueueSize: queue, MaxBatch: 1, Interval: time.Millisecond})
		ctx := testCtx(t)
		var wg sync.WaitGroup
		var maxDepth int
		done := make(chan struct{})
		watch := make(chan struct{})
		go func() {
			defer close(watch)
			for {
				select {
				case <-done:
					return
				default:
					maxDepth = max(maxDepth, w.QueueDepth())
					time.Sleep(100 * time.Microsecond)
				}
			}
		}()
		for g := range goroutines {
			wg.Go(func() {
				for i := range perGoroutine {
					if err := w.Record(ctx, testOp(fmt.Sprintf("g%d-%d", g, i), "acme", opDay)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(done)
		<-watch
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if maxDepth > queue {
			t.Errorf("queue depth reached %d, above QueueSize %d", maxDepth, queue)
		}
		if n := totalOps(t, s); n != goroutines*perGoroutine {
			t.Errorf("%d records, want %d", n, goroutines*perGoroutine)
		}
		if got := usageOn(t, s, opDay)["acme"]; got != goroutines*perGoroutine {
			t.Errorf("daily usage %d, want %d", got, goroutines*perGoroutine)
		}
	})

	t.Run("a stalled writer makes Record wait, and a record that gave up waiting is not written", func(t *testing.T) {
		s := openTestStore(t)
		logger, failed := observedLogger()
		w := newTestWriter(t, s, WriterOptions{QueueSize: 4, MaxBatch: 1, Interval: time.Millisecond, Logger: logger})
		unblock := blockCommits(t, s.Path())
		ctx := testCtx(t)
		// The writer holds op0 (failing, retrying); op1-op4 fill the queue.
		if err := w.Record(ctx, testOp("op0", "acme", opDay)); err != nil {
			t.Fatal(err)
		}
		if !waitFor(5*time.Second, func() bool { return failed() > 0 }) {
			t.Fatal("commit never failed")
		}
		for i := 1; i <= 4; i++ {
			if err := w.Record(ctx, testOp(fmt.Sprint("op", i), "acme", opDay)); err != nil {
				t.Fatal(err)
			}
		}
		if d := w.QueueDepth(); d != 4 {
			t.Errorf("QueueDepth = %d, want 4", d)
		}
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		err := w.Record(short, testOp("op-refused", "acme", opDay))
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Record on a full queue = %v, want to wait until its context ends", err)
		}
		unblock()
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if n := totalOps(t, s); n != 5 {
			t.Errorf("%d records, want 5 (op0-op4, not the refused one)", n)
		}
		if got := usageOn(t, s, opDay)["acme"]; got != 5 {
			t.Errorf("daily usage %d, want 5", got)
		}
	})
}

func TestWriterSyncRecordIsVisibleOnReturn(t *testing.T) {
	for _, goroutines := range []int{1, 8} {
		t.Run(fmt.Sprint(goroutines, " goroutines"), func(t *testing.T) {
			s := openTestStore(t)
			// A long interval: sync mode must not wait for it.
			w := newTestWriter(t, s, WriterOptions{Sync: true, Interval: time.Hour})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					tenant := fmt.Sprint("t", g)
					for i := range 50 {
						if err := w.Record(ctx, testOp(fmt.Sprintf("g%d-%d", g, i), tenant, opDay)); err != nil {
							t.Error(err)
							return
						}
						// A fresh read through the read-only pool, right after Record returned.
						if n, err := s.OperationCount(ctx, tenant, ""); err != nil || n != int64(i+1) {
							t.Errorf("%s: %d records visible after the %d-th sync Record returned (%v)", tenant, n, i+1, err)
							return
						}
					}
				})
			}
			wg.Wait()
			if err := w.Flush(ctx); err != nil { // the totals trail the records until flushed
				t.Fatal(err)
			}
			if got := usageOn(t, s, opDay); len(got) != goroutines || got["t0"] != 50 {
				t.Errorf("daily usage = %v, want 50 for each of %d tenants", got, goroutines)
			}
		})
	}
}

func TestWriterSetDurabilitySwitchesModes(t *testing.T) {
	s := openTestStore(t)
	w := newTestWriter(t, s, WriterOptions{Interval: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	steps := []struct {
		name      string
		switchTo  func()
		wantAfter int64 // records visible right after Record returned
	}{
		{"batch, 1h window: queued, not yet visible", func() {}, 0},
		{"sync: visible at once", func() { w.SetDurability(true, 0) }, 2}, // 0: keep the interval
		{"batch again, interval kept: not visible", func() { w.SetDurability(false, 0) }, 2},
		{"sync again", func() { w.SetDurability(true, 0) }, 4},
	}
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if i > 0 {
				// Let the previous batch window close first, so this step sees only the mode it set.
				if err := w.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
			st.switchTo()
			if err := w.Record(ctx, testOp(fmt.Sprint("op", i), "acme", opDay)); err != nil {
				t.Fatal(err)
			}
			if n := totalOps(t, s); n != st.wantAfter {
				t.Errorf("%d records visible after Record returned, want %d", n, st.wantAfter)
			}
		})
	}
	t.Run("a shorter interval applies to the next batch", func(t *testing.T) {
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		w.SetDurability(false, 10*time.Millisecond)
		if err := w.Record(ctx, testOp("op-short", "acme", opDay)); err != nil {
			t.Fatal(err)
		}
		if !waitFor(5*time.Second, func() bool { return totalOps(t, s) == 5 }) {
			t.Errorf("record not committed without Flush after switching to a 10ms interval")
		}
	})
}

// A sync Record made right after switching from batch mode must not sit in the batch window that was already
// open: with a long interval it waits for the whole interval, although SetDurability says it applies to the
// records that follow.
func TestWriterSyncRecordNotHeldByOpenBatchWindow(t *testing.T) {
	s := openTestStore(t)
	w := newTestWriter(t, s, WriterOptions{Interval: time.Hour})
	ctx := testCtx(t)
	if err := w.Record(ctx, testOp("batched", "acme", opDay)); err != nil { // opens a 1h window
		t.Fatal(err)
	}
	// Switch only once the writer has taken the record and is gathering more: nothing to observe that by but
	// the empty queue and a moment for the goroutine to reach its select.
	if !waitFor(5*time.Second, func() bool { return w.QueueDepth() == 0 }) {
		t.Fatal("the writer never took the record")
	}
	time.Sleep(20 * time.Millisecond)
	w.SetDurability(true, 0)
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := w.Record(short, testOp("synced", "acme", opDay)); err != nil {
		t.Fatalf("sync Record after SetDurability(true): %v (held by the batch window opened before the switch)", err)
	}
	if n := totalOps(t, s); n != 2 {
		t.Errorf("%d records visible, want 2", n)
	}
}

func TestWriterRetriesFailedCommitsWithoutDroppingThem(t *testing.T) {
	tests := []struct {
		name string
		sync bool
	}{
		{"batch mode", false},
		{"sync mode", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestStore(t)
			logger, failed := observedLogger()
			w := newTestWriter(t, s, WriterOptions{Sync: tt.sync, Interval: 5 * time.Millisecond, Logger: logger})
			unblock := blockCommits(t, s.Path())
			ctx := testCtx(t)

			// 20 records from concurrent requests while the disk fails; in sync mode each waits for its commit.
			const n = 20
			results := make(chan error, n)
			for i := range n {
				go func() { results <- w.Record(ctx, testOp(fmt.Sprint("op", i), "acme", opDay)) }()
			}
			if !waitFor(5*time.Second, func() bool { return failed() >= 3 }) {
				t.Fatalf("%d failed attempts, want the writer to keep retrying", failed())
			}
			if w.Err() == nil {
				t.Error("Err() = nil while commits fail")
			}
			if c := totalOps(t, s); c != 0 {
				t.Errorf("%d records visible while commits fail: a failed batch was partly committed", c)
			}
			if tt.sync {
				select {
				case err := <-results:
					t.Errorf("sync Record returned %v before its record was committed", err)
				default:
				}
			}

			unblock()
			for range n {
				select {
				case err := <-results:
					if err != nil {
						t.Errorf("Record: %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("Record still waiting after commits recovered")
				}
			}
			flushCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := w.Flush(flushCtx); err != nil {
				t.Fatalf("Flush after recovery: %v", err)
			}
			if c := totalOps(t, s); c != n {
				t.Errorf("%d records after recovery, want %d", c, n)
			}
			if got := usageOn(t, s, opDay)["acme"]; got != n {
				t.Errorf("daily usage %d after retries, want %d (no double count)", got, n)
			}
			if err := w.Err(); err != nil {
				t.Errorf("Err() = %v after recovery, want nil", err)
			}
		})
	}
}

func TestWriterSyncRecordWhoseContextEndsIsStillWritten(t *testing.T) {
	s := openTestStore(t)
	logger, failed := observedLogger()
	w := newTestWriter(t, s, WriterOptions{Sync: true, Logger: logger})
	unblock := blockCommits(t, s.Path())
	short, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- w.Record(short, testOp("op1", "acme", opDay)) }()
	if !waitFor(5*time.Second, func() bool { return failed() > 0 }) {
		t.Fatal("commit never failed")
	}
	cancel() // the client went away
	if err := <-result; !errors.Is(err, context.Canceled) {
		t.Errorf("Record = %v, want context.Canceled", err)
	}
	unblock()
	ctx, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := totalOps(t, s); n != 1 {
		t.Errorf("%d records, want the queued record written although its caller stopped waiting", n)
	}
}

// Graceful stop while the disk is failing and requests wait for room in the queue: Close must not deadlock, and
// once the disk recovers every record is committed.
//
// Bug (writer.go, commitWithRetry): after a failed attempt the writer goroutine takes w.mu.RLock to read
// w.closed. Close waits in w.mu.Lock for a Record that blocks on the full queue while holding w.mu.RLock; a
// pending Lock makes every new RLock wait, so the writer goroutine blocks, never drains the queue, and nothing
// moves again, even after the disk recovers.
func TestWriterCloseDoesNotDeadlockWhileCommitsFailAndRecordsWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	logger, failed := observedLogger()
	w, err := s.NewWriter(WriterOptions{QueueSize: 1, MaxBatch: 1, Interval: time.Millisecond, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	unblock := blockCommits(t, path)
	ctx := testCtx(t)

	if err := w.Record(ctx, testOp("op1", "acme", opDay)); err != nil { // the writer takes it and fails
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool { return failed() > 0 }) {
		t.Fatal("commit never failed")
	}
	// Backoff from here: attempts at about +50ms, +150ms, +350ms, +750ms.
	start := time.Now()
	if err := w.Record(ctx, testOp("op2", "acme", opDay)); err != nil { // fills the queue
		t.Fatal(err)
	}
	third := make(chan error, 1)
	go func() { third <- w.Record(ctx, testOp("op3", "acme", opDay)) }() // waits for room
	time.Sleep(10 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()

	// The disk recovers after the 4th attempt (Close has been waiting through two of them), before the 5th.
	waitFor(700*time.Millisecond-time.Since(start), func() bool { return failed() >= 4 })
	unblock()

	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("Close deadlocked: still waiting 5s after the disk recovered (%d failed attempts, the writer stopped retrying)", failed())
	}
	if err := <-third; err != nil {
		t.Errorf("waiting Record: %v", err)
	}
	defer s.Close()
	if n := totalOps(t, s); n != 3 {
		t.Errorf("%d records after Close, want 3", n)
	}
}

// Close promises to commit everything queued. When it cannot (the disk still fails after the bounded retries
// on closing), the records are dropped and Close must say so: its caller (shared.Destruct) reports its error.
func TestWriterCloseReportsRecordsItCouldNotCommit(t *testing.T) {
	s := openTestStore(t)
	logger, failed := observedLogger()
	w, err := s.NewWriter(WriterOptions{Interval: time.Millisecond, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	blockCommits(t, s.Path()) // never lifted
	ctx := testCtx(t)
	for i := range 3 {
		if err := w.Record(ctx, testOp(fmt.Sprint("op", i), "acme", opDay)); err != nil {
			t.Fatal(err)
		}
	}
	if !waitFor(5*time.Second, func() bool { return failed() > 0 }) {
		t.Fatal("commit never failed")
	}
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	select {
	case err := <-closed:
		if n := totalOps(t, s); n != 0 {
			t.Fatalf("setup: %d records committed through a blocked table", n)
		}
		if err == nil {
			t.Errorf("Close returned nil after giving up on %d queued records (Err() = %v)", 3, w.Err())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not give up within 10s")
	}
}

// TestWriterFinishesRecords: a record's Finish hook runs once, before the record is written (also when the
// first commit fails and is retried), and what it fills in is what is stored and added up; a record that
// cannot be queued is finished by Record; a hook that panics leaves the record written as it stands.
func TestWriterFinishesRecords(t *testing.T) {
	month := opDay.Format("2006-01")
	stored := func(t *testing.T, s *Store) UsageLine {
		t.Helper()
		lines, err := s.MonthlyUsage(context.Background(), "acme", month)
		if err != nil {
			t.Fatal(err)
		}
		var sum UsageLine
		for _, l := range lines {
			sum.Add(l)
			sum.Model = l.Model
		}
		return sum
	}
	priced := func(op *Operation, calls *int) {
		op.Finish = func() {
			*calls++
			op.Model, op.Usage.OutputTokens, op.Cost = "gpt-test", 42, MaxRecordCost+1 // over the cap: Clamp runs after
		}
	}

	t.Run("queued, with a failed first commit", func(t *testing.T) {
		s := openTestStore(t)
		logger, failed := observedLogger()
		w := newTestWriter(t, s, WriterOptions{Interval: 5 * time.Millisecond, Logger: logger})
		unblock := blockCommits(t, s.Path())
		op, calls := testOp("op1", "acme", opDay), 0
		priced(op, &calls)
		if err := w.Record(testCtx(t), op); err != nil {
			t.Fatal(err)
		}
		if !waitFor(5*time.Second, func() bool { return failed() >= 2 }) {
			t.Fatal("the blocked commit was not retried")
		}
		unblock()
		if err := w.Flush(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if calls != 1 {
			t.Errorf("Finish ran %d times, want once", calls)
		}
		if got := stored(t, s); got.Operations != 1 || got.Model != "gpt-test" || got.OutputTokens != 42 || got.Cost != MaxRecordCost {
			t.Errorf("stored %+v, want the finished, capped record", got)
		}
	})
	t.Run("after Close", func(t *testing.T) {
		s := openTestStore(t)
		w := newTestWriter(t, s, WriterOptions{})
		w.Close()
		op, calls := testOp("op1", "acme", opDay), 0
		priced(op, &calls)
		if err := w.Record(testCtx(t), op); !errors.Is(err, ErrClosed) {
			t.Fatalf("Record after Close: %v", err)
		}
		if calls != 1 || op.Cost != MaxRecordCost {
			t.Errorf("Finish ran %d times, cost %d: an unqueued record must be finished by Record", calls, op.Cost)
		}
	})
	t.Run("a hook that panics", func(t *testing.T) {
		s := openTestStore(t)
		core, logs := observer.New(zap.ErrorLevel)
		w := newTestWriter(t, s, WriterOptions{Logger: zap.New(core)})
		op := testOp("op1", "acme", opDay)
		op.Finish = func() { op.Usage.InputTokens = 7; panic("meter bug") }
		if err := w.Record(testCtx(t), op); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if got := stored(t, s); got.Operations != 1 || got.InputTokens != 7 {
			t.Errorf("stored %+v, want the record as the hook left it", got)
		}
		if n := logs.FilterMessage("completing an operation record panicked; recording it as it stands").Len(); n != 1 {
			t.Errorf("%d panic logs, want 1", n)
		}
	})
}

// TestWriterFinishesRecordsWithinTheWindow: the writer finishes records as a group-commit window goes on, a slice
// at a time, rather than all of the window's at its end; they are still committed together, at the window's end.
func TestWriterFinishesRecordsWithinTheWindow(t *testing.T) {
	s := openTestStore(t)
	const window = 4 * time.Second // the first slice ends after 0.5 s
	w := newTestWriter(t, s, WriterOptions{Interval: window})
	var finished sync.WaitGroup
	ops := []*Operation{testOp("op1", "acme", opDay), testOp("op2", "acme", opDay)}
	started := time.Now()
	for _, op := range ops {
		finished.Add(1)
		op.Finish = func() { op.Usage.OutputTokens = 3; finished.Done() }
		if err := w.Record(testCtx(t), op); err != nil {
			t.Fatal(err)
		}
	}
	finished.Wait()
	if n := totalOps(t, s); n != 0 || time.Since(started) >= window {
		t.Fatalf("%d records committed after %v: want them finished within the window, before its commit", n, time.Since(started))
	}
	if err := w.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if n := totalOps(t, s); n != 2 {
		t.Errorf("%d records after Flush, want 2", n)
	}
}
