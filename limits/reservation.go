package limits

import "time"

// Reservation is one daily operation held by an admitted request. It must be settled exactly
// once. It is a small value (no allocation); the zero Reservation holds nothing.
type Reservation struct {
	state     *tenantState
	day       int64 // UTC day the operation was admitted on
	estimate  int64 // money held against the month's budget
	moneyOnly bool  // the operation is settled (SettleOperation); the money is still held
}

// Held reports whether r holds an operation, i.e. came from an admitted request.
func (r Reservation) Held() bool { return r.state != nil }

// Day is UTC midnight of the day the operation was admitted on (zero time if none), so the
// ledger can book an operation that finishes after midnight on the day that admitted it.
func (r Reservation) Day() time.Time {
	if r.state == nil {
		return time.Time{}
	}
	return utcTime(dayStart(r.day))
}

// Settle ends r: counted (the upstream answered, status below 500) makes the operation used;
// otherwise (5xx, connection failure) it is released for another request. A reservation from
// a UTC day that has since ended settles into nothing, as that day's counts are gone.
// Settling a zero Reservation is a no-op. Settle reads no clock: a reservation's day is
// compared with the day the tenant's counters hold.
func (l *Limiter) Settle(r Reservation, counted bool) {
	l.SettleSpend(r, counted, 0)
}

// SettleSpend is Settle for a call that cost money: the estimate held at admission is released
// and cost (the actual cost, which may be above or below the estimate) is added to the month's
// spend — whether or not the operation counted, since a provider may bill a failed call.
// A reservation from a month that has since ended adds nothing in memory.
func (l *Limiter) SettleSpend(r Reservation, counted bool, cost int64) {
	if r.state == nil {
		return
	}
	r.state.mu.Lock()
	if r.moneyOnly {
		r.state.c.settleMoney(r.day, r.estimate, cost)
	} else {
		r.state.c.settle(r.day, counted, r.estimate, cost)
	}
	r.state.mu.Unlock()
}

// SettleOperation ends r's operation as Settle does, at once, and keeps its estimate held
// against the budget until the call's cost is known: the Reservation it returns holds the
// money alone, and SettleSpend of it (counted is then ignored) settles that. The gateway
// prices a call after its answer has gone out, off the request's path, while the daily
// quota must be exact for the next request.
func (l *Limiter) SettleOperation(r Reservation, counted bool) Reservation {
	if r.state == nil || r.moneyOnly {
		return r
	}
	r.state.mu.Lock()
	r.state.c.settleOperation(r.day, counted)
	r.state.mu.Unlock()
	r.moneyOnly = true
	return r
}
