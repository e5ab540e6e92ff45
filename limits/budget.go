package limits

import (
	"math"
	"time"
)

// spend is a tenant's money for one UTC calendar month, in the ledger's money unit.
type spend struct {
	month int64 // months since January 1970 (see monthOfDay)
	spent int64 // settled cost of the month's calls
	held  int64 // estimates of calls admitted and not yet settled
}

// rollForward starts month afresh when it is later than the one held.
func (s *spend) rollForward(month int64) {
	if month > s.month {
		*s = spend{month: month}
	}
}

// fits reports whether a call estimated at estimate fits in budget (<= 0: no budget).
func (s *spend) fits(budget, estimate int64) bool {
	if budget <= 0 {
		return true
	}
	return addSat(addSat(s.spent, s.held), max(estimate, 0)) <= budget
}

func (s *spend) hold(estimate int64) { s.held = addSat(s.held, estimate) }

func (s *spend) settle(estimate, cost int64) {
	s.held = max(s.held-estimate, 0)
	s.spent = addSat(s.spent, max(cost, 0))
}

// addSat adds two non-negative amounts, stopping at the int64 limit instead of wrapping negative.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// remaining is the budget and what is left of it (0, 0 without a budget).
func (s *spend) remaining(budget int64) (limit, left int64) {
	if budget <= 0 {
		return 0, 0
	}
	return budget, max(budget-addSat(s.spent, s.held), 0)
}

func (s *spend) idle() bool { return s.spent == 0 && s.held == 0 }

// monthOfDay is the UTC calendar month holding day (days since the epoch), as months since
// January 1970.
func monthOfDay(day int64) int64 {
	t := time.Unix(day*24*60*60, 0).UTC()
	return int64(t.Year()-1970)*12 + int64(t.Month()-1)
}

// monthStart is UTC midnight on the first of month, in Unix nanoseconds.
func monthStart(month int64) int64 {
	return time.Date(1970+int(month/12), time.Month(month%12+1), 1, 0, 0, 0, 0, time.UTC).UnixNano()
}

// SeedSpend raises tenant's spend for the current UTC month to spent, as recorded by the ledger,
// so that a restart never hands out a fresh budget. Like Seed it never lowers a value, and a
// seed for another month is ignored.
func (l *Limiter) SeedSpend(tenant string, month time.Time, spent int64) {
	now := l.now().UnixNano()
	want := monthOfDay(dayOfTime(month))
	if spent <= 0 || want != monthOfDay(dayOfNanos(now)) {
		return
	}
	l.locked(tenant, func(c *counters) {
		c.rollForward(now)
		if c.spend.month == want {
			c.spend.spent = max(c.spend.spent, spent)
		}
	})
}
