package limits

import "time"

// Unlimited as Policy.DailyOperations means no daily operation limit.
const Unlimited int64 = -1

// Policy is what a tenant's plan allows. It is passed on every call, so a plan change applies at once.
type Policy struct {
	// DailyOperations is the number of operations per UTC day; Unlimited (or any negative value)
	// for no limit; 0 admits nothing.
	DailyOperations int64
	// Interval is how often the token bucket gains one token; 0 (or negative) disables the bucket.
	Interval time.Duration
	// Burst is the bucket's capacity; values below 1 are taken as 1 when the bucket is enabled.
	Burst int64
	// MonthlyBudget is the most a tenant may spend per UTC calendar month, in the ledger's money unit
	// (nano-units of the currency); 0 or negative: no budget.
	MonthlyBudget int64
	// WarnPercent is the share of the quota or budget at which the gateway sends its warning events. The
	// limiter does not use it; it travels with the plan's limits.
	WarnPercent int64
}

// quotaLimit is the daily limit, with every negative value read as Unlimited so that a stray
// -2 from a config does not silently admit nothing.
func (p Policy) quotaLimit() int64 {
	if p.DailyOperations < 0 {
		return Unlimited
	}
	return p.DailyOperations
}

// maxCapacity bounds Burst*Interval (about 73 years) so that now + capacity, in Unix
// nanoseconds, can never overflow an int64.
const maxCapacity = int64(1) << 61

// bucketShape is a Policy's bucket in the integer nanoseconds the GCRA works in.
type bucketShape struct {
	interval int64 // ns per token; 0: no bucket
	burst    int64 // tokens the bucket holds when full
	capacity int64 // burst * interval, saturated at maxCapacity
}

func (p Policy) bucketShape() bucketShape {
	if p.Interval <= 0 {
		return bucketShape{}
	}
	interval := min(int64(p.Interval), maxCapacity)
	burst := max(p.Burst, 1)
	capacity := maxCapacity
	if burst <= maxCapacity/interval {
		capacity = burst * interval
	}
	return bucketShape{interval: interval, burst: burst, capacity: capacity}
}

func (s bucketShape) enabled() bool { return s.interval > 0 }

// wait is how long until one token is available given the bucket's debt (0: available now).
func (s bucketShape) wait(debt int64) int64 {
	return max(debt+s.interval-s.capacity, 0)
}

// tokensLeft is the number of whole tokens in a bucket with the given debt.
func (s bucketShape) tokensLeft(debt int64) int64 {
	return (s.capacity - debt) / s.interval
}
