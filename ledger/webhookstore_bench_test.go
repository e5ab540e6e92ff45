package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helixgateway/caddy-ai-gateway/webhooks"
)

// Webhook delivery through the production store: the dispatcher reads every delivery, endpoint and event from
// SQLite's read pool and commits every attempt on the single writer connection. Run them bounded, e.g.
//
//	CGO_ENABLED=1 go test ./ledger -run '^$' -bench 'Webhook|DeadEndpoint' -benchtime=20000x
//	CGO_ENABLED=1 go test ./ledger -run '^$' -bench DeadEndpointIsolationSQLite -benchtime=200x

// benchHookStore is the real webhooks.Store with a hook after every committed attempt, so a benchmark waits
// for the commit itself instead of polling, and with the wall time of the calls a delivery makes: the three
// reads before the attempt (Delivery, Endpoint, Event) and RecordAttempt after it (waiting for the writer
// connection included).
type benchHookStore struct {
	*WebhookStore
	recorded func(webhooks.AttemptResult)
	t        *storeTimes
}

type storeTimes struct {
	reads, readN, record, recordN atomic.Int64
}

func (t *storeTimes) report(b *testing.B) {
	if n := t.readN.Load(); n > 0 {
		b.ReportMetric(float64(t.reads.Load())/float64(n)/1e3, "read-us/call")
	}
	if n := t.recordN.Load(); n > 0 {
		b.ReportMetric(float64(t.record.Load())/float64(n)/1e3, "record-us/call")
	}
}

func (s benchHookStore) read(start time.Time) {
	s.t.reads.Add(int64(time.Since(start)))
	s.t.readN.Add(1)
}

func (s benchHookStore) Delivery(ctx context.Context, id string) (webhooks.Delivery, error) {
	defer s.read(time.Now())
	return s.WebhookStore.Delivery(ctx, id)
}

func (s benchHookStore) Endpoint(ctx context.Context, id string) (webhooks.Endpoint, error) {
	defer s.read(time.Now())
	return s.WebhookStore.Endpoint(ctx, id)
}

func (s benchHookStore) Event(ctx context.Context, id string) (webhooks.Event, error) {
	defer s.read(time.Now())
	return s.WebhookStore.Event(ctx, id)
}

func (s benchHookStore) RecordAttempt(ctx context.Context, r webhooks.AttemptResult) error {
	start := time.Now()
	err := s.WebhookStore.RecordAttempt(ctx, r)
	s.t.record.Add(int64(time.Since(start)))
	s.t.recordN.Add(1)
	if err == nil && s.recorded != nil {
		s.recorded(r)
	}
	return err
}

func openWebhookBenchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "helix.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// addBenchEvents writes n events, each with one delivery to eps[i%len(eps)], the way the ledger's outbox does
// (one transaction per event), and returns the deliveries without announcing them.
func addBenchEvents(b *testing.B, ws *WebhookStore, n int, eps []webhooks.Endpoint) []webhooks.Delivery {
	b.Helper()
	out := make([]webhooks.Delivery, 0, n)
	for i := range n {
		ev, ds, err := benchEvent(i, eps[i%len(eps)])
		if err == nil {
			err = ws.AddEvent(context.Background(), ev, ds)
		}
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, ds...)
	}
	return out
}

// benchEvent is an operation.completed event of a realistic size with its one delivery to ep.
func benchEvent(i int, ep webhooks.Endpoint) (webhooks.Event, []webhooks.Delivery, error) {
	ev, err := webhooks.NewEvent(webhooks.EventOperationCompleted, ep.TenantID,
		map[string]any{"operation_id": fmt.Sprintf("op_%d", i), "model": "gpt-4o-mini", "input_tokens": 812, "output_tokens": 143},
		time.Now())
	if err != nil {
		return ev, nil, err
	}
	return ev, webhooks.Deliveries(ev, []webhooks.Endpoint{ep}), nil
}

func createBenchEndpoint(b *testing.B, ws *WebhookStore, url string) webhooks.Endpoint {
	b.Helper()
	ep, err := webhooks.NewEndpoint("acme", url, nil, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := ws.CreateEndpoint(context.Background(), ep); err != nil {
		b.Fatal(err)
	}
	return ep
}

func countDeliveries(b *testing.B, s *Store, status webhooks.Status) int {
	b.Helper()
	var n int
	if err := s.r.QueryRow(`SELECT count(*) FROM webhook_deliveries WHERE status = ?`, string(status)).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkWebhookDeliveriesSQLite is deliveries per second to fast loopback receivers (one httptest server per
// endpoint, answering 204), counted when the attempt's RecordAttempt has committed. One op is one delivery;
// with 8 endpoints they are spread evenly. Dispatcher options are the defaults (16 workers, 4 per endpoint).
//
//   - preloaded: b.N events are in the outbox before the timer; Notify announces them all at once.
//   - live: a producer writes the events (AddEvent, one transaction each, like the outbox) and announces them
//     while the dispatcher delivers, so outbox inserts and attempt commits share the writer connection.
func BenchmarkWebhookDeliveriesSQLite(b *testing.B) {
	for _, endpoints := range []int{1, 8} {
		for _, mode := range []string{"preloaded", "live"} {
			b.Run(fmt.Sprintf("endpoints=%d/%s", endpoints, mode), func(b *testing.B) {
				benchDeliveriesSQLite(b, endpoints, mode == "live")
			})
		}
	}
}

func benchDeliveriesSQLite(b *testing.B, endpoints int, live bool) {
	s := openWebhookBenchStore(b)
	ws := s.Webhooks()
	var received atomic.Int64
	var eps []webhooks.Endpoint
	for range endpoints {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			received.Add(1)
			w.WriteHeader(http.StatusNoContent)
		}))
		b.Cleanup(srv.Close)
		eps = append(eps, createBenchEndpoint(b, ws, srv.URL+"/hook"))
	}

	var ok atomic.Int64
	done := make(chan struct{})
	store := benchHookStore{WebhookStore: ws, t: &storeTimes{}, recorded: func(r webhooks.AttemptResult) {
		if r.Status == webhooks.StatusSucceeded && ok.Add(1) == int64(b.N) {
			close(done)
		}
	}}
	d := webhooks.NewDispatcher(store, webhooks.Options{AllowPrivateTargets: true, Timeout: 5 * time.Second})
	if err := d.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		d.Stop(ctx)
	})

	var ds []webhooks.Delivery
	if !live {
		ds = addBenchEvents(b, ws, b.N, eps)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if live {
		go func() {
			for i := range b.N {
				ev, ds, err := benchEvent(i, eps[i%len(eps)])
				if err == nil {
					err = ws.AddEvent(context.Background(), ev, ds)
				}
				if err != nil {
					b.Error(err)
					return
				}
				d.Notify(ds...)
			}
		}()
	} else {
		d.Notify(ds...)
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("timed out: %d of %d deliveries recorded as succeeded (%+v)", ok.Load(), b.N, d.Stats())
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
	store.t.report(b)
	if n := countDeliveries(b, s, webhooks.StatusSucceeded); n != b.N {
		b.Fatalf("%d deliveries succeeded in the store, want %d", n, b.N)
	}
	if st := d.Stats(); st.Attempts != uint64(b.N) || received.Load() != int64(b.N) {
		b.Fatalf("%d attempts, %d received, want %d each", st.Attempts, received.Load(), b.N)
	}
}

// BenchmarkDeadEndpointIsolationSQLite is the latency of one delivery to a healthy endpoint, alone and beside a
// dead endpoint of the same tenant with 2,000 deliveries due. One op is one event to the healthy endpoint,
// announced with Notify and awaited before the next. Reported, in microseconds (us):
//
//   - recv-p50/p99: from Notify to the healthy receiver's handler;
//   - rec-p50/p99: from Notify to the attempt's RecordAttempt having committed.
//
// Dead endpoints:
//
//   - hang: a listener that accepts and never answers. The dead lane is unhealthy, so it holds one worker (for
//     the attempt timeout, 15 s, longer than the run) and its other 1,999 deliveries wait in its lane.
//   - refuse: a closed port. Every attempt fails at once, is committed on the writer (a failed attempt, a retry
//     in 5 s), and the lane takes the next: the dead endpoint churns through its 2,000 deliveries, one at a
//     time, during the measurement, competing for the writer connection. dead-attempts/op reports how many.
func BenchmarkDeadEndpointIsolationSQLite(b *testing.B) {
	for _, dead := range []string{"none", "hang", "refuse"} {
		b.Run("dead="+dead, func(b *testing.B) {
			benchDeadEndpointSQLite(b, dead, 2000)
		})
	}
}

func benchDeadEndpointSQLite(b *testing.B, dead string, deadPending int) {
	s := openWebhookBenchStore(b)
	ws := s.Webhooks()

	got := make(chan time.Time, 1)
	healthySrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- time.Now()
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(healthySrv.Close)
	healthy := createBenchEndpoint(b, ws, healthySrv.URL+"/hook")

	var deadEp webhooks.Endpoint
	switch dead {
	case "hang":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		var mu sync.Mutex
		var conns []net.Conn
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c) // held open, never read, never answered
				mu.Unlock()
			}
		}()
		b.Cleanup(func() {
			ln.Close()
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
		})
		deadEp = createBenchEndpoint(b, ws, "http://"+ln.Addr().String()+"/hook")
	case "refuse":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there any more: connection refused
		deadEp = createBenchEndpoint(b, ws, "http://"+addr+"/hook")
	}

	recorded := make(chan time.Time, 1)
	var deadAttempts atomic.Int64
	store := benchHookStore{WebhookStore: ws, t: &storeTimes{}, recorded: func(r webhooks.AttemptResult) {
		if r.Status == webhooks.StatusSucceeded {
			recorded <- time.Now()
		} else {
			deadAttempts.Add(1)
		}
	}}
	d := webhooks.NewDispatcher(store, webhooks.Options{AllowPrivateTargets: true, Timeout: 15 * time.Second})
	if err := d.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		d.Stop(ctx) // cuts the hanging attempt short
	})

	const warmup = 10 // connections opened, the healthy lane at its full limit, before anything is timed
	healthyDs := addBenchEvents(b, ws, warmup+b.N, []webhooks.Endpoint{healthy})
	var deadDs []webhooks.Delivery
	if dead != "none" {
		deadDs = addBenchEvents(b, ws, deadPending, []webhooks.Endpoint{deadEp})
	}
	deliverOne := func(dl webhooks.Delivery) (recv, rec time.Duration) {
		start := time.Now()
		d.Notify(dl)
		var atRecv, atRec time.Time
		timeout := time.After(30 * time.Second)
		for atRecv.IsZero() || atRec.IsZero() {
			select {
			case atRecv = <-got:
			case atRec = <-recorded:
			case <-timeout:
				b.Fatalf("healthy delivery %s not delivered and recorded within 30s (%+v)", dl.ID, d.Stats())
			}
		}
		return atRecv.Sub(start), atRec.Sub(start)
	}
	for _, dl := range healthyDs[:warmup] {
		deliverOne(dl)
	}
	recv := make([]time.Duration, 0, b.N)
	rec := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	d.Notify(deadDs...)
	for _, dl := range healthyDs[warmup:] {
		a, c := deliverOne(dl)
		recv, rec = append(recv, a), append(rec, c)
	}
	b.StopTimer()
	us := func(ds []time.Duration, q float64) float64 {
		slices.Sort(ds)
		return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))]) / float64(time.Microsecond)
	}
	b.ReportMetric(us(recv, 0.50), "recv-p50-us")
	b.ReportMetric(us(recv, 0.99), "recv-p99-us")
	b.ReportMetric(us(rec, 0.50), "rec-p50-us")
	b.ReportMetric(us(rec, 0.99), "rec-p99-us")
	b.ReportMetric(float64(deadAttempts.Load())/float64(b.N), "dead-attempts/op")
	if st := d.Stats(); dead == "hang" && st.InFlight != 1 {
		b.Fatalf("%d attempts in flight, want the one hanging on the dead endpoint", st.InFlight)
	}
	if n := countDeliveries(b, s, webhooks.StatusSucceeded); n != warmup+b.N {
		b.Fatalf("%d deliveries succeeded in the store, want %d", n, warmup+b.N)
	}
}

// BenchmarkWebhookRecordAttemptSQLite is the writer's capacity for attempt results, without HTTP: one op is one
// successful attempt committed.
//
//   - serial: one goroutine, one transaction per result (RecordAttempt).
//   - workers=16: 16 goroutines, as the dispatcher's default pool, one transaction each, queueing for the one
//     writer connection.
//   - grouped=64: a prototype of group commit (the same statements as RecordAttempt, test code only), 64 results
//     per transaction, to measure what batching the results would give.
func BenchmarkWebhookRecordAttemptSQLite(b *testing.B) {
	for _, mode := range []string{"serial", "workers=16", "grouped=64"} {
		b.Run(mode, func(b *testing.B) {
			s := openWebhookBenchStore(b)
			ws := s.Webhooks()
			ep := createBenchEndpoint(b, ws, "http://127.0.0.1:9/hook")
			ds := addBenchEvents(b, ws, b.N, []webhooks.Endpoint{ep})
			rs := make([]webhooks.AttemptResult, b.N)
			for i, dl := range ds {
				rs[i] = webhooks.AttemptResult{Status: webhooks.StatusSucceeded, Attempt: webhooks.Attempt{
					DeliveryID: dl.ID, Number: 1, At: time.Now(), StatusCode: http.StatusNoContent, Duration: time.Millisecond}}
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			switch mode {
			case "serial":
				for i := range rs {
					if err := ws.RecordAttempt(ctx, rs[i]); err != nil {
						b.Fatal(err)
					}
				}
			case "workers=16":
				var next atomic.Int64
				var wg sync.WaitGroup
				for range 16 {
					wg.Go(func() {
						for i := next.Add(1) - 1; i < int64(len(rs)); i = next.Add(1) - 1 {
							if err := ws.RecordAttempt(ctx, rs[i]); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
			case "grouped=64":
				for rest := rs; len(rest) > 0; {
					n := min(64, len(rest))
					if err := recordAttemptsGrouped(ctx, ws, rest[:n]); err != nil {
						b.Fatal(err)
					}
					rest = rest[n:]
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "attempts/s")
			if n := countDeliveries(b, s, webhooks.StatusSucceeded); n != b.N {
				b.Fatalf("%d deliveries succeeded in the store, want %d", n, b.N)
			}
		})
	}
}

// recordAttemptsGrouped is a measuring prototype of group commit, not the store's code: the statements of
// RecordAttempt for each result (success only, for a pending delivery), all in one transaction.
func recordAttemptsGrouped(ctx context.Context, w *WebhookStore, rs []webhooks.AttemptResult) error {
	return w.tx(ctx, func(tx *sql.Tx) error {
		for _, r := range rs {
			a := r.Attempt
			d, err := w.delivery(ctx, tx, a.DeliveryID)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_attempts (delivery_id, number, at, status_code, error, duration_ns,
				response_body) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				a.DeliveryID, a.Number, nanos(a.At), a.StatusCode, a.Error, int64(a.Duration), a.ResponseBody); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET attempts = ?, last_attempt_at = ?, last_status = ?,
				last_error = ?, status = ?, next_attempt_at = ?, reason = ? WHERE id = ?`,
				a.Number, nanos(a.At), a.StatusCode, a.Error, string(r.Status), nanos(r.NextAttemptAt), r.Reason, d.ID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET failing_since = 0 WHERE id = ?`, d.EndpointID); err != nil {
				return err
			}
		}
		return nil
	})
}

// BenchmarkSubscriptionIndex loads the in-memory subscription index of 10,000 tenants with one endpoint each
// and reports the heap it keeps per endpoint.
//
//	CGO_ENABLED=1 go test ./ledger -run '^$' -bench SubscriptionIndex -benchtime=5x
func BenchmarkSubscriptionIndex(b *testing.B) {
	const n = 10_000
	path := filepath.Join(b.TempDir(), "helix.db")
	s, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	tx, err := s.w.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		id := fmt.Sprintf("ep_%026d", i)
		if _, err := tx.Exec(`INSERT INTO webhook_endpoints (`+endpointColumns+`) VALUES (?, ?, ?, ?, ?, 0, '', 0, 0, ?)`,
			id, fmt.Sprintf("tenant-%05d", i), "https://hooks.example.com/helix",
			`["quota.warning","quota.exceeded","budget.warning","budget.exceeded"]`,
			(&WebhookStore{s: s}).encodeSecrets(id, []webhooks.Secret{{Value: "whsec_0123456789abcdef0123456789abcdef"}}),
			time.Now().UnixNano()); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	s.Close()
	var kept uint64
	for b.Loop() {
		s, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		w := s.Webhooks()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if w.Subscriptions("tenant-00042").Len() != 1 {
			b.Fatal("the index lacks an endpoint")
		}
		kept = after.HeapAlloc - before.HeapAlloc
		s.Close()
	}
	b.ReportMetric(float64(kept)/n, "B/endpoint")
}
