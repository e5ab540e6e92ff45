package webhooks

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Many goroutines cross the warning threshold at once, over two days: exactly one warning per tenant per day.
func TestThrottleOnceExactUnderConcurrency(t *testing.T) {
	th := NewThrottle()
	const tenants, goroutines, calls = 50, 32, 200
	days := []time.Time{noon, noon.Add(24 * time.Hour)}
	fired := make([][]atomic.Int32, len(days))
	for i := range fired {
		fired[i] = make([]atomic.Int32, tenants)
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for c := range calls {
				day := (c * 2) / calls // the first half of the calls on day 0, the rest on day 1
				tenant := (g + c) % tenants
				start, end := DayPeriod(days[day])
				if th.Once(fmt.Sprintf("t%d/%s", tenant, EventQuotaWarning), start, end) {
					fired[day][tenant].Add(1)
				}
			}
		})
	}
	wg.Wait()
	for d := range days {
		for tenant := range tenants {
			if n := fired[d][tenant].Load(); n != 1 {
				t.Errorf("day %d tenant %d: %d warnings, want 1", d, tenant, n)
			}
		}
	}
}

func TestThrottleOnce(t *testing.T) {
	th := NewThrottle()
	day1, end1 := DayPeriod(noon)
	day2, end2 := DayPeriod(end1)
	steps := []struct {
		key        string
		start, end time.Time
		want       bool
	}{
		{"acme/quota.exceeded", day1, end1, true},
		{"acme/quota.exceeded", day1, end1, false},
		{"acme/quota.warning", day1, end1, true}, // another event type
		{"globex/quota.exceeded", day1, end1, true},
		{"acme/quota.exceeded", day2, end2, true},  // the next day
		{"acme/quota.exceeded", day1, end1, false}, // a late event for the day before
	}
	for i, s := range steps {
		if got := th.Once(s.key, s.start, s.end); got != s.want {
			t.Errorf("step %d Once(%s, %s) = %v, want %v", i, s.key, s.start.Format(time.DateOnly), got, s.want)
		}
	}
	m, mend := MonthPeriod(time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC))
	if !m.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) || !mend.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("MonthPeriod = %v, %v", m, mend)
	}
}

// rate_limit.exceeded: at most once a minute per tenant, exactly, under concurrency.
func TestThrottleEvery(t *testing.T) {
	th := NewThrottle()
	var fired atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range 100 {
				// 100 calls spread over 0..59.4 s: all within the first minute.
				if th.Every("acme", noon.Add(time.Duration(i)*600*time.Millisecond), time.Minute) {
					fired.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := fired.Load(); n != 1 {
		t.Errorf("%d rate_limit.exceeded in a minute, want 1", n)
	}
	if th.Every("acme", noon.Add(59*time.Second), time.Minute) {
		t.Error("fired again within the minute")
	}
	if !th.Every("acme", noon.Add(time.Minute), time.Minute) {
		t.Error("did not fire a minute later")
	}
}

// Memory stays bounded: entries of ended periods are swept as new keys arrive.
func TestThrottleBounded(t *testing.T) {
	th := NewThrottle()
	for i := range 100_000 {
		now := noon.Add(time.Duration(i) * time.Second)
		th.Every(fmt.Sprintf("tenant-%d", i), now, time.Minute)
	}
	if n := th.Len(); n > 2*minSweep {
		t.Errorf("%d entries remembered, want at most %d", n, 2*minSweep)
	}
}
