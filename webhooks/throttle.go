package webhooks

import (
	"sync"
	"time"
)

// Throttle decides whether a recurring event may fire, exactly under any concurrency:
//
//   - Once: quota.warning, quota.exceeded, budget.warning and budget.exceeded fire once per tenant per period
//     (the quota's UTC day, the budget's UTC month);
//   - Every: rate_limit.exceeded fires at most once a minute per tenant.
//
// Keys are the caller's, e.g. tenant id + "/" + event type. Memory stays bounded: an entry whose period or
// interval has ended is dropped by a sweep that runs each time the table has doubled since the last one.
type Throttle struct {
	mu      sync.Mutex
	entries map[string]window
	latest  time.Time // the latest time seen; entries ending before it are stale
	sweepAt int
}

type window struct{ start, end time.Time }

const minSweep = 1024

// NewThrottle returns an empty Throttle.
func NewThrottle() *Throttle {
	return &Throttle{entries: map[string]window{}, sweepAt: minSweep}
}

// Once reports whether the event named key may fire for the period [start, end): true for exactly one call per
// key and period; false for a period older than one that already fired (a late event for yesterday).
func (t *Throttle) Once(key string, start, end time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.entries[key]; ok && !start.After(e.start) {
		return false
	}
	t.put(key, window{start, end}, start)
	return true
}

// Every reports whether the event named key may fire at now: true at most once per interval per key.
func (t *Throttle) Every(key string, now time.Time, interval time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.entries[key]; ok && now.Before(e.end) {
		return false
	}
	t.put(key, window{now, now.Add(interval)}, now)
	return true
}

func (t *Throttle) put(key string, w window, now time.Time) {
	if now.After(t.latest) {
		t.latest = now
	}
	t.entries[key] = w
	if len(t.entries) < t.sweepAt {
		return
	}
	for k, e := range t.entries {
		if !e.end.After(t.latest) {
			delete(t.entries, k)
		}
	}
	t.sweepAt = max(2*len(t.entries), minSweep)
}

// Len is the number of keys remembered.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// DayPeriod is the UTC day holding t, [start, end).
func DayPeriod(t time.Time) (start, end time.Time) {
	y, m, d := t.UTC().Date()
	start = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 0, 1)
}

// MonthPeriod is the UTC month holding t, [start, end).
func MonthPeriod(t time.Time) (start, end time.Time) {
	y, m, _ := t.UTC().Date()
	start = time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 1, 0)
}
