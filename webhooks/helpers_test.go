package webhooks

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// receiver is a webhook endpoint on 127.0.0.1 that checks every signature and answers as respond says.
type receiver struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	secrets  map[string][]string // by path: a delivery must verify with each of these
	attempts map[string]int      // by webhook-id
	ok       map[string]int      // 2xx answers by webhook-id
	bodies   map[string]string
	inFlight int
	maxIn    int
	respond  func(w http.ResponseWriter, r *http.Request, attempt int)
}

// newReceiver starts a receiver; respond gets the attempt number of the request's webhook-id (1 for the first)
// and answers 200 when nil.
func newReceiver(t testing.TB, respond func(w http.ResponseWriter, r *http.Request, attempt int)) *receiver {
	rc := &receiver{t: t, secrets: map[string][]string{}, attempts: map[string]int{}, ok: map[string]int{}, bodies: map[string]string{}, respond: respond}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id := r.Header.Get(HeaderID)
	rc.mu.Lock()
	secrets := rc.secrets[r.URL.Path]
	rc.attempts[id]++
	n := rc.attempts[id]
	if prev, ok := rc.bodies[id]; ok && prev != string(body) {
		rc.t.Errorf("event %s: body changed between attempts:\n%s\n%s", id, prev, body)
	}
	rc.bodies[id] = string(body)
	rc.inFlight++
	rc.maxIn = max(rc.maxIn, rc.inFlight)
	rc.mu.Unlock()
	defer func() {
		rc.mu.Lock()
		rc.inFlight--
		rc.mu.Unlock()
	}()
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		rc.t.Errorf("got %s with content-type %q", r.Method, r.Header.Get("Content-Type"))
	}
	for _, s := range secrets {
		// The tolerance is off: fake-clock tests sign with a time far from the wall clock.
		if err := VerifyRequest(s, r.Header, body, time.Now(), -1); err != nil {
			rc.t.Errorf("event %s: signature does not verify: %v", id, err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
	}
	rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	if rc.respond != nil {
		rc.respond(rw, r, n)
	}
	if rw.status >= 200 && rw.status < 300 {
		rc.mu.Lock()
		rc.ok[id]++
		rc.mu.Unlock()
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (rc *receiver) verifyWith(path string, secrets ...string) {
	rc.mu.Lock()
	rc.secrets[path] = secrets
	rc.mu.Unlock()
}

func (rc *receiver) counts(id string) (attempts, ok int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.attempts[id], rc.ok[id]
}

func (rc *receiver) maxInFlight() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.maxIn
}

// testOptions are fast defaults for tests: loopback allowed, millisecond schedule, no jitter.
func testOptions() Options {
	return Options{
		AllowPrivateTargets: true,
		Schedule:            []time.Duration{0, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond},
		Jitter:              -1,
		Timeout:             5 * time.Second,
	}
}

func startDispatcher(t testing.TB, s Store, o Options) *Dispatcher {
	t.Helper()
	d := NewDispatcher(s, o)
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		d.Stop(ctx)
	})
	return d
}

func addEndpoint(t testing.TB, s Store, rc *receiver, path string, types ...string) Endpoint {
	t.Helper()
	ep, err := NewEndpoint("acme", rc.srv.URL+path, types, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEndpoint(context.Background(), ep); err != nil {
		t.Fatal(err)
	}
	rc.verifyWith(path, ep.Secrets[0].Value)
	return ep
}

// publish writes n events for the endpoints' tenant, as the ledger would, and announces their deliveries to d
// (nil: not announced).
func publish(t testing.TB, s Store, d *Dispatcher, at time.Time, n int, eps ...Endpoint) []Delivery {
	t.Helper()
	var all []Delivery
	for i := range n {
		ev, err := NewEvent(EventOperationCompleted, "acme", map[string]int{"i": i}, at)
		if err != nil {
			t.Fatal(err)
		}
		ds := Deliveries(ev, eps)
		if err := s.AddEvent(context.Background(), ev, ds); err != nil {
			t.Fatal(err)
		}
		if d != nil {
			d.Notify(ds...)
		}
		all = append(all, ds...)
	}
	return all
}

// waitFor polls cond until it holds or the (real) timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func getDelivery(t testing.TB, s Store, id string) Delivery {
	t.Helper()
	d, err := s.Delivery(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func getAttempts(t testing.TB, s Store, id string) []Attempt {
	t.Helper()
	as, err := s.Attempts(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// allFinal reports whether every delivery has the given status.
func allStatus(s Store, ds []Delivery, status Status) bool {
	for _, d := range ds {
		got, err := s.Delivery(context.Background(), d.ID)
		if err != nil || got.Status != status {
			return false
		}
	}
	return true
}
