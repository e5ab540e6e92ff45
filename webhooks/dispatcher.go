package webhooks

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Options tune a Dispatcher. Zero values take the defaults given.
type Options struct {
	// Workers is how many attempts run at once, over all endpoints. Default 16.
	Workers int
	// PerEndpoint is how many attempts run at once to one endpoint while it is healthy. An endpoint whose last
	// attempt failed, or that has not been tried lately, gets one at a time until an attempt succeeds, so an
	// endpoint that hangs holds one worker however many deliveries it has due. Default 4.
	PerEndpoint int
	// Timeout bounds one attempt: connecting, sending, and reading the answer. Default 15s.
	Timeout time.Duration
	// Schedule: entry i is the delay before attempt i+1, from the previous attempt (the first from the event).
	// Its length is the number of attempts. Default DefaultSchedule.
	Schedule []time.Duration
	// Jitter spreads each delay by ±Jitter (a fraction). Default DefaultJitter (20%); negative for none.
	Jitter float64
	// MaxRetryAfter caps a receiver's Retry-After (on 429 and 503). Default 24h.
	MaxRetryAfter time.Duration
	// DisableAfter disables an endpoint whose attempts have all failed for this long. Default 5 days; negative
	// for never.
	DisableAfter time.Duration
	// AllowPrivateTargets lets webhooks reach loopback and private addresses (Guard.AllowPrivate). Default off.
	AllowPrivateTargets bool
	// Client sends the requests. Default: a Guard's Client, which refuses forbidden addresses at dial time and
	// never follows redirects. A Client given here must do both itself.
	Client *http.Client
	// UserAgent of every request. Default "Helix-Webhooks/1".
	UserAgent string
	// Clock is the Dispatcher's time. Default SystemClock.
	Clock Clock
	// Rand draws the jitter, uniform in [0, 1). Default math/rand/v2.
	Rand   func() float64
	Logger *zap.Logger
}

func (o *Options) defaults() {
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.PerEndpoint <= 0 {
		o.PerEndpoint = 4
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if len(o.Schedule) == 0 {
		o.Schedule = DefaultSchedule
	}
	if o.Jitter == 0 {
		o.Jitter = DefaultJitter
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if o.DisableAfter == 0 {
		o.DisableAfter = 5 * 24 * time.Hour
	}
	if o.Client == nil {
		o.Client = (&Guard{AllowPrivate: o.AllowPrivateTargets}).Client()
	}
	if o.UserAgent == "" {
		o.UserAgent = "Helix-Webhooks/1"
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
}

// storeRetry is how long a delivery waits when the Store failed to answer about it.
const storeRetry = 5 * time.Second

// Dispatcher sends pending deliveries. The Store is the truth; the Dispatcher holds only a schedule, rebuilt
// from the Store by Start, and fed by Notify (new deliveries), RetryNow and ResendFailed. A Dispatcher runs once:
// after Stop, make a new one (on the same Store) to resume.
type Dispatcher struct {
	store Store
	o     Options
	clock Clock
	log   *zap.Logger
	s     *schedule

	run     context.Context // attempts run under it; cancelled when Stop's context ends first
	cancel  context.CancelFunc
	stopped chan struct{} // closed by Stop: the clock loop ends
	wg      sync.WaitGroup
	started atomic.Bool
	stop    sync.Once

	attempts, succeeded, failed atomic.Uint64
}

// NewDispatcher returns a Dispatcher on store; nothing runs until Start.
func NewDispatcher(store Store, o Options) *Dispatcher {
	o.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Dispatcher{
		store: store, o: o, clock: o.Clock, log: o.Logger, s: newSchedule(o.PerEndpoint),
		run: ctx, cancel: cancel, stopped: make(chan struct{}),
	}
}

// Start loads every pending delivery from the Store into the schedule, then starts the workers. Deliveries
// announced with Notify before or during Start are scheduled too (once).
func (d *Dispatcher) Start(ctx context.Context) error {
	if !d.started.CompareAndSwap(false, true) {
		return errors.New("webhook dispatcher already started")
	}
	n := 0
	err := d.store.Pending(ctx, func(due Due) error {
		d.s.add(due.DeliveryID, due.EndpointID, d.firstDue(due))
		n++
		return nil
	})
	if err != nil {
		return fmt.Errorf("loading pending webhook deliveries: %w", err)
	}
	d.log.Info("webhook dispatcher started", zap.Int("pending", n), zap.Int("workers", d.o.Workers))
	d.wg.Add(d.o.Workers + 1)
	go d.clockLoop()
	for range d.o.Workers {
		go d.worker()
	}
	return nil
}

// firstDue applies the schedule's first delay to a delivery never attempted.
func (d *Dispatcher) firstDue(due Due) time.Time {
	if due.Attempts == 0 && d.o.Schedule[0] > 0 {
		if first := due.CreatedAt.Add(d.o.Schedule[0]); first.After(due.NextAttemptAt) {
			return first
		}
	}
	return due.NextAttemptAt
}

// Notify schedules deliveries the ledger has just committed (pending ones; others are ignored). It never blocks
// on the network or the Store, and may be called before Start and after Stop (the deliveries then wait in the
// Store for the next start).
func (d *Dispatcher) Notify(ds ...Delivery) {
	for i := range ds {
		if ds[i].Status == StatusPending || ds[i].Status == "" {
			due := ds[i].due()
			d.s.add(due.DeliveryID, due.EndpointID, d.firstDue(due))
		}
	}
}

// RetryNow makes a delivery pending and due now, whatever its status (a failed one too; a succeeded one is sent
// again), and returns it as stored. ErrNotFound if there is no such delivery, ErrEndpointDisabled if its
// endpoint is disabled.
func (d *Dispatcher) RetryNow(ctx context.Context, deliveryID string) (Delivery, error) {
	dl, err := d.store.Delivery(ctx, deliveryID)
	if err != nil {
		return Delivery{}, err
	}
	if !d.s.hold(deliveryID, dl.EndpointID) {
		// A worker has it: it re-queues the delivery once its attempt is recorded. Requeue here as well, for the
		// answer and its errors.
		return d.store.Requeue(ctx, deliveryID, d.clock.Now())
	}
	now := d.clock.Now()
	dl, err = d.store.Requeue(ctx, deliveryID, now)
	switch {
	case err == nil:
		d.s.unhold(deliveryID, now, true)
	case errors.Is(err, ErrNotFound) || errors.Is(err, ErrEndpointDisabled):
		d.s.unhold(deliveryID, now, false)
	default:
		d.s.unhold(deliveryID, now.Add(storeRetry), true) // the worker finds out what the Store holds
	}
	return dl, err
}

// ResendFailed makes every failed delivery of an endpoint created at or after since pending and due now, and
// returns how many there were. ErrNotFound for an unknown endpoint, ErrEndpointDisabled for a disabled one.
func (d *Dispatcher) ResendFailed(ctx context.Context, endpointID string, since time.Time) (int, error) {
	now := d.clock.Now()
	ds, err := d.store.RequeueFailed(ctx, endpointID, since, now)
	if err != nil {
		return 0, err
	}
	for i := range ds {
		d.s.retried(ds[i].ID, ds[i].EndpointID, now)
	}
	return len(ds), nil
}

// Stop stops taking deliveries, waits for the attempts in flight to be recorded, and returns. If ctx ends first,
// the attempts still in flight are abandoned unrecorded (their deliveries stay pending, due at once, for the next
// start) and ctx's error is returned. Everything not yet attempted stays pending in the Store.
func (d *Dispatcher) Stop(ctx context.Context) error {
	d.stop.Do(func() {
		d.s.stop()
		close(d.stopped)
	})
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		d.cancel()
		return nil
	case <-ctx.Done():
		d.cancel()
		<-done // attempts end promptly once cancelled; store writes are bounded by their own timeout
		return ctx.Err()
	}
}

// Stats is a snapshot of the Dispatcher, for metrics.
type Stats struct {
	Scheduled int    // pending deliveries in the schedule: waiting, due, or being attempted
	InFlight  int    // attempts running now
	Attempts  uint64 // attempts made since start
	Succeeded uint64 // deliveries that succeeded since start
	Failed    uint64 // deliveries that failed for good since start
}

// Stats returns the Dispatcher's counts.
func (d *Dispatcher) Stats() Stats {
	scheduled, running := d.s.counts()
	return Stats{Scheduled: scheduled, InFlight: running, Attempts: d.attempts.Load(),
		Succeeded: d.succeeded.Load(), Failed: d.failed.Load()}
}

// clockLoop moves deliveries from the heap to their lanes when they fall due.
func (d *Dispatcher) clockLoop() {
	defer d.wg.Done()
	t := d.clock.NewTimer(time.Hour)
	t.Stop()
	for {
		now := d.clock.Now()
		next := d.s.release(now)
		if !next.IsZero() {
			t.Reset(next.Sub(now))
		}
		select {
		case <-t.C():
		case <-d.s.wake:
		case <-d.stopped:
			t.Stop()
			return
		}
		t.Stop()
	}
}

func (d *Dispatcher) worker() {
	defer d.wg.Done()
	for {
		it := d.s.take()
		if it == nil {
			return
		}
		d.work(it)
	}
}

// work attempts one delivery and gives it back to the schedule, honouring a manual retry that came in meanwhile.
func (d *Dispatcher) work(it *item) {
	next, pending, healthy := d.deliver(it.id)
	for d.s.finish(it, next, pending, healthy) {
		healthy = nil
		now := d.clock.Now()
		ctx, cancel := storeContext()
		_, err := d.store.Requeue(ctx, it.id, now)
		cancel()
		switch {
		case err == nil:
			next, pending = now, true
		case errors.Is(err, ErrNotFound) || errors.Is(err, ErrEndpointDisabled):
			next, pending = time.Time{}, false
		default:
			d.log.Error("re-queueing webhook delivery", zap.String("delivery", it.id), zap.Error(err))
			next, pending = now.Add(storeRetry), true
		}
	}
}

// storeContext bounds a Store call made by a worker. It does not derive from the run context: an attempt that
// finished must be recorded even while Stop is cutting attempts short.
func storeContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}
