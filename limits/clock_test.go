package limits

import (
	"sync"
	"time"
)

// testClock is the injected clock of every test: it moves only when told to.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock(t time.Time) *testClock { return &testClock{t: t} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// noon is a mid-day start so that bucket tests never cross a UTC midnight.
var noon = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
