package ledger

import (
	"context"
	"math"
	"testing"
	"time"
)

// TestHugeCostsDoNotJamTheWriter: records whose cost is at the saturation point (what pricing.Rate.Cost returns
// for an upstream that reports absurd usage) must neither wrap the month's total negative nor make the writer
// retry one batch forever, which fails every tenant's calls closed (503 ledger_unavailable). Today two such records
// in one batch wrap monthTotals.cost in Go, and in two batches the SQL sum overflows into a REAL that the STRICT
// monthly_usage table refuses.
func TestHugeCostsDoNotJamTheWriter(t *testing.T) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	op := func(id string) *Operation {
		return &Operation{ID: id, At: at, TenantID: "acme", KeyID: "k", Type: "chat", Method: "POST", Path: "/v1/chat/completions",
			Status: 200, Outcome: OutcomeOK, Counted: true, Model: "m", Usage: Usage{InputTokens: 1 << 53, OutputTokens: 1 << 53, Source: "reported"},
			Cost: math.MaxInt64}
	}
	flush := func(t *testing.T, w *Writer) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := w.Flush(ctx); err != nil {
			t.Fatalf("flush: %v (commit error: %v)", err, w.Err())
		}
	}
	for _, tc := range []struct {
		name     string
		batches  [][]string
		wantRecs int64
	}{
		{"one batch", [][]string{{"op_a", "op_b"}}, 2},
		{"two batches", [][]string{{"op_a"}, {"op_b"}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTestStore(t)
			w := newTestWriter(t, s, WriterOptions{Interval: time.Hour})
			for _, batch := range tc.batches {
				for _, id := range batch {
					if err := w.Record(context.Background(), op(id)); err != nil {
						t.Fatal(err)
					}
				}
				flush(t, w)
			}
			if n := totalOps(t, s); n != tc.wantRecs {
				t.Errorf("%d records committed, want %d", n, tc.wantRecs)
			}
			lines, err := s.MonthlyUsage(context.Background(), "acme", Month(at))
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range lines {
				if l.Cost < 0 || l.Operations != 2 {
					t.Errorf("monthly usage after two saturated records: %+v; want 2 operations and a cost that does not wrap", l)
				}
			}
			if err := w.Err(); err != nil {
				t.Errorf("writer still failing: %v", err)
			}
		})
	}
}
