package limits

import (
	"hash/maphash"
	"sync"
	"time"
)

// shardCount spreads tenants over independent map locks; the map lock is held only to find
// or create a tenant's state, never while deciding.
const shardCount = 64

type shard struct {
	mu      sync.RWMutex
	tenants map[string]*tenantState
	_       [64]byte // keeps neighbouring shards' locks off one cache line
}

// Limiter holds every tenant's admission state in memory. It is safe for concurrent use.
//
// A tenant's id is kept, as given, for as long as its state is: pass ids that stand alone (the key directory's,
// the ledger's), not slices of a larger buffer such as a request, which they would keep alive. Copying every id
// instead cost an object a tenant, and the collector's work grows with the objects alive.
type Limiter struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [shardCount]shard
}

// New returns an empty Limiter reading the time from now (time.Now if nil). Days are UTC
// whatever the location of the times now returns.
func New(now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	l := &Limiter{now: now, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].tenants = make(map[string]*tenantState)
	}
	return l
}

// Admit decides one request of tenant under p. Bucket and quota are both checked under the
// tenant's lock and only if both pass is a token taken and one operation reserved
// (used + reserved + 1 <= limit); a denial consumes nothing. When both refuse, the reason is
// QuotaExceeded (see the package comment). An admitted request's Reservation must be
// settled exactly once; a denied one's is zero.
func (l *Limiter) Admit(tenant string, p Policy) (Reservation, Decision) {
	return l.AdmitSpend(tenant, p, 0)
}

// AdmitSpend is Admit for a call expected to cost up to estimate (money, see
// Policy.MonthlyBudget): it is admitted only if the month's spend, the estimates of calls in
// flight and estimate together stay within the budget, and then estimate is held until
// SettleSpend. So concurrent calls cannot overrun the budget by more than the sum of their
// actual costs above their estimates: with estimates that are upper bounds, not at all.
func (l *Limiter) AdmitSpend(tenant string, p Policy, estimate int64) (Reservation, Decision) {
	now := l.now().UnixNano()
	var d Decision
	var day int64
	st := l.locked(tenant, func(c *counters) {
		d = c.admit(now, p, estimate)
		day = c.day
	})
	if !d.Allowed() {
		return Reservation{}, d
	}
	return Reservation{state: st, day: day, estimate: max(estimate, 0)}, d
}

// locked runs fn on tenant's counters (created if need be) under the tenant's lock, and returns the state. A
// state removed (Forget, EvictIdle) between the lookup and the lock is looked up again: changing it would
// change nothing anyone else sees.
func (l *Limiter) locked(tenant string, fn func(*counters)) *tenantState {
	for {
		st := l.lookup(tenant, true)
		st.mu.Lock()
		if st.gone {
			st.mu.Unlock()
			continue
		}
		fn(&st.c)
		st.mu.Unlock()
		return st
	}
}

// Seed raises tenant's count of used operations for the current UTC day to used, as
// recorded by the ledger, so that a restart never hands out a fresh quota. It never lowers
// a count (used = max(used, current)), so seeding after requests were admitted is safe.
// A seed for any day but the current one is ignored: that count no longer limits anything.
func (l *Limiter) Seed(tenant string, day time.Time, used int64) {
	now := l.now().UnixNano()
	if used <= 0 || dayOfTime(day) != dayOfNanos(now) {
		return
	}
	l.locked(tenant, func(c *counters) {
		if c.rollForward(now) == dayOfTime(day) {
			c.used = max(c.used, used)
		}
	})
}

// Forget drops a deleted tenant's state. Reservations still in flight settle into the
// dropped state and change nothing; if the tenant comes back it starts afresh (seed it).
func (l *Limiter) Forget(tenant string) {
	sh := l.shardFor(tenant)
	sh.mu.Lock()
	if st := sh.tenants[tenant]; st != nil {
		st.mu.Lock()
		st.gone = true
		st.mu.Unlock()
		delete(sh.tenants, tenant)
	}
	sh.mu.Unlock()
}

// EvictIdle drops the state of tenants for which nothing is lost by it: nothing in flight,
// nothing used today and a full bucket, so a new state for them is identical. It returns
// how many were dropped. Call it now and then to keep memory bounded with many tenants.
func (l *Limiter) EvictIdle() int {
	now := l.now().UnixNano()
	today := dayOfNanos(now)
	evicted := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for tenant, st := range sh.tenants {
			st.mu.Lock()
			c := st.c
			idle := c.bucket.tat <= now && (c.day < today || c.used == 0 && c.reserved == 0) &&
				(c.spend.month < monthOfDay(today) || c.spend.idle())
			if idle {
				st.gone = true
				delete(sh.tenants, tenant)
				evicted++
			}
			st.mu.Unlock()
		}
		sh.mu.Unlock()
	}
	return evicted
}

// Len is the number of tenants whose state is held.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.RLock()
		n += len(sh.tenants)
		sh.mu.RUnlock()
	}
	return n
}

func (l *Limiter) shardFor(tenant string) *shard {
	return &l.shards[maphash.String(l.seed, tenant)%shardCount]
}

// lookup finds tenant's state, creating it when create is set. The common case takes only
// the shard's read lock; creation takes the write lock once per tenant.
func (l *Limiter) lookup(tenant string, create bool) *tenantState {
	sh := l.shardFor(tenant)
	sh.mu.RLock()
	st := sh.tenants[tenant]
	sh.mu.RUnlock()
	if st != nil || !create {
		return st
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if st = sh.tenants[tenant]; st == nil {
		st = &tenantState{}
		sh.tenants[tenant] = st
	}
	return st
}
