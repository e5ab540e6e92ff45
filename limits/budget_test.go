package limits

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var budgetPolicy = Policy{DailyOperations: Unlimited, MonthlyBudget: 1000}

func TestBudgetAdmitsWhatFits(t *testing.T) {
	clock := newTestClock(noon)
	l := New(clock.Now)
	for _, tc := range []struct {
		name     string
		estimate int64
		cost     int64
		want     Reason
		left     int64 // BudgetRemaining after the decision
	}{
		{"fits", 400, 300, Admitted, 600},
		{"fits exactly what is left", 700, 700, Admitted, 0},
		{"nothing left", 1, 0, BudgetExceeded, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, d := l.AdmitSpend("acme", budgetPolicy, tc.estimate)
			if d.Reason != tc.want || d.BudgetRemaining != tc.left || d.BudgetLimit != 1000 {
				t.Fatalf("decision %+v, want %s with %d left", d, tc.want, tc.left)
			}
			l.SettleSpend(r, true, tc.cost)
		})
	}
	if u := l.Usage("acme", budgetPolicy); u.Spent != 1000 || u.Held != 0 || u.BudgetRemaining != 0 {
		t.Errorf("usage %+v, want 1000 spent", u)
	}
}

func TestBudgetDenialConsumesNothing(t *testing.T) {
	l := New(newTestClock(noon).Now)
	p := Policy{DailyOperations: 10, Interval: time.Second, Burst: 5, MonthlyBudget: 100}
	if _, d := l.AdmitSpend("acme", p, 101); d.Reason != BudgetExceeded {
		t.Fatalf("got %s", d.Reason)
	}
	u := l.Usage("acme", p)
	if u.Reserved != 0 || u.BucketRemaining != 5 || u.Held != 0 {
		t.Errorf("a budget denial took something: %+v", u)
	}
	if _, d := l.AdmitSpend("acme", p, 100); !d.Allowed() {
		t.Errorf("a call that fits was refused: %s", d.Reason)
	}
}

// TestBudgetExactUnderConcurrency: 100 goroutines racing for a budget of 50 calls' estimates; when each
// call's actual cost is at most its estimate, spend never passes the budget.
func TestBudgetExactUnderConcurrency(t *testing.T) {
	l := New(newTestClock(noon).Now)
	p := Policy{DailyOperations: Unlimited, MonthlyBudget: 50 * 1000}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				r, d := l.AdmitSpend("acme", p, 1000)
				if d.Allowed() {
					admitted.Add(1)
					l.SettleSpend(r, true, 1000)
				}
			}
		}()
	}
	wg.Wait()
	if u := l.Usage("acme", p); admitted.Load() != 50 || u.Spent != 50*1000 {
		t.Fatalf("admitted %d, spent %d; want exactly 50 and the whole budget", admitted.Load(), u.Spent)
	}
}

// TestBudgetOverrunBound: when calls cost more than estimated, spend can pass the budget by at most the sum
// of (actual - estimate) of the calls admitted while it still fit — never by more.
func TestBudgetOverrunBound(t *testing.T) {
	l := New(newTestClock(noon).Now)
	p := Policy{DailyOperations: Unlimited, MonthlyBudget: 10_000}
	const estimate, actual = 100, 130
	var held []Reservation
	for {
		r, d := l.AdmitSpend("acme", p, estimate)
		if !d.Allowed() {
			break
		}
		held = append(held, r) // all in flight at once
	}
	if len(held) != 100 {
		t.Fatalf("admitted %d in flight, want 100 (10000 / 100)", len(held))
	}
	for _, r := range held {
		l.SettleSpend(r, true, actual)
	}
	u := l.Usage("acme", p)
	if bound := p.MonthlyBudget + int64(len(held))*(actual-estimate); u.Spent > bound || u.Spent != 13_000 {
		t.Fatalf("spent %d, bound %d", u.Spent, bound)
	}
	if _, d := l.AdmitSpend("acme", p, 1); d.Reason != BudgetExceeded {
		t.Fatalf("after the overrun: %s", d.Reason)
	}
}

func TestBudgetMonthRollover(t *testing.T) {
	clock := newTestClock(time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC))
	l := New(clock.Now)
	r, d := l.AdmitSpend("acme", budgetPolicy, 600)
	if !d.Allowed() {
		t.Fatal(d.Reason)
	}
	clock.Set(time.Date(2026, 12, 1, 0, 0, 1, 0, time.UTC))
	// The November call settles after midnight: its cost is November's, not December's.
	l.SettleSpend(r, true, 600)
	if u := l.Usage("acme", budgetPolicy); u.Spent != 0 || u.Held != 0 || u.BudgetRemaining != 1000 {
		t.Fatalf("December starts with %+v, want a fresh budget", u)
	}
	// A call admitted on the 1st and settled the same month counts, also across a day boundary.
	r, _ = l.AdmitSpend("acme", budgetPolicy, 100)
	clock.Set(time.Date(2026, 12, 2, 0, 0, 1, 0, time.UTC))
	l.SettleSpend(r, true, 80)
	if u := l.Usage("acme", budgetPolicy); u.Spent != 80 || u.Held != 0 {
		t.Fatalf("a call settled the next day of the same month: %+v", u)
	}
}

func TestSeedSpend(t *testing.T) {
	clock := newTestClock(noon)
	l := New(clock.Now)
	l.SeedSpend("acme", noon.AddDate(0, -1, 0), 900) // last month: ignored
	l.SeedSpend("acme", noon, 900)
	l.SeedSpend("acme", noon, 100) // never lowers
	if _, d := l.AdmitSpend("acme", budgetPolicy, 101); d.Reason != BudgetExceeded {
		t.Fatalf("after a seed of 900, an estimate of 101 got %s", d.Reason)
	}
	if _, d := l.AdmitSpend("acme", budgetPolicy, 100); !d.Allowed() {
		t.Fatalf("an estimate of 100 got %s", d.Reason)
	}
}

func TestEvictIdleKeepsSpend(t *testing.T) {
	l := New(newTestClock(noon).Now)
	r, _ := l.AdmitSpend("acme", Policy{DailyOperations: Unlimited, MonthlyBudget: 1000}, 10)
	l.SettleSpend(r, false, 10) // not counted as an operation, but it cost money
	if n := l.EvictIdle(); n != 0 {
		t.Fatalf("evicted a tenant with spend this month")
	}
}

func TestMonthOfDay(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want int64
	}{
		{time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{time.Date(1970, 1, 31, 23, 59, 59, 0, time.UTC), 0},
		{time.Date(1970, 2, 1, 0, 0, 0, 0, time.UTC), 1},
		{time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC), 56*12 + 11},
	} {
		if got := monthOfDay(dayOfTime(tc.t)); got != tc.want {
			t.Errorf("monthOfDay(%s) = %d, want %d", tc.t, got, tc.want)
		}
		if ms := monthStart(tc.want); time.Unix(0, ms).UTC().Day() != 1 {
			t.Errorf("monthStart(%d) = %s", tc.want, time.Unix(0, ms).UTC())
		}
	}
}

// TestSettleOperationThenSpend: the operation settles at once (the quota is exact for the next request),
// the estimate stays held until the cost is known, and the money lands in the month it was admitted in.
func TestSettleOperationThenSpend(t *testing.T) {
	p := Policy{DailyOperations: 10, MonthlyBudget: 1000}
	for _, tc := range []struct {
		name      string
		counted   bool
		settleAt  time.Time // when the cost becomes known
		wantUsed  int64     // operations used after the operation settles
		wantSpent int64     // spent once the money settles, read at settleAt
	}{
		{"same day", true, noon.Add(time.Minute), 1, 300},
		{"not counted", false, noon.Add(time.Minute), 0, 300},
		{"the next day, same month", true, noon.Add(24 * time.Hour), 1, 300},
		{"the next month", true, noon.AddDate(0, 1, 0), 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newTestClock(noon)
			l := New(clock.Now)
			r, d := l.AdmitSpend("acme", p, 400)
			if !d.Allowed() {
				t.Fatal(d.Reason)
			}
			money := l.SettleOperation(r, tc.counted)
			if again := l.SettleOperation(money, true); again != money {
				t.Fatal("settling the operation twice changed the reservation")
			}
			u := l.Usage("acme", p)
			if u.Used != tc.wantUsed || u.Reserved != 0 || u.Held != 400 || u.Spent != 0 {
				t.Fatalf("after the operation settled: %+v, want %d used and 400 held", u, tc.wantUsed)
			}
			clock.Set(tc.settleAt)
			l.SettleSpend(money, !tc.counted, 300) // counted is the operation's business, already settled
			if u := l.Usage("acme", p); u.Spent != tc.wantSpent || u.Held != 0 {
				t.Fatalf("after the money settled: %+v, want %d spent and nothing held", u, tc.wantSpent)
			}
			if tc.settleAt.Truncate(24 * time.Hour).Equal(noon.Truncate(24 * time.Hour)) {
				if u := l.Usage("acme", p); u.Used != tc.wantUsed || u.Reserved != 0 {
					t.Fatalf("settling the money changed the operations: %+v", u)
				}
			}
		})
	}
}
