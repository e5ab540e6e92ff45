package limits

import "time"

// Usage is a snapshot of a tenant's limits, for the usage API.
type Usage struct {
	Day       time.Time // UTC midnight starting the day counted
	Used      int64     // operations the upstream answered today
	Reserved  int64     // operations admitted and still in flight
	Limit     int64     // the day's limit, Unlimited if none
	Remaining int64     // Limit - Used - Reserved, never negative; Unlimited if Limit is
	ResetsAt  time.Time // the next UTC midnight

	BucketLimit     int64     // Burst, 0 if the policy has no bucket
	BucketRemaining int64     // whole tokens available now
	BucketResetsAt  time.Time // when the bucket is full again (now if full; zero if no bucket)

	Month           time.Time // UTC midnight on the first of the month counted
	Spent           int64     // settled cost of the month's calls
	Held            int64     // estimates held by calls in flight
	Budget          int64     // the monthly budget, 0 if none
	BudgetRemaining int64     // Budget - Spent - Held, never negative; 0 if no budget
	BudgetResetsAt  time.Time // the first of next month
}

// Usage returns tenant's usage under p. It creates no state for an unknown tenant (its
// snapshot is that of a fresh one) and changes nothing but what a day rollover implies.
func (l *Limiter) Usage(tenant string, p Policy) Usage {
	now := l.now().UnixNano()
	var c counters
	if st := l.lookup(tenant, false); st != nil {
		st.mu.Lock()
		st.c.rollForward(now)
		c = st.c
		st.mu.Unlock()
	}
	day := c.rollForward(now)
	limit := p.quotaLimit()
	u := Usage{
		Day:       utcTime(dayStart(day)),
		Used:      c.used,
		Reserved:  c.reserved,
		Limit:     limit,
		Remaining: c.remaining(limit),
		ResetsAt:  utcTime(dayStart(day + 1)),
	}
	u.Month, u.BudgetResetsAt = utcTime(monthStart(c.spend.month)), utcTime(monthStart(c.spend.month+1))
	u.Spent, u.Held = c.spend.spent, c.spend.held
	u.Budget, u.BudgetRemaining = c.spend.remaining(p.MonthlyBudget)
	if shape := p.bucketShape(); shape.enabled() {
		debt := c.bucket.debt(now, shape)
		u.BucketLimit = shape.burst
		u.BucketRemaining = shape.tokensLeft(debt)
		u.BucketResetsAt = utcTime(now + debt)
	}
	return u
}
