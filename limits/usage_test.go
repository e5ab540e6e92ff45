package limits

import (
	"testing"
	"time"
)

func TestUsageSnapshot(t *testing.T) {
	p := Policy{DailyOperations: 10, Interval: 2 * time.Second, Burst: 4}
	today := noon.Truncate(24 * time.Hour)
	tomorrow := today.Add(24 * time.Hour)
	tests := []struct {
		name     string
		counted  int // admitted and counted
		inFlight int // admitted and not settled
		advance  time.Duration
		want     Usage
	}{
		{"unknown tenant: a fresh state", 0, 0, 0, Usage{
			Day: today, Limit: 10, Remaining: 10, ResetsAt: tomorrow,
			BucketLimit: 4, BucketRemaining: 4, BucketResetsAt: noon,
		}},
		{"used and in flight", 2, 1, 0, Usage{
			Day: today, Used: 2, Reserved: 1, Limit: 10, Remaining: 7, ResetsAt: tomorrow,
			BucketLimit: 4, BucketRemaining: 1, BucketResetsAt: noon.Add(6 * time.Second),
		}},
		{"bucket partly refilled", 3, 0, 3 * time.Second, Usage{
			Day: today, Used: 3, Limit: 10, Remaining: 7, ResetsAt: tomorrow,
			BucketLimit: 4, BucketRemaining: 2, BucketResetsAt: noon.Add(6 * time.Second),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newTestClock(noon)
			l := New(clock.Now)
			for range tt.counted {
				r, _ := l.Admit("t", p)
				l.Settle(r, true)
			}
			for range tt.inFlight {
				l.Admit("t", p)
			}
			held := l.Len()
			clock.Advance(tt.advance)
			got := l.Usage("t", p)
			tt.want.Month = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			tt.want.BudgetResetsAt = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			if got != tt.want {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
			if l.Len() != held {
				t.Fatalf("Usage changed Len from %d to %d", held, l.Len())
			}
		})
	}
}

func TestUsageWithoutBucketAndUnlimited(t *testing.T) {
	l := New(newTestClock(noon).Now)
	r, _ := l.Admit("t", Policy{DailyOperations: Unlimited})
	l.Settle(r, true)
	got := l.Usage("t", Policy{DailyOperations: Unlimited})
	if got.Used != 1 || got.Limit != Unlimited || got.Remaining != Unlimited ||
		got.BucketLimit != 0 || got.BucketRemaining != 0 || !got.BucketResetsAt.IsZero() {
		t.Fatalf("%+v", got)
	}
}
