package limits

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestQuotaExactUnderConcurrency(t *testing.T) {
	const (
		goroutines = 64
		attempts   = 1000
		limit      = 5000
	)
	l := New(newTestClock(noon).Now)
	p := Policy{DailyOperations: limit}
	var admitted, quotaDenied atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range attempts {
				r, d := l.Admit("t", p)
				switch d.Reason {
				case Admitted:
					admitted.Add(1)
					l.Settle(r, true)
				case QuotaExceeded:
					quotaDenied.Add(1)
				default:
					t.Errorf("unexpected reason %v", d.Reason)
				}
			}
		})
	}
	wg.Wait()
	if got := admitted.Load(); got != limit {
		t.Fatalf("admitted %d, want exactly %d", got, limit)
	}
	if got := quotaDenied.Load(); got != goroutines*attempts-limit {
		t.Fatalf("denied %d, want %d", got, goroutines*attempts-limit)
	}
	if u := l.Usage("t", p); u.Used != limit || u.Reserved != 0 || u.Remaining != 0 {
		t.Fatalf("usage %+v", u)
	}
}

func TestQuotaExactWithReleases(t *testing.T) {
	const (
		goroutines = 64
		attempts   = 1000
		limit      = 5000
	)
	l := New(newTestClock(noon).Now)
	p := Policy{DailyOperations: limit}
	var counted atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range attempts {
				r, d := l.Admit("t", p)
				if !d.Allowed() {
					continue
				}
				// Whatever is in flight or used, the tenant never holds more than the limit.
				if u := l.Usage("t", p); u.Used+u.Reserved > limit {
					t.Errorf("used %d + reserved %d > limit %d", u.Used, u.Reserved, limit)
				}
				if (g+i)%2 == 0 {
					l.Settle(r, false) // upstream failed: the operation goes back
					continue
				}
				counted.Add(1)
				l.Settle(r, true)
			}
		})
	}
	wg.Wait()
	u := l.Usage("t", p)
	if u.Used != counted.Load() || u.Used > limit || u.Reserved != 0 {
		t.Fatalf("usage %+v, counted %d, limit %d", u, counted.Load(), limit)
	}
	// Half of 64,000 attempts counted would be 32,000: the limit must have stopped it at 5,000.
	if u.Used != limit {
		t.Fatalf("used %d, want the limit %d reached exactly", u.Used, limit)
	}
}

func TestSettle(t *testing.T) {
	tests := []struct {
		name         string
		settle       func(l *Limiter, r Reservation)
		wantUsed     int64
		wantReserved int64
		wantNext     Reason // the Admit after, with a limit of 1
	}{
		{"in flight holds the operation", func(*Limiter, Reservation) {}, 0, 1, QuotaExceeded},
		{"upstream failure releases it", func(l *Limiter, r Reservation) { l.Settle(r, false) }, 0, 0, Admitted},
		{"upstream answer counts it", func(l *Limiter, r Reservation) { l.Settle(r, true) }, 1, 0, QuotaExceeded},
		{"a second settle is ignored", func(l *Limiter, r Reservation) { l.Settle(r, true); l.Settle(r, true) }, 1, 0, QuotaExceeded},
		{"a zero reservation is a no-op", func(l *Limiter, _ Reservation) { l.Settle(Reservation{}, true) }, 0, 1, QuotaExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(newTestClock(noon).Now)
			p := Policy{DailyOperations: 1}
			r, d := l.Admit("t", p)
			if !d.Allowed() {
				t.Fatalf("first admit: %v", d.Reason)
			}
			tt.settle(l, r)
			if u := l.Usage("t", p); u.Used != tt.wantUsed || u.Reserved != tt.wantReserved {
				t.Fatalf("used %d reserved %d, want %d %d", u.Used, u.Reserved, tt.wantUsed, tt.wantReserved)
			}
			if _, d := l.Admit("t", p); d.Reason != tt.wantNext {
				t.Fatalf("next admit %v, want %v", d.Reason, tt.wantNext)
			}
		})
	}
}

func TestQuotaUnlimitedAndZero(t *testing.T) {
	tests := []struct {
		name          string
		daily         int64
		attempts      int
		wantAdmitted  int
		wantLimit     int64
		wantRemaining int64 // QuotaRemaining of the last decision
	}{
		{"unlimited admits everything", Unlimited, 10_000, 10_000, Unlimited, Unlimited},
		{"any negative is unlimited", -7, 100, 100, Unlimited, Unlimited},
		{"zero admits nothing", 0, 100, 0, 0, 0},
		{"one admits one", 1, 100, 1, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(newTestClock(noon).Now)
			p := Policy{DailyOperations: tt.daily}
			admitted := 0
			var last Decision
			for range tt.attempts {
				r, d := l.Admit("t", p)
				if d.Allowed() {
					admitted++
				} else if d.Reason != QuotaExceeded || d.RetryAfter != 12*time.Hour {
					t.Fatalf("denied with %v, RetryAfter %v", d.Reason, d.RetryAfter)
				}
				l.Settle(r, true)
				last = d
			}
			if admitted != tt.wantAdmitted || last.QuotaLimit != tt.wantLimit || last.QuotaRemaining != tt.wantRemaining {
				t.Fatalf("admitted %d limit %d remaining %d, want %d %d %d",
					admitted, last.QuotaLimit, last.QuotaRemaining, tt.wantAdmitted, tt.wantLimit, tt.wantRemaining)
			}
			if u := l.Usage("t", p); u.Used != int64(tt.wantAdmitted) {
				t.Fatalf("usage used %d, want %d", u.Used, tt.wantAdmitted)
			}
		})
	}
}

func TestLoweredQuotaDenies(t *testing.T) {
	l := New(newTestClock(noon).Now)
	for range 5 {
		r, _ := l.Admit("t", Policy{DailyOperations: 10})
		l.Settle(r, true)
	}
	// A plan change applies at once, and remaining never goes negative.
	_, d := l.Admit("t", Policy{DailyOperations: 3})
	if d.Reason != QuotaExceeded || d.QuotaRemaining != 0 || d.QuotaLimit != 3 {
		t.Fatalf("%+v", d)
	}
}
