package ledger

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
	"go.uber.org/zap"
)

const insertOperation = `INSERT INTO operations (id, tenant_id, key_id, at, op_type, method, path, status,
		outcome, counted, latency_us, ttfb_us, model, provider, stream, input_tokens, cached_tokens, cache_write_tokens,
		output_tokens, reasoning_tokens, usage_source, interrupted, unpriced, price_input, price_output, price_cached,
		price_cache_write, price_version, cost, quota_day)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("ledger writer closed")

// WriterOptions tune the Writer. Zero values take the defaults given.
type WriterOptions struct {
	Interval  time.Duration // group commit window in batch mode; default 50ms
	Sync      bool          // Record returns only once its record is committed
	QueueSize int           // records waiting to be written before Record blocks (backpressure); default 16384
	MaxBatch  int           // records per transaction at most; default 2048
	// AggregateInterval is how far daily_usage and monthly_usage may trail the records; default 5m.
	// RollupInterval is how far the hourly rollups may; default 5m. MaxPendingBytes writes all of them sooner
	// when the entries waiting (a tenant's hour, model and operation type each) take about that much memory;
	// default 12 MiB.
	AggregateInterval time.Duration
	RollupInterval    time.Duration
	MaxPendingBytes   int
	Logger            *zap.Logger
	// OnCommit, if set, is called after every commit attempt with its records, duration and error (metrics).
	OnCommit func(records int, d time.Duration, err error)
}

// Writer is the ledger's single batched writer: records are queued by the request path and committed many per
// transaction (group commit) by one goroutine, which is what lets SQLite keep up with a busy gateway.
type Writer struct {
	store    *Store
	queue    chan item
	urgent   chan struct{} // ends a group-commit window early: a caller waits, a batch is full, or Close
	mu       sync.RWMutex  // held for reading while enqueueing; Close takes it to stop new records
	closed   bool
	closing  atomic.Bool  // set before Close waits for mu, so a failing writer can give up instead of deadlocking
	lost     atomic.Int64 // records given up on while closing with a failing database
	sync     atomic.Bool
	interval atomic.Int64
	maxBatch int
	log      *zap.Logger
	onCommit func(int, time.Duration, error)
	outbox   outbox
	stopped  chan struct{}
	failing  atomic.Pointer[error] // the last commit error while commits fail, nil when healthy

	stmts driverStmts // the insert and the totals' upserts, on the driver connection

	// The totals of committed records not yet written (aggregate.go), and the seqs of the last record
	// committed and of the last one the stored totals include. Only the writer goroutine touches them.
	pending                           aggregates
	lastSeq, aggregatedSeq, rollupSeq int64
	aggInterval, rollupInterval       time.Duration
	maxPending                        int
	pause                             func(time.Duration) // between the slices of a paced write of the totals
	fresh                             []*Operation        // the records a batch inserted (not already present)
}

// pauseTotals pauses a paced write of the totals between its slices (a variable for tests).
var pauseTotals = time.Sleep

// item is a record to write or, with a nil op, a flush barrier; done, if set, receives the commit's result.
type item struct {
	op   *Operation
	done chan error
}

// NewWriter starts the writer goroutine. Close it before closing the Store.
func (s *Store) NewWriter(o WriterOptions) (*Writer, error) {
	if o.Interval <= 0 {
		o.Interval = 50 * time.Millisecond
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 16384
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 2048
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.AggregateInterval <= 0 {
		o.AggregateInterval = DefaultAggregateInterval
	}
	if o.RollupInterval <= 0 {
		o.RollupInterval = DefaultRollupInterval
	}
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = DefaultMaxPendingBytes
	}
	w := &Writer{store: s, queue: make(chan item, o.QueueSize), urgent: make(chan struct{}, 1), maxBatch: o.MaxBatch,
		log: o.Logger, onCommit: o.OnCommit, outbox: outbox{hooks: s.Webhooks()}, stopped: make(chan struct{}),
		aggInterval: o.AggregateInterval, rollupInterval: o.RollupInterval, maxPending: o.MaxPendingBytes, pause: pauseTotals}
	w.SetDurability(o.Sync, o.Interval)
	if err := w.withConn(func(d *driverStmts) error { // fail at start, not at the first write, on a bad statement
		for _, q := range []string{insertOperation, addDailyUsage, addMonthlyUsage, rollupSQL.getTenant, rollupSQL.putTenant,
			rollupSQL.getAll, rollupSQL.putAll} {
			if _, err := d.stmt(q); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		w.closeStmts()
		return nil, err
	}
	if n, err := w.replay(context.Background()); err != nil {
		w.closeStmts()
		return nil, fmt.Errorf("adding up the records after the stored totals: %w", err)
	} else if n > 0 {
		w.log.Info("added up records the totals missed (the last run ended without writing them)", zap.Int("records", n))
	}
	go w.run()
	return w, nil
}

// SetDurability switches between group commit every interval and synchronous records; it applies to the
// records that follow, so a config reload can change it without a restart.
func (w *Writer) SetDurability(sync bool, interval time.Duration) {
	w.sync.Store(sync)
	if interval > 0 {
		w.interval.Store(int64(interval))
	}
}

// Record queues op. In batch mode it returns once op is queued (blocking while the queue is full); in sync
// mode, once op is committed. It returns ctx's error if ctx ends first; a queued record is written regardless.
//
// A record with a Finish hook is completed by the writer before its first commit attempt (or, if it cannot
// be queued, here before Record returns); otherwise the writer only reads a queued record.
func (w *Writer) Record(ctx context.Context, op *Operation) error {
	if op.Finish == nil {
		op.Clamp() // here, in the caller's goroutine
	}
	it := item{op: op}
	if w.sync.Load() {
		it.done = make(chan error, 1)
	}
	return w.enqueue(ctx, it)
}

// Flush waits until every record queued before it is committed and included in the stored totals.
func (w *Writer) Flush(ctx context.Context) error {
	return w.enqueue(ctx, item{done: make(chan error, 1)})
}

func (w *Writer) enqueue(ctx context.Context, it item) error {
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		w.finishUnqueued(it)
		return ErrClosed
	}
	select {
	case w.queue <- it:
	case <-ctx.Done():
		w.mu.RUnlock()
		w.finishUnqueued(it)
		return ctx.Err()
	}
	if it.done != nil || len(w.queue) >= w.maxBatch-1 { // the writer holds a window's first record
		w.poke()
	}
	w.mu.RUnlock()
	if it.done == nil {
		return nil
	}
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finishUnqueued completes a record the writer will not see, so that what its hook settles (a call's spend)
// is settled all the same.
func (w *Writer) finishUnqueued(it item) {
	if it.op != nil {
		it.op.finish(w.log)
	}
}

// poke ends the writer's group-commit window early (a token already waiting will do).
func (w *Writer) poke() {
	select {
	case w.urgent <- struct{}{}:
	default:
	}
}

// QueueDepth is the number of records waiting to be written.
func (w *Writer) QueueDepth() int { return len(w.queue) }

// Err is the last commit error while commits are failing (a full disk, a read-only file), nil when healthy.
func (w *Writer) Err() error {
	if p := w.failing.Load(); p != nil {
		return *p
	}
	return nil
}

// Close stops accepting records, commits everything queued, and stops the goroutine.
func (w *Writer) Close() error {
	w.closing.Store(true)
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.stopped
		return nil
	}
	w.closed = true
	close(w.queue)
	w.poke()
	w.mu.Unlock()
	<-w.stopped
	err := w.closeStmts()
	if n := w.lost.Load(); n > 0 {
		err = errors.Join(fmt.Errorf("%d operation records could not be committed: %w", n, w.Err()), err)
	}
	return err
}

func (w *Writer) run() {
	defer close(w.stopped)
	batch := make([]item, 0, w.maxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	slice := time.NewTicker(time.Hour)
	slice.Stop()
	totals := time.NewTicker(w.aggInterval / 4) // writes the totals of an idle writer, at most a quarter late
	defer totals.Stop()
	for {
		var first item
		select {
		case it, ok := <-w.queue:
			if !ok {
				w.finish()
				return
			}
			first = it
		case <-totals.C:
			w.writeDueTotals()
			continue
		}
		batch = append(batch[:0], first)
		finished := 0 // how many of the batch's records are finished (their Finish hooks run)
		if first.done == nil && len(w.queue) < w.maxBatch-1 && !w.closing.Load() {
			// Group commit: let what arrives within the interval queue up, so a busy gateway writes many
			// records per transaction. The records do not wake the writer (a wake per request cost the
			// scheduler, and often a futex call, on every request); anything someone waits for (a sync
			// record, a flush barrier), a full batch or Close ends the window early through urgent, and
			// no window starts with a full batch waiting or while closing.
			//
			// Meanwhile the writer finishes what has queued every slice of the window: the hooks meter and
			// price the calls, and run all together at the window's end they would take a core for every
			// call of the window in one go, while requests wait for it.
			interval := time.Duration(w.interval.Load())
			timer.Reset(interval)
			slice.Reset(max(interval/finishSlices, time.Millisecond))
		window:
			for {
				select {
				case <-w.urgent:
					break window
				case <-timer.C:
					break window
				case <-slice.C:
					batch = w.take(batch)
					finished = w.finishFrom(batch, finished)
					if len(batch) >= w.maxBatch {
						break window
					}
				}
			}
			timer.Stop()
			slice.Stop()
		}
		// Take what is queued: the window's records, or in sync mode the group commit.
		batch = w.take(batch)
		w.finishFrom(batch, finished)
		err := w.commitWithRetry(batch)
		barrier := false
		for _, it := range batch {
			barrier = barrier || it.op == nil
		}
		var totalsErr error
		switch {
		case err != nil:
		case barrier:
			totalsErr = w.writeAggregates(nil) // someone waits
		default:
			w.writeDueTotals()
		}
		for _, it := range batch {
			switch {
			case it.done == nil:
			case it.op == nil: // a Flush: the records and their totals
				it.done <- errors.Join(err, totalsErr)
			default:
				it.done <- err
			}
		}
		clear(batch) // drop references to committed records
	}
}

// finishSlices is how many times in a group-commit window the writer finishes the records queued so far.
const finishSlices = 8

// take moves what is queued into batch, up to a full batch.
func (w *Writer) take(batch []item) []item {
	for len(batch) < w.maxBatch {
		select {
		case it, ok := <-w.queue:
			if !ok {
				return batch
			}
			batch = append(batch, it)
		default:
			return batch
		}
	}
	return batch
}

// finishFrom finishes batch's records from index done on, and returns how many are finished.
func (w *Writer) finishFrom(batch []item, done int) int {
	for _, it := range batch[done:] {
		if it.op != nil {
			it.op.finish(w.log)
		}
	}
	return len(batch)
}

// writeDueTotals writes the totals that are due: all of them, or the quota and billing increments. With batch
// durability the write is paced (pacedRunner): nobody waits for it, and requests share the CPU with it.
func (w *Writer) writeDueTotals() {
	var pause func(time.Duration)
	if !w.sync.Load() {
		pause = w.pause
	}
	switch {
	case w.aggregatesDue():
		w.writeAggregates(pause)
	case w.quotaDue():
		if err := w.flushTotals(false, pause); err != nil {
			w.log.Error("writing usage totals", zap.Error(err), zap.Int("rows", w.pending.size()))
		}
	}
}

// writeAggregates writes the pending totals, paced with pause if not nil, logging a failure; they stay pending
// for the next attempt.
func (w *Writer) writeAggregates(pause func(time.Duration)) error {
	rows := w.pending.size()
	if err := w.flushTotals(true, pause); err != nil {
		w.log.Error("writing usage totals", zap.Error(err), zap.Int("rows", rows))
		return err
	}
	return nil
}

// finish writes the last totals when the writer stops. If that fails nothing is lost: the records are
// committed, and the next start adds them up again.
func (w *Writer) finish() {
	backoff := 50 * time.Millisecond
	for attempt := 1; attempt <= 5; attempt++ {
		if w.writeAggregates(nil) == nil {
			return
		}
		time.Sleep(backoff)
		backoff *= 2
	}
	w.log.Warn("usage totals not written at shutdown; the next start adds up their records again",
		zap.Int64("after_seq", w.aggregatedSeq))
}

// commitWithRetry never drops a batch while the gateway runs: a failing disk stalls the writer, the queue fills,
// and Record applies backpressure. Once closing, it gives up after a bounded number of attempts.
func (w *Writer) commitWithRetry(batch []item) error {
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		started := time.Now()
		w.outbox.deliveries = w.outbox.deliveries[:0]
		err := w.commit(batch)
		if w.onCommit != nil {
			n := 0
			for _, it := range batch {
				if it.op != nil {
					n++
				}
			}
			w.onCommit(n, time.Since(started), err)
		}
		if err == nil {
			w.store.announceDeliveries(w.outbox.deliveries)
		}
		if err == nil {
			if w.failing.Load() != nil {
				w.failing.Store(nil)
				w.log.Info("ledger writes recovered", zap.Int("attempts", attempt))
			}
			return nil
		}
		w.failing.Store(&err)
		w.log.Error("committing operation records", zap.Error(err), zap.Int("records", len(batch)), zap.Int("attempt", attempt))
		if w.closing.Load() && attempt >= 5 {
			n := 0
			for _, it := range batch {
				if it.op != nil {
					n++
				}
			}
			w.lost.Add(int64(n))
			w.log.Error("giving up on operation records at shutdown", zap.Int("records", n), zap.Error(err))
			return fmt.Errorf("giving up on %d operation records: %w", n, err)
		}
		time.Sleep(backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
}

// addDailyUsage and addMonthlyUsage add to a day's quota count and a month's bill.
const (
	addDailyUsage = `INSERT INTO daily_usage (tenant_id, day, operations) VALUES (?, ?, ?)
		ON CONFLICT (tenant_id, day) DO UPDATE SET operations = operations + excluded.operations`
	addMonthlyUsage = `INSERT INTO monthly_usage (tenant_id, month, op_type, model, operations, input_tokens,
		cached_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, month, op_type, model) DO UPDATE SET operations = operations + excluded.operations,
		input_tokens = input_tokens + excluded.input_tokens, cached_tokens = cached_tokens + excluded.cached_tokens,
		cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
		output_tokens = output_tokens + excluded.output_tokens, reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
		cost = cost + excluded.cost`
)

// withConn runs fn with the writer's statements on the pool's one driver connection.
func (w *Writer) withConn(fn func(d *driverStmts) error) error {
	conn, err := w.store.w.Conn(context.Background())
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("ledger connection is a %T, not go-sqlite3's", dc)
		}
		defer w.stmts.release()
		return fn(w.stmts.on(c))
	})
}

// inTx runs fn in one transaction on the driver connection, committed if fn succeeds.
func (w *Writer) inTx(fn func(d *driverStmts) error) error {
	return w.withConn(func(d *driverStmts) error {
		tx, err := d.conn.BeginTx(context.Background(), driver.TxOptions{})
		if err != nil {
			return err
		}
		if err := fn(d); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	})
}

// commit writes a batch of records in one transaction.
func (w *Writer) commit(batch []item) error {
	ctx := context.Background()
	fresh, lastSeq := w.fresh[:0], w.lastSeq
	err := w.inTx(func(d *driverStmts) error {
		for _, it := range batch {
			op := it.op
			if op == nil {
				continue
			}
			values := insertValues(op)
			res, err := d.exec(ctx, insertOperation, values[:]...)
			if err != nil {
				return fmt.Errorf("inserting operation %s: %w", op.ID, err)
			}
			// A record already written (a retried batch) must not count twice.
			if n, _ := res.RowsAffected(); n != 1 {
				continue
			}
			if seq, err := res.LastInsertId(); err == nil {
				lastSeq = max(lastSeq, seq)
			}
			fresh = append(fresh, op)
			if err := w.outbox.add(ctx, rawExec{d.conn}, op); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		clear(fresh)
		return err
	}
	for _, op := range fresh {
		w.pending.add(op, true)
	}
	clear(fresh)
	w.fresh, w.lastSeq = fresh[:0], lastSeq
	return nil
}

// insertValues are op's columns, in insertOperation's order.
func insertValues(op *Operation) [30]driver.Value {
	u, p := &op.Usage, &op.Price
	return [...]driver.Value{op.ID, op.TenantID, op.KeyID, op.At.UnixNano(), op.Type, op.Method, op.Path,
		int64(op.Status), op.Outcome, op.Counted, op.Latency.Microseconds(), op.TTFB.Microseconds(), op.Model,
		op.Provider, op.Stream, u.InputTokens, u.CachedTokens, u.CacheWriteTokens, u.OutputTokens, u.ReasoningTokens,
		u.Source, u.Interrupted, p.Unpriced, p.Input, p.Output, p.Cached, p.CacheWrite, p.Version, op.Cost,
		storedQuotaDay(op)}
}

// rawExec runs statements on the driver connection inside commit's transaction, for the outbox.
type rawExec struct{ c *sqlite3.SQLiteConn }

func (r rawExec) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		v, err := driver.DefaultParameterConverter.ConvertValue(a)
		if err != nil {
			return nil, fmt.Errorf("argument %d of %q: %w", i+1, query, err)
		}
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return r.c.ExecContext(ctx, query, named)
}

// closeStmts closes the prepared statements.
func (w *Writer) closeStmts() error { return w.stmts.close(w.store.w) }
