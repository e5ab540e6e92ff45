package webhooks

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock moves only when told; its timers fire when Advance passes their deadline.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c      *fakeClock
	ch     chan time.Time
	at     time.Time
	active bool
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	t.Reset(d)
	return t
}

// Advance moves the clock on by d and fires the timers that fall due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		if t.active && !t.at.After(c.now) {
			t.fire()
		}
	}
}

// fire is called with c.mu held.
func (t *fakeTimer) fire() {
	t.active = false
	select {
	case t.ch <- t.c.now:
	default:
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.drain()
	t.at, t.active = t.c.now.Add(d), true
	if d <= 0 {
		t.fire()
	}
	return was
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	t.drain()
	return was
}

func (t *fakeTimer) drain() {
	select {
	case <-t.ch:
	default:
	}
}

// The whole default schedule, three days and a half of fake time, with jitter drawn at +10%: attempts come at the
// scheduled times, the delivery fails after the tenth, and an endpoint failing for five days is disabled.
func TestDefaultScheduleOnAFakeClock(t *testing.T) {
	clock := newFakeClock(noon)
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusInternalServerError) })
	s := NewMemStore()
	ep := addEndpoint(t, s, rc, "/")
	o := Options{AllowPrivateTargets: true, Clock: clock, Rand: func() float64 { return 0.75 }, Timeout: 5 * time.Second}
	d := startDispatcher(t, s, o)
	jittered := func(i int) time.Duration { return DefaultSchedule[i] * 11 / 10 }

	// attempt waits for attempt k of a delivery, checks when it happened, and moves the clock to the next one.
	attempt := func(dl Delivery, k int, wantAt time.Time) Delivery {
		t.Helper()
		waitFor(t, 5*time.Second, "attempt", func() bool {
			return getDelivery(t, s, dl.ID).Attempts == k && d.Stats().InFlight == 0 // recorded, and all that follows
		})
		got := getDelivery(t, s, dl.ID)
		if as := getAttempts(t, s, dl.ID); !as[k-1].At.Equal(wantAt) {
			t.Fatalf("attempt %d at %v, want %v", k, as[k-1].At, wantAt)
		}
		return got
	}

	ds := publish(t, s, d, clock.Now(), 1, ep)
	at := noon
	for k := 1; k <= len(DefaultSchedule); k++ {
		got := attempt(ds[0], k, at)
		if k == len(DefaultSchedule) {
			if got.Status != StatusFailed || got.Reason != "no attempts left after 10" {
				t.Fatalf("after the last attempt: %+v", got)
			}
			break
		}
		if got.Status != StatusPending || !got.NextAttemptAt.Equal(at.Add(jittered(k))) {
			t.Fatalf("after attempt %d: %+v, want pending until %v", k, got, at.Add(jittered(k)))
		}
		at = got.NextAttemptAt
		clock.Advance(at.Sub(clock.Now()))
	}
	if days := at.Sub(noon).Hours() / 24; days < 3.4 || days > 3.5 {
		t.Errorf("the schedule spanned %.2f days", days)
	}
	got, _ := s.Endpoint(context.Background(), ep.ID)
	if got.Disabled || !got.FailingSince.Equal(noon) {
		t.Fatalf("endpoint after 3.5 days of failures: %+v", got)
	}

	// A second event keeps failing; once the endpoint has failed for five days it is disabled.
	ds = publish(t, s, d, clock.Now(), 1, ep)
	for k := 1; ; k++ {
		dl := attempt(ds[0], k, at)
		if got, _ := s.Endpoint(context.Background(), ep.ID); got.Disabled {
			if at.Sub(noon) < 5*24*time.Hour || !strings.HasPrefix(got.DisabledReason, "failing since 2026-11-27T12:00:00Z") {
				t.Errorf("disabled at %v: %q", at.Sub(noon), got.DisabledReason)
			}
			if dl.Status != StatusFailed || !strings.Contains(dl.Reason, "endpoint disabled: failing since") {
				t.Errorf("delivery of the disabled endpoint: %+v", dl)
			}
			break
		}
		if at.Sub(noon) >= 5*24*time.Hour {
			t.Fatalf("still enabled after failing for %v", at.Sub(noon))
		}
		at = dl.NextAttemptAt
		clock.Advance(at.Sub(clock.Now()))
	}
}

func TestRetryAfterOnAFakeClock(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header func(now time.Time) string
		want   time.Duration
	}{
		{"429 in seconds", 429, func(time.Time) string { return "3600" }, time.Hour},
		{"503 as an HTTP date", 503, func(now time.Time) string { return now.Add(2 * time.Hour).Format(http.TimeFormat) }, 2 * time.Hour},
		{"capped at a day", 429, func(time.Time) string { return "999999" }, 24 * time.Hour},
		{"shorter than the schedule", 503, func(time.Time) string { return "1" }, 5 * time.Second},
		{"ignored with 500", 500, func(time.Time) string { return "3600" }, 5 * time.Second},
		{"unreadable", 429, func(time.Time) string { return "later" }, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock(noon)
			rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Retry-After", tt.header(clock.Now()))
				w.WriteHeader(tt.status)
			})
			s := NewMemStore()
			ep := addEndpoint(t, s, rc, "/")
			d := startDispatcher(t, s, Options{AllowPrivateTargets: true, Clock: clock, Jitter: -1})
			ds := publish(t, s, d, clock.Now(), 1, ep)
			waitFor(t, 5*time.Second, "the first attempt", func() bool { return getDelivery(t, s, ds[0].ID).Attempts == 1 })
			if got := getDelivery(t, s, ds[0].ID); got.NextAttemptAt.Sub(noon) != tt.want || got.Status != StatusPending {
				t.Errorf("next attempt in %v (%s), want %v", got.NextAttemptAt.Sub(noon), got.Status, tt.want)
			}
		})
	}
}
