package ledger

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkAnalytics30Days is the budget: a 30-day range for a tenant with a million operations among
// 200 other tenants, answered from the rollups with every hour's percentiles; the tenant uses one model and
// operation type (720 rows), or three models and two types (4,320 rows). The rollups are written straight
// from a million records aggregated in memory, the way the writer would have left them, rather than by
// pushing the records through the writer.
func BenchmarkAnalytics30Days(b *testing.B) {
	for _, mix := range []struct {
		name          string
		models, types []string
	}{
		{"one model", []string{"gpt-4o-mini"}, []string{"chat"}},
		{"three models two types", []string{"gpt-4o-mini", "gpt-4o", "claude-test"}, []string{"chat", "embedding"}},
	} {
		b.Run(mix.name, func(b *testing.B) { benchmarkAnalytics(b, mix.models, mix.types) })
	}
}

func benchmarkAnalytics(b *testing.B, models, types []string) {
	s := openTestStore(b)
	end := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	start := end.Add(-30 * 24 * time.Hour)
	r := rand.New(rand.NewPCG(1, 1))
	var batch rollupBatch
	op := Operation{TenantID: "acme", Outcome: OutcomeOK, Status: 200}
	const records = 1_000_000
	for i := range records {
		op.At = start.Add(time.Duration(i) * (end.Sub(start) / records))
		op.Model, op.Type = models[r.IntN(len(models))], types[r.IntN(len(types))]
		op.Latency = time.Duration(math.Exp(math.Log(3e8) + 1.3*r.NormFloat64()))
		op.TTFB = op.Latency / 3
		op.Usage = Usage{InputTokens: 100, OutputTokens: 50}
		op.Cost = 1234
		batch.add(&op)
	}
	for t := range 200 { // other tenants: an hour's worth of calls every hour
		op.TenantID = fmt.Sprint("other", t)
		for h := start; h.Before(end); h = h.Add(time.Hour) {
			op.At = h
			batch.add(&op)
		}
	}
	writeRollups(b, s, &batch)
	b.Logf("%d rollup rows for the tenant, %d in all", countWhere(b, s, `SELECT count(*) FROM hourly_usage WHERE tenant_id = 'acme'`),
		countWhere(b, s, `SELECT count(*) FROM hourly_usage`))

	for _, q := range []AnalyticsQuery{{TenantID: "acme"}, {AllTenants: true}} {
		name := "tenant"
		if q.AllTenants {
			name = "all tenants"
		}
		q.From, q.To = start, end
		b.Run(name, func(b *testing.B) {
			for range b.N {
				a, err := s.Analytics(context.Background(), q)
				if err != nil {
					b.Fatal(err)
				}
				for _, h := range a.Hours { // what the API derives for each bucket
					for _, q := range []float64{0.5, 0.95, 0.99} {
						h.Latency.Quantile(q)
						h.TTFB.Quantile(q)
					}
				}
				if len(a.Hours) != 720 || (q.TenantID == "acme" && a.Total.Requests != records) {
					b.Fatalf("%d hours, %d requests", len(a.Hours), a.Total.Requests)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/query")
		})
	}
}

func writeRollups(tb testing.TB, s *Store, batch *rollupBatch) {
	tb.Helper()
	tx, err := s.w.Begin()
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	if err := batch.write(context.Background(), txRunner{tx}); err != nil {
		tb.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkWriterBatchRollupKeys is BenchmarkWriterBatch with records that spread over many rollup rows: each
// transaction reads and writes one row per tenant, model and operation type it touches, and the sketches
// hold real latencies. With 1,000 tenants nearly every record of a batch has a row of its own (the worst case).
func BenchmarkWriterBatchRollupKeys(b *testing.B) {
	for _, tenants := range []int{16, 1000, 10000} {
		b.Run(fmt.Sprint("tenants=", tenants), func(b *testing.B) {
			s := openTestStore(b)
			w := newTestWriter(b, s, WriterOptions{})
			r := rand.New(rand.NewPCG(1, 2))
			ops := make([]*Operation, b.N)
			at := time.Now().UTC()
			for i := range ops {
				op := testOp(NewID("op_"), fmt.Sprint("t", r.IntN(tenants)), at)
				op.Model, op.Type = []string{"gpt-4o-mini", "gpt-4o", "claude-test"}[r.IntN(3)], []string{"chat", "embedding"}[r.IntN(2)]
				op.Latency = time.Duration(math.Exp(math.Log(3e8) + 1.3*r.NormFloat64()))
				op.TTFB = op.Latency / 3
				op.Usage, op.Cost = Usage{InputTokens: 100, OutputTokens: 50}, 1234
				ops[i] = op
			}
			recordAll(b, w, ops)
		})
	}
}
