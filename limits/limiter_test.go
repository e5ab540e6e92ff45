package limits

import (
	"fmt"
	"testing"
	"time"
	"unsafe"
)

func TestForget(t *testing.T) {
	l := New(newTestClock(noon).Now)
	p := Policy{DailyOperations: 1}
	inFlight, _ := l.Admit("gone", p)
	l.Admit("kept", p)
	l.Forget("gone")
	l.Forget("never-seen")
	if l.Len() != 1 {
		t.Fatalf("Len = %d, want 1", l.Len())
	}
	l.Settle(inFlight, true) // settles into the dropped state: harmless
	if u := l.Usage("gone", p); u.Used != 0 || u.Reserved != 0 {
		t.Fatalf("forgotten tenant usage %+v", u)
	}
	if _, d := l.Admit("gone", p); !d.Allowed() {
		t.Fatalf("a re-created tenant starts afresh, got %v", d.Reason)
	}
}

func TestEvictIdle(t *testing.T) {
	p := Policy{DailyOperations: 5, Interval: time.Second, Burst: 2}
	tests := []struct {
		name    string
		setup   func(l *Limiter)
		advance time.Duration
		evicted int
	}{
		{"denied only, bucket full", func(l *Limiter) { l.Admit("t", Policy{}) }, 0, 1},
		{"bucket still refilling", func(l *Limiter) { r, _ := l.Admit("t", p); l.Settle(r, false) }, 0, 0},
		{"released and refilled", func(l *Limiter) { r, _ := l.Admit("t", p); l.Settle(r, false) }, time.Second, 1},
		{"used today: kept, its count would be lost", func(l *Limiter) { r, _ := l.Admit("t", p); l.Settle(r, true) }, time.Hour, 0},
		{"in flight: kept", func(l *Limiter) { l.Admit("t", p) }, time.Hour, 0},
		{"used yesterday: nothing to lose", func(l *Limiter) { r, _ := l.Admit("t", p); l.Settle(r, true) }, 24 * time.Hour, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newTestClock(noon)
			l := New(clock.Now)
			tt.setup(l)
			clock.Advance(tt.advance)
			if got := l.EvictIdle(); got != tt.evicted {
				t.Fatalf("evicted %d, want %d", got, tt.evicted)
			}
			if l.Len() != 1-tt.evicted {
				t.Fatalf("Len = %d", l.Len())
			}
		})
	}
}

func TestLenCountsTenants(t *testing.T) {
	l := New(nil) // nil clock: time.Now
	for i := range 1000 {
		l.Admit(fmt.Sprintf("tenant-%d", i), Policy{DailyOperations: Unlimited})
	}
	l.Usage("not-created", Policy{})
	if l.Len() != 1000 {
		t.Fatalf("Len = %d, want 1000", l.Len())
	}
}

// A tenant's state keeps the id it was created with, not a copy: a copy was an object a tenant for the collector.
func TestLimiterKeepsTheTenantsID(t *testing.T) {
	l := New(nil)
	id := string([]byte("tenant-kept"))
	l.Admit(id, Policy{})
	sh := l.shardFor(id)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	for key := range sh.tenants {
		if key == id {
			if unsafe.StringData(key) != unsafe.StringData(id) {
				t.Error("the limiter keeps a copy of the tenant's id")
			}
			return
		}
	}
	t.Fatal("no state for the tenant admitted")
}
