package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A receiver that fails the first attempts of every event and then recovers gets each event, signed, with the
// same id and body on every attempt, and every attempt is recorded.
func TestDeliverAfterReceiverRecovers(t *testing.T) {
	tests := []struct {
		name     string
		failures int
		status   int
	}{
		{"first attempt", 0, 0},
		{"after three 500s", 3, http.StatusInternalServerError},
		{"after two 429s without Retry-After", 2, http.StatusTooManyRequests},
		{"after a 400", 1, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n <= tt.failures {
					w.WriteHeader(tt.status)
					fmt.Fprintf(w, "failure %d", n)
					return
				}
				w.WriteHeader(http.StatusNoContent)
			})
			s := NewMemStore()
			ep := addEndpoint(t, s, rc, "/hook")
			d := startDispatcher(t, s, testOptions())
			ds := publish(t, s, d, time.Now(), 5, ep)
			waitFor(t, 5*time.Second, "every delivery to succeed", func() bool { return allStatus(s, ds, StatusSucceeded) })

			for _, dl := range ds {
				got := getDelivery(t, s, dl.ID)
				if got.Attempts != tt.failures+1 || got.LastStatus != http.StatusNoContent || got.LastError != "" || !got.NextAttemptAt.IsZero() {
					t.Errorf("delivery %+v", got)
				}
				as := getAttempts(t, s, dl.ID)
				if len(as) != tt.failures+1 {
					t.Fatalf("%d attempts recorded, want %d", len(as), tt.failures+1)
				}
				for i, a := range as {
					want := tt.status
					if i == tt.failures {
						want = http.StatusNoContent
					}
					if a.Number != i+1 || a.StatusCode != want || a.Duration <= 0 || a.At.IsZero() || a.DeliveryID != dl.ID {
						t.Errorf("attempt %d: %+v, want status %d", i+1, a, want)
					}
					if want != http.StatusNoContent && a.ResponseBody != fmt.Sprintf("failure %d", i+1) {
						t.Errorf("attempt %d body %q", i+1, a.ResponseBody)
					}
					if i > 0 && a.At.Before(as[i-1].At.Add(10*time.Millisecond)) {
						t.Errorf("attempt %d came %v after the previous one, before the schedule's 10ms", i+1, a.At.Sub(as[i-1].At))
					}
				}
				if n, ok := rc.counts(dl.EventID); n != tt.failures+1 || ok != 1 {
					t.Errorf("receiver saw event %s %d times (%d ok), want %d (1)", dl.EventID, n, ok, tt.failures+1)
				}
			}
			if got, _ := s.Endpoint(context.Background(), ep.ID); !got.FailingSince.IsZero() || got.Disabled {
				t.Errorf("endpoint after recovery: %+v", got)
			}
			// The dispatcher leaves its schedule after storing the result the test waited for.
			waitFor(t, 5*time.Second, "an empty schedule", func() bool { st := d.Stats(); return st.Scheduled == 0 && st.InFlight == 0 })
			if st := d.Stats(); st.Succeeded != 5 || st.Attempts != uint64(5*(tt.failures+1)) || st.Scheduled != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// After a rotation, deliveries carry both signatures: a receiver still on the old secret and one already on the
// new secret both verify.
func TestDeliverySignedWithRotatedSecrets(t *testing.T) {
	rc := newReceiver(t, nil)
	s := NewMemStore()
	ep := addEndpoint(t, s, rc, "/")
	old := ep.Secrets[0].Value
	next, err := RotateSecret(context.Background(), s, ep.ID, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	rc.verifyWith("/", old, next) // each must verify on its own
	d := startDispatcher(t, s, testOptions())
	ds := publish(t, s, d, time.Now(), 3, ep)
	waitFor(t, 5*time.Second, "deliveries", func() bool { return allStatus(s, ds, StatusSucceeded) })
}

func TestGoneDisablesEndpoint(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusGone) })
	s := NewMemStore()
	ep := addEndpoint(t, s, rc, "/gone")
	healthyRc := newReceiver(t, nil)
	healthy := addEndpoint(t, s, healthyRc, "/ok")
	// Deliveries already waiting for a later attempt fail with the endpoint.
	later := publish(t, s, nil, time.Now().Add(time.Hour), 20, ep)
	o := testOptions()
	o.PerEndpoint = 1
	d := startDispatcher(t, s, o)
	first := publish(t, s, d, time.Now(), 1, ep, healthy)

	waitFor(t, 5*time.Second, "the endpoint to be disabled", func() bool {
		got, _ := s.Endpoint(context.Background(), ep.ID)
		return got.Disabled
	})
	got, _ := s.Endpoint(context.Background(), ep.ID)
	if !strings.Contains(got.DisabledReason, "410") || got.DisabledAt.IsZero() {
		t.Errorf("disabled endpoint %+v", got)
	}
	dl := getDelivery(t, s, first[0].ID)
	if dl.Status != StatusFailed || dl.Attempts != 1 || dl.LastStatus != http.StatusGone || !strings.Contains(dl.Reason, "410") {
		t.Errorf("the delivery that got 410: %+v", dl)
	}
	for _, l := range later {
		if dl := getDelivery(t, s, l.ID); dl.Status != StatusFailed || dl.Attempts != 0 || !strings.Contains(dl.Reason, "endpoint disabled") {
			t.Errorf("a waiting delivery of the disabled endpoint: %+v", dl)
		}
	}
	waitFor(t, 5*time.Second, "the other endpoint's delivery", func() bool { return allStatus(s, first[1:], StatusSucceeded) })
	// A disabled endpoint gets nothing more: new deliveries are not even created for it, and a manual retry is refused.
	if ds := Deliveries(Event{ID: "msg_x", TenantID: "acme", Type: EventOperationCompleted}, []Endpoint{got}); len(ds) != 0 {
		t.Errorf("fan-out to a disabled endpoint: %+v", ds)
	}
	if _, err := d.RetryNow(context.Background(), first[0].ID); !errors.Is(err, ErrEndpointDisabled) {
		t.Errorf("RetryNow on a disabled endpoint: %v, want ErrEndpointDisabled", err)
	}
	if n, _ := rc.counts(first[0].EventID); n != 1 {
		t.Errorf("the gone endpoint was called %d times, want 1", n)
	}
}

func TestRedirectIsAFailureAndNotFollowed(t *testing.T) {
	var followed atomic.Int32
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Path == "/moved" {
			followed.Add(1)
			return
		}
		http.Redirect(w, r, "/moved", http.StatusTemporaryRedirect)
	})
	s := NewMemStore()
	ep := addEndpoint(t, s, rc, "/hook")
	o := testOptions()
	o.Schedule = o.Schedule[:2]
	d := startDispatcher(t, s, o)
	ds := publish(t, s, d, time.Now(), 1, ep)
	waitFor(t, 5*time.Second, "the delivery to fail", func() bool { return allStatus(s, ds, StatusFailed) })
	as := getAttempts(t, s, ds[0].ID)
	if len(as) != 2 {
		t.Fatalf("%d attempts, want 2", len(as))
	}
	for _, a := range as {
		if a.StatusCode != http.StatusTemporaryRedirect || !strings.Contains(a.Error, "redirect not followed") || !strings.Contains(a.Error, "/moved") {
			t.Errorf("attempt %+v", a)
		}
	}
	if dl := getDelivery(t, s, ds[0].ID); dl.Reason != "no attempts left after 2" {
		t.Errorf("reason %q", dl.Reason)
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
}

func TestSlowReceiverTimesOut(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	s := NewMemStore()
	ep := addEndpoint(t, s, rc, "/slow")
	o := testOptions()
	o.Timeout = 100 * time.Millisecond
	o.Schedule = o.Schedule[:1]
	d := startDispatcher(t, s, o)
	ds := publish(t, s, d, time.Now(), 1, ep)
	waitFor(t, 5*time.Second, "the delivery to fail", func() bool { return allStatus(s, ds, StatusFailed) })
	as := getAttempts(t, s, ds[0].ID)
	if len(as) != 1 {
		t.Fatalf("%d attempts, want 1", len(as))
	}
	a := as[0]
	if a.StatusCode != 0 || a.Error != "timeout after 100ms" || a.Duration < 100*time.Millisecond || a.Duration > 2*time.Second {
		t.Errorf("attempt %+v", a)
	}
	if dl := getDelivery(t, s, ds[0].ID); dl.LastError != "timeout after 100ms" || dl.LastStatus != 0 {
		t.Errorf("delivery %+v", dl)
	}
}

// A 503 with Retry-After: 1 holds the next attempt back a second, although the schedule says 10ms.
func TestRetryAfterHonoured(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	s := NewMemStore()
	ep := addEndpoint(t, s, rc, "/")
	d := startDispatcher(t, s, testOptions())
	ds := publish(t, s, d, time.Now(), 1, ep)
	waitFor(t, 5*time.Second, "the delivery", func() bool { return allStatus(s, ds, StatusSucceeded) })
	as := getAttempts(t, s, ds[0].ID)
	if len(as) != 2 {
		t.Fatalf("%d attempts, want 2", len(as))
	}
	if gap := as[1].At.Sub(as[0].At); gap < time.Second {
		t.Errorf("second attempt %v after the first, want at least the Retry-After of 1s", gap)
	}
}

// The dispatcher's client refuses loopback unless private targets are allowed: the attempt records why.
func TestDispatcherRefusesPrivateTargets(t *testing.T) {
	rc := newReceiver(t, nil)
	s := NewMemStore()
	ep := addEndpoint(t, s, rc, "/")
	o := testOptions()
	o.AllowPrivateTargets = false
	o.Schedule = o.Schedule[:1]
	d := startDispatcher(t, s, o)
	ds := publish(t, s, d, time.Now(), 1, ep)
	waitFor(t, 5*time.Second, "the delivery to fail", func() bool { return allStatus(s, ds, StatusFailed) })
	if as := getAttempts(t, s, ds[0].ID); len(as) != 1 || !strings.Contains(as[0].Error, "loopback") {
		t.Errorf("attempts %+v, want one refused as loopback", as)
	}
	if n, _ := rc.counts(ds[0].EventID); n != 0 {
		t.Errorf("receiver reached %d times", n)
	}
}

// Stop in the middle of retries and start a new dispatcher on the same store: every event still arrives.
func TestRestartInTheMiddleOfRetries(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if failing.Load() || n <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	s := NewMemStore()
	var eps []Endpoint
	for i := range 3 {
		eps = append(eps, addEndpoint(t, s, rc, fmt.Sprintf("/ep%d", i)))
	}
	o := testOptions()
	o.Schedule = []time.Duration{0, 30 * time.Millisecond, 30 * time.Millisecond, 30 * time.Millisecond, 30 * time.Millisecond, 30 * time.Millisecond}
	d1 := NewDispatcher(s, o)
	if err := d1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ds := publish(t, s, d1, time.Now(), 40, eps...) // 120 deliveries
	waitFor(t, 5*time.Second, "a first attempt at every delivery", func() bool { return d1.Stats().Attempts >= uint64(len(ds)) })
	if err := d1.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	pending := 0
	for _, dl := range ds {
		if getDelivery(t, s, dl.ID).Status == StatusPending {
			pending++
		}
	}
	if pending == 0 {
		t.Fatal("nothing left pending at the stop: the test proves nothing")
	}
	// Events created while no dispatcher runs wait in the store too.
	ds = append(ds, publish(t, s, nil, time.Now(), 5, eps...)...)

	failing.Store(false)
	d2 := startDispatcher(t, s, o)
	waitFor(t, 10*time.Second, "every delivery after the restart", func() bool { return allStatus(s, ds, StatusSucceeded) })
	for _, dl := range ds {
		if _, ok := rc.counts(dl.EventID); ok < 1 {
			t.Errorf("event %s never arrived", dl.EventID)
		}
		as := getAttempts(t, s, dl.ID)
		for i, a := range as {
			if a.Number != i+1 {
				t.Fatalf("delivery %s: attempt numbers %v are not 1..n", dl.ID, as)
			}
		}
	}
	if d2.Stats().Succeeded == 0 {
		t.Error("the second dispatcher delivered nothing")
	}
	t.Logf("%d of %d deliveries were pending at the stop", pending, len(ds)-5*len(eps))
}

// Stop whose deadline passes with attempts in flight abandons them unrecorded; the next start sends them.
func TestStopAbandonsAttemptsInFlight(t *testing.T) {
	var hang atomic.Bool
	hang.Store(true)
	release := make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if hang.Load() {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	})
	t.Cleanup(func() { close(release) })
	s := NewMemStore()
	ep := addEndpoint(t, s, rc, "/")
	d1 := NewDispatcher(s, testOptions())
	if err := d1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ds := publish(t, s, d1, time.Now(), 10, ep)
	waitFor(t, 5*time.Second, "attempts in flight", func() bool { return d1.Stats().InFlight > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := d1.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop = %v, want DeadlineExceeded", err)
	}
	for _, dl := range ds {
		if got := getDelivery(t, s, dl.ID); got.Status != StatusPending || got.Attempts != 0 {
			t.Errorf("after an abandoned attempt: %+v, want pending with no attempt recorded", got)
		}
	}
	hang.Store(false)
	startDispatcher(t, s, testOptions())
	waitFor(t, 5*time.Second, "every delivery after the restart", func() bool { return allStatus(s, ds, StatusSucceeded) })
}

func TestRetryByHand(t *testing.T) {
	var up atomic.Bool
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if !up.Load() {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	s := NewMemStore()
	ep := addEndpoint(t, s, rc, "/")
	o := testOptions()
	o.Schedule = o.Schedule[:1] // one attempt, then failed
	d := startDispatcher(t, s, o)
	base := time.Now().Add(-time.Hour)
	var ds []Delivery
	for i := range 4 {
		ds = append(ds, publish(t, s, d, base.Add(time.Duration(i)*time.Minute), 1, ep)...)
	}
	waitFor(t, 5*time.Second, "every delivery to fail", func() bool { return allStatus(s, ds, StatusFailed) })
	up.Store(true)

	// One delivery, by hand.
	got, err := d.RetryNow(context.Background(), ds[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusPending || got.Reason != "" {
		t.Errorf("RetryNow returned %+v", got)
	}
	waitFor(t, 5*time.Second, "the retried delivery", func() bool { return allStatus(s, ds[:1], StatusSucceeded) })
	if as := getAttempts(t, s, ds[0].ID); len(as) != 2 || as[1].Number != 2 || as[1].StatusCode != 200 {
		t.Errorf("attempts after the manual retry: %+v", as)
	}
	if _, err := d.RetryNow(context.Background(), "dlv_missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RetryNow of an unknown delivery: %v", err)
	}

	// Every failed delivery since the third event.
	n, err := d.ResendFailed(context.Background(), ep.ID, base.Add(2*time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("ResendFailed = %d, %v; want 2", n, err)
	}
	waitFor(t, 5*time.Second, "the resent deliveries", func() bool { return allStatus(s, ds[2:], StatusSucceeded) })
	if got := getDelivery(t, s, ds[1].ID); got.Status != StatusFailed {
		t.Errorf("a delivery before the cut is %s, want still failed", got.Status)
	}
	if _, err := d.ResendFailed(context.Background(), "ep_missing", base); !errors.Is(err, ErrNotFound) {
		t.Errorf("ResendFailed of an unknown endpoint: %v", err)
	}

	// A succeeded delivery can be sent again too.
	if _, err := d.RetryNow(context.Background(), ds[0].ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a second success", func() bool { _, ok := rc.counts(ds[0].EventID); return ok == 2 })
}

// A manual retry that arrives while the delivery's attempt is in flight is not lost, whatever that attempt's
// outcome.
func TestRetryNowDuringAnAttempt(t *testing.T) {
	started := make(chan struct{}, 1)
	proceed := make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			started <- struct{}{}
			<-proceed
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	s := NewMemStore()
	ep := addEndpoint(t, s, rc, "/")
	o := testOptions()
	o.Schedule = o.Schedule[:1] // the first attempt's failure is final
	d := startDispatcher(t, s, o)
	ds := publish(t, s, d, time.Now(), 1, ep)
	<-started
	if _, err := d.RetryNow(context.Background(), ds[0].ID); err != nil {
		t.Fatal(err)
	}
	close(proceed)
	waitFor(t, 5*time.Second, "the retry", func() bool { return allStatus(s, ds, StatusSucceeded) })
	if as := getAttempts(t, s, ds[0].ID); len(as) != 2 {
		t.Errorf("attempts %+v, want 2", as)
	}
}

// The same delivery announced several times, and loaded at start, is attempted once.
func TestDuplicateNotifications(t *testing.T) {
	rc := newReceiver(t, nil)
	s := NewMemStore()
	ep := addEndpoint(t, s, rc, "/")
	ds := publish(t, s, nil, time.Now().Add(50*time.Millisecond), 20, ep)
	d := NewDispatcher(s, testOptions())
	d.Notify(ds...)
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop(context.Background()) })
	d.Notify(ds...)
	d.Notify(ds[:5]...)
	waitFor(t, 5*time.Second, "deliveries", func() bool { return allStatus(s, ds, StatusSucceeded) })
	time.Sleep(50 * time.Millisecond)
	for _, dl := range ds {
		if n, _ := rc.counts(dl.EventID); n != 1 {
			t.Errorf("event %s attempted %d times, want 1", dl.EventID, n)
		}
	}
}

// At most PerEndpoint attempts run at once to one endpoint, and at most Workers in all.
func TestConcurrencyLimits(t *testing.T) {
	perEndpoint := map[string]*[2]int{} // path -> current, max
	var mu sync.Mutex
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		mu.Lock()
		c := perEndpoint[r.URL.Path]
		if c == nil {
			c = new([2]int)
			perEndpoint[r.URL.Path] = c
		}
		c[0]++
		c[1] = max(c[1], c[0])
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		c[0]--
		mu.Unlock()
	})
	s := NewMemStore()
	var eps []Endpoint
	for i := range 4 {
		eps = append(eps, addEndpoint(t, s, rc, fmt.Sprintf("/ep%d", i)))
	}
	o := testOptions()
	o.Workers, o.PerEndpoint = 6, 3
	d := startDispatcher(t, s, o)
	ds := publish(t, s, d, time.Now(), 40, eps...)
	waitFor(t, 10*time.Second, "deliveries", func() bool { return allStatus(s, ds, StatusSucceeded) })
	mu.Lock()
	defer mu.Unlock()
	for path, c := range perEndpoint {
		if c[1] > 3 {
			t.Errorf("%s: %d attempts at once, limit 3", path, c[1])
		}
	}
	if m := rc.maxInFlight(); m > 6 || m < 4 {
		t.Errorf("%d attempts at once in all, want between 4 and the 6 workers", m)
	}
}

// The scenario of the issue: an endpoint that never answers has thousands of deliveries due, and a healthy
// endpoint's delivery still goes out at once.
func TestDeadEndpointDoesNotDelayHealthyOnes(t *testing.T) {
	tests := []struct {
		name string
		dead func(t *testing.T) string // returns the dead endpoint's URL
	}{
		{"hangs", func(t *testing.T) string {
			release := make(chan struct{})
			rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
				select {
				case <-release:
				case <-r.Context().Done():
				}
			})
			t.Cleanup(func() { close(release) }) // before the server's Close, which waits for handlers
			return rc.srv.URL
		}},
		{"refuses connections", func(t *testing.T) string {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().String()
			l.Close()
			return "http://" + addr
		}},
		{"answers 500", func(t *testing.T) string {
			return newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(500) }).srv.URL
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewMemStore()
			dead, err := NewEndpoint("acme", tt.dead(t), nil, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CreateEndpoint(context.Background(), dead); err != nil {
				t.Fatal(err)
			}
			rc := newReceiver(t, nil)
			healthy := addEndpoint(t, s, rc, "/")
			o := testOptions()
			o.Timeout = 3 * time.Second
			o.Schedule = []time.Duration{0, 5 * time.Millisecond, 5 * time.Millisecond}
			d := startDispatcher(t, s, o)
			publish(t, s, d, time.Now(), 2000, dead)
			time.Sleep(20 * time.Millisecond) // the dead endpoint's deliveries are due and being tried

			start := time.Now()
			ds := publish(t, s, d, time.Now(), 1, healthy)
			waitFor(t, 5*time.Second, "the healthy delivery", func() bool { return allStatus(s, ds, StatusSucceeded) })
			if took := time.Since(start); took > time.Second {
				t.Errorf("the healthy endpoint's delivery took %v, want under 1s", took)
			} else {
				t.Logf("healthy delivery in %v with 2000 deliveries due to a dead endpoint", took)
			}
			if st := d.Stats(); st.InFlight > 1 {
				t.Errorf("%d attempts in flight to the dead endpoint, want at most 1", st.InFlight)
			}
		})
	}
}
