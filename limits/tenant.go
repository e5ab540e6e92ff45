package limits

import (
	"sync"
	"time"
)

// tenantState is one tenant's admission state, guarded by its own mutex so that tenants never
// contend with each other.
type tenantState struct {
	mu sync.Mutex
	// gone is set when the state is removed from the limiter (Forget, EvictIdle). A caller
	// that found the state before its removal must look it up again, or its admission would
	// land in a state nobody else sees any more.
	gone bool
	c    counters
}

// counters is the tenant's state without its lock, so a snapshot of an unknown tenant can
// be computed from a zero value without creating anything.
type counters struct {
	day      int64 // UTC day (see day.go) that used and reserved belong to
	used     int64 // operations of day that the upstream answered
	reserved int64 // operations of day admitted and not yet settled
	bucket   gcra
	spend    spend // the month's money, see budget.go
}

// rollForward starts a new day when now is past the counters' day, and returns the day the
// counters now hold. A clock stepping back over midnight does not roll back: starting the
// earlier day afresh would hand out its quota a second time.
func (c *counters) rollForward(now int64) int64 {
	if today := dayOfNanos(now); today > c.day {
		c.day = today
		c.used = 0
		c.reserved = 0
		c.spend.rollForward(monthOfDay(today))
	}
	return c.day
}

// admit decides one request and, only if every limit passes, takes a token, reserves an
// operation and holds estimate against the month's budget. The caller holds the tenant's lock.
func (c *counters) admit(now int64, p Policy, estimate int64) Decision {
	day := c.rollForward(now)
	limit := p.quotaLimit()
	shape := p.bucketShape()
	quotaReset := dayStart(day+1) - now

	var debt, wait int64
	if shape.enabled() {
		debt = c.bucket.debt(now, shape)
		wait = shape.wait(debt)
	}

	var d Decision
	switch {
	case limit != Unlimited && c.used+c.reserved >= limit:
		// The quota is the limit that lasts, so it is the one reported; RetryAfter still waits
		// for a token too, since at midnight an empty bucket would refuse the retry again.
		d.Reason = QuotaExceeded
		d.RetryAfter = time.Duration(max(quotaReset, wait))
	case !c.spend.fits(p.MonthlyBudget, estimate):
		// Not retryable by waiting a little: the month's budget is spent, or this call's estimate
		// would overrun it.
		d.Reason = BudgetExceeded
	case wait > 0:
		d.Reason = RateLimited
		d.RetryAfter = time.Duration(wait)
	default:
		d.Reason = Admitted
		c.reserved++
		c.spend.hold(max(estimate, 0))
		if shape.enabled() {
			debt = c.bucket.take(now, debt, shape)
		}
	}

	d.QuotaLimit = limit
	d.QuotaRemaining = c.remaining(limit)
	d.QuotaReset = time.Duration(quotaReset)
	d.BudgetLimit, d.BudgetRemaining = c.spend.remaining(p.MonthlyBudget)
	if shape.enabled() {
		d.BucketLimit = shape.burst
		d.BucketRemaining = shape.tokensLeft(debt)
		d.BucketReset = time.Duration(debt)
	}
	return d
}

// remaining is what is left of limit, never negative (a seed or a lowered plan can put
// used above the limit), or Unlimited.
func (c *counters) remaining(limit int64) int64 {
	if limit == Unlimited {
		return Unlimited
	}
	return max(limit-c.used-c.reserved, 0)
}

// settle ends one reservation made on day. A reservation of a day the counters have left
// settles into nothing: that day's counts were dropped at rollover. With nothing reserved, a
// settle can only be a second settle of the same reservation, and is ignored rather than
// allowed to count an operation twice.
func (c *counters) settle(day int64, counted bool, estimate, cost int64) {
	if c.settleOperation(day, counted) {
		c.spend.settle(estimate, cost)
		return
	}
	c.settleEarlierMoney(day, estimate, cost)
}

// settleOperation ends the operation of a reservation made on day, reporting whether it was
// still held (see settle).
func (c *counters) settleOperation(day int64, counted bool) bool {
	if day != c.day || c.reserved <= 0 {
		return false
	}
	c.reserved--
	if counted {
		c.used++
	}
	return true
}

// settleMoney ends the money of a reservation whose operation has been settled already: it
// counts if the reservation's month is the one held.
func (c *counters) settleMoney(day int64, estimate, cost int64) {
	if day == c.day {
		c.spend.settle(estimate, cost)
		return
	}
	c.settleEarlierMoney(day, estimate, cost)
}

// settleEarlierMoney settles a reservation of an earlier day: its operation count is gone,
// but if the day was in this month its money is not.
func (c *counters) settleEarlierMoney(day int64, estimate, cost int64) {
	if monthOfDay(day) == c.spend.month && day < c.day {
		c.spend.settle(estimate, cost)
	}
}
