package ledger

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

// DefaultOperationRetention is how long raw operation records are kept unless configured otherwise.
const DefaultOperationRetention = 90 * 24 * time.Hour

// DefaultWebhookRetention is how long webhook events, their deliveries and attempts are kept unless configured
// otherwise.
const DefaultWebhookRetention = 30 * 24 * time.Hour

// RetentionPolicy says how long data is kept; zero or less keeps it forever. Billing data (daily and monthly
// usage, invoices) is never pruned: invoices are built from monthly usage, not from the records.
type RetentionPolicy struct {
	Operations time.Duration // raw operation records, by the time the request arrived
	Rollups    time.Duration // hourly analytics, by their hour
	Webhooks   time.Duration // webhook events with their deliveries and attempts, by the event's time
}

// DefaultRetention keeps operation records 90 days, webhook events 30 days and rollups forever.
var DefaultRetention = RetentionPolicy{Operations: DefaultOperationRetention, Webhooks: DefaultWebhookRetention}

// PruneOperations deletes operation records that arrived before before, batch records per transaction, and
// returns how many it deleted. Each batch is a short transaction on the writer's connection, so the Writer
// waits at most one batch; between batches it gets the connection back. Records are found through the index
// on at, so a pass never scans the table. It never deletes the records the stored totals do not include yet
// (aggregate.go: those past aggregated_seq or rollup_seq), nor the last record: that keeps new seqs above
// both, as SQLite numbers a new row one past the largest present.
func (s *Store) PruneOperations(ctx context.Context, before time.Time, batch int) (deleted int64, err error) {
	if batch <= 0 {
		batch = 5000
	}
	for {
		res, err := s.w.ExecContext(ctx, pruneOperationsQuery, before.UnixNano(), batch)
		if err != nil {
			return deleted, err
		}
		n, _ := res.RowsAffected()
		deleted += n
		if n < int64(batch) {
			return deleted, nil
		}
	}
}

const pruneOperationsQuery = `DELETE FROM operations WHERE seq IN
	(SELECT seq FROM operations WHERE at < ?
		AND seq <= (SELECT min(value) FROM ledger_state WHERE name IN ('aggregated_seq', 'rollup_seq'))
		AND seq < (SELECT max(seq) FROM operations) LIMIT ?)`

// PruneRollups deletes the hourly rollups of the hours that started before before (rounded down to the hour,
// so an hour is kept while any of it is within retention), batch rows per transaction.
func (s *Store) PruneRollups(ctx context.Context, before time.Time, batch int) (deleted int64, err error) {
	if batch <= 0 {
		batch = 5000
	}
	hour := hourOf(before)
	for _, q := range []string{
		`DELETE FROM hourly_usage WHERE (tenant_id, hour, model, op_type) IN
			(SELECT tenant_id, hour, model, op_type FROM hourly_usage WHERE hour < ? LIMIT ?)`,
		`DELETE FROM hourly_usage_all WHERE (hour, model, op_type) IN
			(SELECT hour, model, op_type FROM hourly_usage_all WHERE hour < ? LIMIT ?)`,
	} {
		for {
			res, err := s.w.ExecContext(ctx, q, hour, batch)
			if err != nil {
				return deleted, err
			}
			n, _ := res.RowsAffected()
			deleted += n
			if n < int64(batch) {
				break
			}
		}
	}
	return deleted, nil
}

// PruneWebhooks deletes the webhook events that happened before before, with their deliveries and the
// deliveries' attempts, batch events per transaction, and returns how many events it deleted. An event with a
// delivery still pending stays until the delivery succeeds or fails for good.
func (s *Store) PruneWebhooks(ctx context.Context, before time.Time, batch int) (deleted int64, err error) {
	if batch <= 0 {
		batch = 5000
	}
	for {
		n, err := s.pruneWebhooksBatch(ctx, nanos(before), batch)
		deleted += n
		if err != nil || n < int64(batch) {
			return deleted, err
		}
	}
}

// pruneWebhooksQuery picks a batch of events to prune, as a JSON array of ids, oldest first through the index on
// at, and the pending check through the index on event_id.
const pruneWebhooksQuery = `SELECT coalesce(json_group_array(id), '[]') FROM (SELECT id FROM webhook_events e
	WHERE at < ? AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
	ORDER BY at LIMIT ?)`

func (s *Store) pruneWebhooksBatch(ctx context.Context, before int64, batch int) (int64, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var ids string
	if err := tx.QueryRowContext(ctx, pruneWebhooksQuery, before, batch).Scan(&ids); err != nil {
		return 0, err
	}
	// The attempts go with their deliveries (ON DELETE CASCADE).
	if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE event_id IN (SELECT value FROM json_each(?))`, ids); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM webhook_events WHERE id IN (SELECT value FROM json_each(?))`, ids)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return n, tx.Commit()
}

// Pruned is what one pass of Prune deleted.
type Pruned struct {
	Operations, Rollups, WebhookEvents int64
}

// Prune applies policy as of now.
func (s *Store) Prune(ctx context.Context, now time.Time, policy RetentionPolicy, batch int) (Pruned, error) {
	var p Pruned
	var err error
	if policy.Operations > 0 {
		if p.Operations, err = s.PruneOperations(ctx, now.Add(-policy.Operations), batch); err != nil {
			return p, err
		}
	}
	if policy.Rollups > 0 {
		if p.Rollups, err = s.PruneRollups(ctx, now.Add(-policy.Rollups), batch); err != nil {
			return p, err
		}
	}
	if policy.Webhooks > 0 {
		p.WebhookEvents, err = s.PruneWebhooks(ctx, now.Add(-policy.Webhooks), batch)
	}
	return p, err
}

// PrunerOptions tune a Pruner. Zero values take the defaults given.
type PrunerOptions struct {
	Policy   RetentionPolicy // default: none (keep everything); use DefaultRetention for the defaults
	Interval time.Duration   // between passes; default 1h. The first pass runs at Start.
	Batch    int             // rows per delete transaction; default 5000
	Logger   *zap.Logger
	Now      func() time.Time // default time.Now
}

// Pruner applies a retention policy in the background.
type Pruner struct {
	store *Store
	batch int
	log   *zap.Logger
	now   func() time.Time

	mu       sync.Mutex
	policy   RetentionPolicy
	interval time.Duration
	cancel   context.CancelFunc
	stopped  chan struct{}
}

// NewPruner makes a Pruner for s; Start starts it.
func (s *Store) NewPruner(o PrunerOptions) *Pruner {
	if o.Interval <= 0 {
		o.Interval = time.Hour
	}
	if o.Batch <= 0 {
		o.Batch = 5000
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Pruner{store: s, interval: o.Interval, batch: o.Batch, log: o.Logger, now: o.Now, policy: o.Policy}
}

// SetPolicy changes the policy from the next pass on (a config reload).
func (p *Pruner) SetPolicy(policy RetentionPolicy) {
	p.mu.Lock()
	p.policy = policy
	p.mu.Unlock()
}

// SetInterval changes the time between passes from the next wait on; zero or less keeps it.
func (p *Pruner) SetInterval(d time.Duration) {
	if d > 0 {
		p.mu.Lock()
		p.interval = d
		p.mu.Unlock()
	}
}

// Start runs a pass now and then every interval, until Stop. Starting a started Pruner does nothing.
func (p *Pruner) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.stopped = cancel, make(chan struct{})
	go p.run(ctx, p.stopped)
}

// Stop ends the background passes, interrupting one that runs, and waits for it. Stop it before closing the Store.
func (p *Pruner) Stop() {
	p.mu.Lock()
	cancel, stopped := p.cancel, p.stopped
	p.cancel = nil
	p.mu.Unlock()
	if cancel != nil {
		cancel()
		<-stopped
	}
}

func (p *Pruner) run(ctx context.Context, stopped chan struct{}) {
	defer close(stopped)
	for {
		p.Run(ctx)
		p.mu.Lock()
		wait := time.NewTimer(p.interval)
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			wait.Stop()
			return
		case <-wait.C:
		}
	}
}

// Run does one pass with the current policy and reports what it deleted.
func (p *Pruner) Run(ctx context.Context) (Pruned, error) {
	p.mu.Lock()
	policy := p.policy
	p.mu.Unlock()
	started := time.Now()
	pruned, err := p.store.Prune(ctx, p.now(), policy, p.batch)
	if err != nil && ctx.Err() == nil {
		p.log.Error("pruning old records", zap.Error(err), zap.Int64("operations", pruned.Operations),
			zap.Int64("rollups", pruned.Rollups), zap.Int64("webhook_events", pruned.WebhookEvents))
	} else if pruned.Operations > 0 || pruned.Rollups > 0 || pruned.WebhookEvents > 0 {
		p.log.Info("pruned old records", zap.Int64("operations", pruned.Operations), zap.Int64("rollups", pruned.Rollups),
			zap.Int64("webhook_events", pruned.WebhookEvents), zap.Duration("took", time.Since(started)))
	}
	return pruned, err
}
