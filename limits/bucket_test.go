package limits

import (
	"testing"
	"time"
)

func TestBucketBurstRefillAndCap(t *testing.T) {
	p := Policy{DailyOperations: Unlimited, Interval: time.Second, Burst: 3}

	type step struct {
		advance   time.Duration
		want      Reason
		remaining int64         // BucketRemaining
		reset     time.Duration // BucketReset
		retry     time.Duration // RetryAfter
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"burst admitted at once, next denied with Interval minus elapsed", []step{
			{0, Admitted, 2, 1 * time.Second, 0},
			{0, Admitted, 1, 2 * time.Second, 0},
			{0, Admitted, 0, 3 * time.Second, 0},
			{400 * time.Millisecond, RateLimited, 0, 2600 * time.Millisecond, 600 * time.Millisecond},
			{0, RateLimited, 0, 2600 * time.Millisecond, 600 * time.Millisecond},
		}},
		{"refill after time passes", []step{
			{0, Admitted, 2, 1 * time.Second, 0},
			{0, Admitted, 1, 2 * time.Second, 0},
			{0, Admitted, 0, 3 * time.Second, 0},
			{999 * time.Millisecond, RateLimited, 0, 2001 * time.Millisecond, time.Millisecond},
			{time.Millisecond, Admitted, 0, 3 * time.Second, 0},
			{0, RateLimited, 0, 3 * time.Second, time.Second},
			{2 * time.Second, Admitted, 1, 2 * time.Second, 0},
		}},
		{"never more than Burst after long idle", []step{
			{0, Admitted, 2, 1 * time.Second, 0},
			{24 * time.Hour, Admitted, 2, 1 * time.Second, 0},
			{0, Admitted, 1, 2 * time.Second, 0},
			{0, Admitted, 0, 3 * time.Second, 0},
			{0, RateLimited, 0, 3 * time.Second, time.Second},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newTestClock(noon)
			l := New(clock.Now)
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				r, d := l.Admit("t1", p)
				if d.Reason != s.want || d.BucketRemaining != s.remaining || d.BucketReset != s.reset || d.RetryAfter != s.retry {
					t.Fatalf("step %d: got %v remaining=%d reset=%v retry=%v, want %v remaining=%d reset=%v retry=%v",
						i, d.Reason, d.BucketRemaining, d.BucketReset, d.RetryAfter, s.want, s.remaining, s.reset, s.retry)
				}
				if d.BucketLimit != 3 {
					t.Fatalf("step %d: BucketLimit = %d, want 3", i, d.BucketLimit)
				}
				if r.Held() != d.Allowed() {
					t.Fatalf("step %d: reservation held = %v for %v", i, r.Held(), d.Reason)
				}
				l.Settle(r, true)
			}
		})
	}
}

func TestBucketPolicyChange(t *testing.T) {
	tests := []struct {
		name      string
		before    Policy
		taken     int // admitted under before, at the same instant
		after     Policy
		want      Reason
		remaining int64 // BucketRemaining of the first Admit under after
	}{
		{"burst shrinks: debt clamped to the new capacity", Policy{Interval: time.Second, Burst: 10}, 10,
			Policy{Interval: time.Second, Burst: 2}, RateLimited, 0},
		{"burst grows: tokens taken carry over", Policy{Interval: time.Second, Burst: 2}, 2,
			Policy{Interval: time.Second, Burst: 10}, Admitted, 7},
		{"interval grows: tokens taken carry over", Policy{Interval: time.Second, Burst: 5}, 3,
			Policy{Interval: time.Minute, Burst: 5}, Admitted, 1},
		{"interval shrinks: tokens taken carry over", Policy{Interval: time.Minute, Burst: 5}, 5,
			Policy{Interval: time.Second, Burst: 5}, RateLimited, 0},
		{"bucket disabled then enabled again", Policy{Interval: time.Second, Burst: 1}, 1,
			Policy{Interval: 0}, Admitted, 0},
		{"burst below 1 is taken as 1", Policy{Interval: time.Second, Burst: 0}, 1,
			Policy{Interval: time.Second, Burst: -3}, RateLimited, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(newTestClock(noon).Now)
			tt.before.DailyOperations, tt.after.DailyOperations = Unlimited, Unlimited
			for i := range tt.taken {
				if _, d := l.Admit("t", tt.before); !d.Allowed() {
					t.Fatalf("setup admit %d denied: %v", i, d.Reason)
				}
			}
			_, d := l.Admit("t", tt.after)
			if d.Reason != tt.want || d.BucketRemaining != tt.remaining {
				t.Fatalf("got %v remaining %d, want %v remaining %d", d.Reason, d.BucketRemaining, tt.want, tt.remaining)
			}
			if d.BucketLimit != max(tt.after.Burst, 1) && tt.after.Interval > 0 {
				t.Fatalf("BucketLimit %d", d.BucketLimit)
			}
		})
	}
}

func TestRescaleSaturates(t *testing.T) {
	tests := []struct {
		d, from, to, want int64
	}{
		{3 * int64(time.Second), int64(time.Second), int64(time.Minute), 3 * int64(time.Minute)},
		{1 << 61, 1, 1 << 10, 1<<63 - 1},
		{int64(time.Hour), int64(time.Hour), int64(time.Hour), int64(time.Hour)},
	}
	for _, tt := range tests {
		t.Run("", func(t *testing.T) {
			if got := rescale(tt.d, tt.from, tt.to); got != tt.want {
				t.Fatalf("rescale(%d, %d, %d) = %d, want %d", tt.d, tt.from, tt.to, got, tt.want)
			}
		})
	}
}

func TestHugeBucketDoesNotOverflow(t *testing.T) {
	l := New(newTestClock(noon).Now)
	p := Policy{DailyOperations: Unlimited, Interval: 1<<63 - 1, Burst: 1<<63 - 1}
	// Burst*Interval is saturated, so time arithmetic stays in range: the first admit passes
	// and later ones wait a positive time rather than wrapping negative.
	for i := range 3 {
		_, d := l.Admit("t", p)
		if i == 0 && !d.Allowed() || d.BucketReset < 0 || d.BucketRemaining < 0 || d.RetryAfter < 0 {
			t.Fatalf("admit %d: %+v", i, d)
		}
	}
}
