package aigateway

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/helixgateway/caddy-ai-gateway/handlers"
	"github.com/helixgateway/caddy-ai-gateway/ledger"
	"github.com/helixgateway/caddy-ai-gateway/limits"
	"github.com/helixgateway/caddy-ai-gateway/webhooks"
)

// pool holds one shared state per database file. Caddy provisions a new config before it cleans up the old one,
// so during a reload both hold a reference and the ledger, its writer and the counters carry straight over.
var pool = caddy.NewUsagePool()

// shared is the state that must outlive a config: one writer per database, and the counters that go with it.
type shared struct {
	store    *ledger.Store
	writer   *ledger.Writer
	limiter  *limits.Limiter
	keys     *handlers.Directory
	calls    handlers.OpenCalls // over reloads: a call started under the old config ends under the new one
	pruner   *ledger.Pruner
	throttle *webhooks.Throttle
	stop     chan struct{}

	dispatcherMu   sync.Mutex // held while (re)starting and stopping the dispatcher
	dispatcher     atomic.Pointer[webhooks.Dispatcher]
	dispatcherOpts webhooks.Options
	stopped        chan struct{}
}

func openShared(path string, opts ledger.Options, keyCacheSize int64, logger *zap.Logger) (*shared, error) {
	store, err := ledger.OpenWith(path, opts)
	if err != nil {
		return nil, err
	}
	s := &shared{store: store, limiter: limits.New(nil), throttle: webhooks.NewThrottle(), stop: make(chan struct{}), stopped: make(chan struct{})}
	if s.keys, err = handlers.NewDirectory(store, keyCacheSize); err != nil {
		store.Close()
		return nil, err
	}
	store.OnDeliveries(s.notify)
	if s.writer, err = store.NewWriter(ledger.WriterOptions{Logger: logger.Named("ledger"), OnCommit: handlers.ObserveCommit}); err != nil {
		s.keys.Close()
		store.Close()
		return nil, err
	}
	// A restart must never hand out a fresh quota: today's counts come back from the ledger (NewWriter has
	// added up any records the stored totals missed).
	now := time.Now().UTC()
	usage, err := store.DailyUsage(context.Background(), now)
	if err != nil {
		s.writer.Close()
		s.keys.Close()
		store.Close()
		return nil, fmt.Errorf("reading today's usage from %s: %w", path, err)
	}
	for tenant, used := range usage {
		s.limiter.Seed(tenant, now, used)
	}
	// And a fresh budget neither.
	spend, err := store.MonthlySpend(context.Background(), now)
	if err != nil {
		s.writer.Close()
		s.keys.Close()
		store.Close()
		return nil, fmt.Errorf("reading this month's spend from %s: %w", path, err)
	}
	for tenant, spent := range spend {
		s.limiter.SeedSpend(tenant, now, spent)
	}
	// Nor the same warning twice: the quota and budget events already sent this day and month stay sent. Not
	// reading them costs at most a repeated warning, so it does not stop the start.
	monthStart, _ := webhooks.MonthPeriod(now)
	if fired, err := store.FiredNotices(context.Background(), monthStart); err != nil {
		logger.Warn("reading the quota and budget events already sent; a restart may send them again", zap.Error(err))
	} else {
		handlers.SeedThrottle(s.throttle, fired, now)
	}
	// Retention starts with the defaults; each config's Provision sets its own policy.
	s.pruner = store.NewPruner(ledger.PrunerOptions{Policy: ledger.DefaultRetention, Logger: logger.Named("retention")})
	s.pruner.Start()
	go s.evictIdle(time.Minute)
	logger.Info("ledger opened", zap.String("database", path), zap.Int("tenants_with_usage_today", len(usage)))
	return s, nil
}

// evictIdle keeps memory bounded with many tenants: state is dropped only when nothing is lost by it.
func (s *shared) evictIdle(every time.Duration) {
	defer close(s.stopped)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.limiter.EvictIdle()
		case <-s.stop:
			return
		}
	}
}

// notify hands committed webhook deliveries to the dispatcher.
func (s *shared) notify(ds []webhooks.Delivery) {
	if d := s.dispatcher.Load(); d != nil {
		d.Notify(ds...)
	}
}

// startDispatcher starts the webhook dispatcher, or restarts it when a reload changed its options. One runs at a
// time: two on the same store would deliver twice. A restart leaves nothing behind: pending deliveries are in
// the store, and the new dispatcher schedules them at its start.
func (s *shared) startDispatcher(o webhooks.Options, logger *zap.Logger) error {
	s.dispatcherMu.Lock()
	defer s.dispatcherMu.Unlock()
	if old := s.dispatcher.Load(); old != nil {
		if reflect.DeepEqual(o, s.dispatcherOpts) {
			return nil
		}
		s.dispatcher.Store(nil)
		s.stopDispatcher(old)
	}
	s.dispatcherOpts = o
	o.Logger = logger
	d := webhooks.NewDispatcher(s.store.Webhooks(), o)
	if err := d.Start(context.Background()); err != nil {
		return fmt.Errorf("starting webhook dispatcher: %w", err)
	}
	s.dispatcher.Store(d)
	return nil
}

func (s *shared) stopDispatcher(d *webhooks.Dispatcher) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d.Stop(ctx)
}

// Destruct commits every queued record and closes the database; the pool calls it when the last config lets go.
func (s *shared) Destruct() error {
	close(s.stop)
	<-s.stopped
	s.dispatcherMu.Lock()
	if d := s.dispatcher.Swap(nil); d != nil {
		s.stopDispatcher(d)
	}
	s.dispatcherMu.Unlock()
	s.pruner.Stop()
	err := s.writer.Close()
	s.keys.Close()
	return errors.Join(err, s.store.Close())
}
