package webhooks

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultSchedule is the contract's example schedule, `0s 5s 5m 30m 2h 5h 10h 14h 20h 24h`: ten attempts over
// about three days. It starts like the Standard Webhooks recommendation (immediately, 5 s, 5 min, 30 min, 2 h,
// 5 h, 10 h, 10 h) and stretches the tail so that a receiver down over a weekend still gets its events.
var DefaultSchedule = []time.Duration{
	0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour,
	10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour,
}

// DefaultJitter spreads each delay by ±20%, so the retries of a burst of events do not arrive as a burst.
const DefaultJitter = 0.2

// DefaultMaxRetryAfter caps how long a receiver's Retry-After can hold a delivery back.
const DefaultMaxRetryAfter = 24 * time.Hour

// ParseSchedule reads delays such as "0s 5s 5m 30m 2h" (one per field): entry i is the delay before attempt
// i+1, counted from the previous attempt (the first from the event). At least one entry; none negative.
func ParseSchedule(fields []string) ([]time.Duration, error) {
	if len(fields) == 0 {
		return nil, fmt.Errorf("schedule: at least one delay")
	}
	out := make([]time.Duration, 0, len(fields))
	for _, f := range fields {
		d, err := time.ParseDuration(f)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("schedule: bad delay %q", f)
		}
		out = append(out, d)
	}
	return out, nil
}

// Jittered spreads d uniformly over [d(1-frac), d(1+frac)] with r, a uniform draw from [0, 1).
func Jittered(d time.Duration, frac, r float64) time.Duration {
	if d <= 0 || frac <= 0 {
		return d
	}
	return d + time.Duration(float64(d)*frac*(2*r-1))
}

// RetryAfter reads a Retry-After header, delay-seconds or an HTTP date, as a delay from now: false when it is
// absent or unreadable. A date in the past is a zero delay; the delay is capped at limit.
func RetryAfter(h string, now time.Time, limit time.Duration) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(h, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(limit/time.Second) {
			return limit, true
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = max(t.Sub(now), 0)
	} else {
		return 0, false
	}
	return min(d, limit), true
}
