package limits

import "time"

// Reason says why Admit decided as it did.
type Reason uint8

const (
	// Admitted starts at 1 so that a zero Decision is not Allowed: code that forgets to call
	// Admit fails closed.
	Admitted Reason = iota + 1
	// RateLimited: the token bucket is empty.
	RateLimited
	// QuotaExceeded: the day's operations are used up (or all held by requests in flight).
	QuotaExceeded
	// BudgetExceeded: the month's spend plus what calls in flight may cost plus this call's
	// estimate is over the monthly budget.
	BudgetExceeded
)

// String gives the reason's snake_case name, as used in logs, metrics and error codes.
func (r Reason) String() string {
	switch r {
	case Admitted:
		return "admitted"
	case RateLimited:
		return "rate_limited"
	case QuotaExceeded:
		return "quota_exceeded"
	case BudgetExceeded:
		return "budget_exceeded"
	}
	return "unknown"
}

// Decision is the outcome of Admit plus what the gateway needs for the IETF RateLimit
// headers and Retry-After.
type Decision struct {
	Reason Reason
	// RetryAfter, when denied, is the earliest time a retry could be admitted: until a token
	// is available (RateLimited), or until the next UTC midnight and a token (QuotaExceeded).
	RetryAfter time.Duration
	// QuotaLimit is the day's operation limit, Unlimited if none.
	QuotaLimit int64
	// QuotaRemaining is limit - used - reserved after this admission, never negative;
	// Unlimited when QuotaLimit is Unlimited.
	QuotaRemaining int64
	// QuotaReset is the time until the next UTC midnight.
	QuotaReset time.Duration
	// BucketLimit is the bucket's Burst, 0 if the policy has no bucket.
	BucketLimit int64
	// BucketRemaining is the whole tokens left after this admission (0 if no bucket).
	BucketRemaining int64
	// BucketReset is the time until the bucket is full again (0 if no bucket).
	BucketReset time.Duration
	// BudgetLimit is the monthly budget (0 if none); BudgetRemaining is what is left of it after
	// this admission's estimate, never negative.
	BudgetLimit, BudgetRemaining int64
}

// Allowed reports whether the request was admitted.
func (d Decision) Allowed() bool { return d.Reason == Admitted }
