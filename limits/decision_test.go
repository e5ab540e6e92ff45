package limits

import (
	"testing"
	"time"
)

func TestDecisionHeaderFields(t *testing.T) {
	both := Policy{DailyOperations: 3, Interval: 10 * time.Second, Burst: 2}
	tests := []struct {
		name    string
		policy  Policy
		setup   int           // admissions (settled as counted) before the one checked
		advance time.Duration // after setup
		want    Decision
	}{
		{"first admission", both, 0, 0, Decision{
			Reason: Admitted, QuotaLimit: 3, QuotaRemaining: 2, QuotaReset: 12 * time.Hour,
			BucketLimit: 2, BucketRemaining: 1, BucketReset: 10 * time.Second,
		}},
		{"bucket empty, quota has room: rate limited", both, 2, 4 * time.Second, Decision{
			Reason: RateLimited, RetryAfter: 6 * time.Second,
			QuotaLimit: 3, QuotaRemaining: 1, QuotaReset: 12*time.Hour - 4*time.Second,
			BucketLimit: 2, BucketRemaining: 0, BucketReset: 16 * time.Second,
		}},
		{"quota used up, bucket has tokens: quota exceeded until midnight", Policy{DailyOperations: 3, Interval: 10 * time.Second, Burst: 3}, 3, time.Minute, Decision{
			Reason: QuotaExceeded, RetryAfter: 12*time.Hour - time.Minute,
			QuotaLimit: 3, QuotaRemaining: 0, QuotaReset: 12*time.Hour - time.Minute,
			BucketLimit: 3, BucketRemaining: 3, BucketReset: 0,
		}},
		// Both refuse: QuotaExceeded, because the quota is the refusal that lasts; a client
		// told "rate limited, retry in 10s" would be refused again until midnight.
		{"both exhausted: quota exceeded wins", Policy{DailyOperations: 2, Interval: 10 * time.Second, Burst: 2}, 2, 0, Decision{
			Reason: QuotaExceeded, RetryAfter: 12 * time.Hour,
			QuotaLimit: 2, QuotaRemaining: 0, QuotaReset: 12 * time.Hour,
			BucketLimit: 2, BucketRemaining: 0, BucketReset: 20 * time.Second,
		}},
		// When a token takes longer than midnight, RetryAfter waits for the token too.
		{"both exhausted, token after midnight: retry waits for the token", Policy{DailyOperations: 1, Interval: 13 * time.Hour, Burst: 1}, 1, 0, Decision{
			Reason: QuotaExceeded, RetryAfter: 13 * time.Hour,
			QuotaLimit: 1, QuotaRemaining: 0, QuotaReset: 12 * time.Hour,
			BucketLimit: 1, BucketRemaining: 0, BucketReset: 13 * time.Hour,
		}},
		{"no bucket", Policy{DailyOperations: 5}, 1, 0, Decision{
			Reason: Admitted, QuotaLimit: 5, QuotaRemaining: 3, QuotaReset: 12 * time.Hour,
		}},
		{"unlimited quota", Policy{DailyOperations: Unlimited, Interval: time.Second, Burst: 5}, 0, 0, Decision{
			Reason: Admitted, QuotaLimit: Unlimited, QuotaRemaining: Unlimited, QuotaReset: 12 * time.Hour,
			BucketLimit: 5, BucketRemaining: 4, BucketReset: time.Second,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newTestClock(noon)
			l := New(clock.Now)
			for i := range tt.setup {
				r, d := l.Admit("t", tt.policy)
				if !d.Allowed() {
					t.Fatalf("setup admit %d: %v", i, d.Reason)
				}
				l.Settle(r, true)
			}
			clock.Advance(tt.advance)
			r, got := l.Admit("t", tt.policy)
			if got != tt.want {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
			if r.Held() != got.Allowed() {
				t.Fatalf("reservation held %v for %v", r.Held(), got.Reason)
			}
		})
	}
}

func TestDenialConsumesNothing(t *testing.T) {
	clock := newTestClock(noon)
	l := New(clock.Now)
	p := Policy{DailyOperations: 2, Interval: time.Second, Burst: 1}
	r, _ := l.Admit("t", p)
	l.Settle(r, true)
	for range 100 { // rate limited: must not reserve quota
		if _, d := l.Admit("t", p); d.Reason != RateLimited {
			t.Fatalf("got %v", d.Reason)
		}
	}
	clock.Advance(time.Second)
	r, d := l.Admit("t", p)
	if !d.Allowed() {
		t.Fatalf("after refill: %v", d.Reason)
	}
	l.Settle(r, true)
	for range 100 { // quota exceeded: must not take tokens
		l.Admit("t", p)
	}
	if u := l.Usage("t", p); u.Used != 2 || u.Reserved != 0 || u.BucketRemaining != 0 || !u.BucketResetsAt.Equal(clock.Now().Add(time.Second)) {
		t.Fatalf("usage %+v", u)
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		r       Reason
		name    string
		allowed bool
	}{
		{Admitted, "admitted", true},
		{RateLimited, "rate_limited", false},
		{QuotaExceeded, "quota_exceeded", false},
		{0, "unknown", false}, // a zero Decision fails closed
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.r.String() != tt.name || (Decision{Reason: tt.r}).Allowed() != tt.allowed {
				t.Fatalf("%d: %q allowed=%v", tt.r, tt.r.String(), Decision{Reason: tt.r}.Allowed())
			}
		})
	}
}
