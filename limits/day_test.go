package limits

import (
	"testing"
	"time"
)

var (
	lastMilli = time.Date(2026, 11, 27, 23, 59, 59, 999_000_000, time.UTC)
	midnight  = time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
)

func TestDayRolloverAtUTCMidnight(t *testing.T) {
	p := Policy{DailyOperations: 2}
	tests := []struct {
		name    string
		counted bool // how yesterday's in-flight reservation settles, after midnight
		// heldToday admits one of the new day's operations (held) before that settle, so a
		// settle that ignored days would count or release today's reservation instead.
		heldToday bool
	}{
		{"in-flight counted after rollover, new day already in flight", true, true},
		{"in-flight released after rollover, new day already in flight", false, true},
		{"in-flight counted after rollover, tenant untouched since", true, false},
		{"in-flight released after rollover, tenant untouched since", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newTestClock(lastMilli)
			l := New(clock.Now)
			inFlight, d := l.Admit("t", p)
			if !d.Allowed() || d.QuotaReset != time.Millisecond {
				t.Fatalf("first: %+v", d)
			}
			r, _ := l.Admit("t", p)
			l.Settle(r, true)
			if _, d := l.Admit("t", p); d.Reason != QuotaExceeded || d.RetryAfter != time.Millisecond {
				t.Fatalf("before midnight: %+v", d)
			}
			if got := inFlight.Day(); !got.Equal(lastMilli.Truncate(24 * time.Hour)) {
				t.Fatalf("reservation day %v", got)
			}

			clock.Set(midnight)
			var held int64
			if tt.heldToday {
				if _, d := l.Admit("t", p); !d.Allowed() || d.QuotaRemaining != 1 || d.QuotaReset != 24*time.Hour {
					t.Fatalf("first admit of the new day: %+v", d)
				}
				held = 1
			}
			l.Settle(inFlight, tt.counted) // yesterday's operation: settles into nothing today

			u := l.Usage("t", p)
			if u.Used != 0 || u.Reserved != held || u.Remaining != 2-held || !u.Day.Equal(midnight) || !u.ResetsAt.Equal(midnight.Add(24*time.Hour)) {
				t.Fatalf("new day: %+v", u)
			}
			for i := held; i < 2; i++ {
				r, d := l.Admit("t", p)
				if !d.Allowed() {
					t.Fatalf("new day admit %d: %+v", i, d)
				}
				l.Settle(r, true)
			}
			if _, d := l.Admit("t", p); d.Reason != QuotaExceeded {
				t.Fatalf("third admit of the new day: %v", d.Reason)
			}
		})
	}
}

func TestDaysAreUTC(t *testing.T) {
	// Local midnight in UTC+05:00 is 19:00 UTC: no rollover there, one at 05:00 local.
	zone := time.FixedZone("UTC+5", 5*60*60)
	clock := newTestClock(time.Date(2026, 11, 27, 23, 59, 0, 0, zone))
	l := New(clock.Now)
	p := Policy{DailyOperations: 1}
	r, _ := l.Admit("t", p)
	l.Settle(r, true)

	tests := []struct {
		name string
		at   time.Time
		want Reason
	}{
		{"local midnight is not a new day", time.Date(2026, 11, 28, 0, 0, 1, 0, zone), QuotaExceeded},
		{"UTC midnight is", time.Date(2026, 11, 28, 5, 0, 0, 0, zone), Admitted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.Set(tt.at)
			if _, d := l.Admit("t", p); d.Reason != tt.want {
				t.Fatalf("got %v, want %v", d.Reason, tt.want)
			}
		})
	}
}

func TestClockSteppingBackDoesNotRestartTheDay(t *testing.T) {
	clock := newTestClock(midnight.Add(time.Second))
	l := New(clock.Now)
	p := Policy{DailyOperations: 1}
	r, _ := l.Admit("t", p)
	l.Settle(r, true)
	clock.Set(lastMilli) // NTP steps back over midnight
	if _, d := l.Admit("t", p); d.Allowed() {
		t.Fatal("a step back re-opened the previous day's quota")
	}
	clock.Set(midnight.Add(2 * time.Second))
	if _, d := l.Admit("t", p); d.Allowed() {
		t.Fatal("stepping forward again handed out a fresh quota")
	}
}

func TestDayOf(t *testing.T) {
	tests := []struct {
		t    time.Time
		want int64
	}{
		{time.Unix(0, 0), 0},
		{time.Unix(86399, 999_999_999), 0},
		{time.Unix(86400, 0), 1},
		{time.Unix(-1, 0), -1},
		{midnight, midnight.Unix() / 86400},
	}
	for _, tt := range tests {
		t.Run(tt.t.String(), func(t *testing.T) {
			if got := dayOfNanos(tt.t.UnixNano()); got != tt.want {
				t.Fatalf("dayOfNanos = %d, want %d", got, tt.want)
			}
			if got := dayOfTime(tt.t); got != tt.want {
				t.Fatalf("dayOfTime = %d, want %d", got, tt.want)
			}
		})
	}
}
