package limits

import (
	"testing"
	"time"
)

func TestSeedAfterRestart(t *testing.T) {
	p := Policy{DailyOperations: 10}
	today := noon.Truncate(24 * time.Hour)
	tests := []struct {
		name      string
		day       time.Time
		used      int64
		before    int // admissions (counted) in the new limiter before the seed
		wantAdmit int // further admissions allowed after the seed
	}{
		{"seeded count holds after restart", today, 7, 0, 3},
		{"any instant of today names today", noon.Add(3 * time.Hour), 7, 0, 3},
		{"a day in another zone is its UTC day", noon.In(time.FixedZone("UTC-8", -8*60*60)), 4, 0, 6},
		{"seed at or above the limit admits nothing", today, 12, 0, 0},
		{"seed never lowers a count", today, 2, 5, 5},
		{"seed raises a count already started", today, 8, 5, 2},
		{"yesterday is ignored", today.Add(-time.Nanosecond), 7, 0, 10},
		{"tomorrow is ignored", today.Add(24 * time.Hour), 7, 0, 10},
		{"zero is ignored", today, 0, 0, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The limiter of a restarted gateway: empty until seeded from the ledger.
			l := New(newTestClock(noon).Now)
			for range tt.before {
				r, _ := l.Admit("t", p)
				l.Settle(r, true)
			}
			l.Seed("t", tt.day, tt.used)
			admitted := 0
			for range 20 {
				r, d := l.Admit("t", p)
				if d.Allowed() {
					admitted++
				}
				l.Settle(r, true)
			}
			if admitted != tt.wantAdmit {
				t.Fatalf("admitted %d after seed, want %d", admitted, tt.wantAdmit)
			}
		})
	}
}

func TestSeedCreatesNoStateWhenIgnored(t *testing.T) {
	l := New(newTestClock(noon).Now)
	l.Seed("t", noon.Add(-24*time.Hour), 5)
	if l.Len() != 0 {
		t.Fatalf("Len = %d after an ignored seed", l.Len())
	}
	l.Seed("t", noon, 5)
	if l.Len() != 1 {
		t.Fatalf("Len = %d after a seed", l.Len())
	}
}
