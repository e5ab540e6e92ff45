package ledger

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// benchOps builds n distinct records ahead of the timer, so the benchmark measures the writer, not the caller.
func benchOps(n int) []*Operation {
	ops := make([]*Operation, n)
	at := time.Now().UTC()
	for i := range ops {
		ops[i] = testOp(NewID("op_"), "t"+strconv.Itoa(i%16), at)
	}
	return ops
}

// recordAll times queueing ops and the Flush that waits for their commit, and reports records/s.
func recordAll(b *testing.B, w *Writer, ops []*Operation) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := w.Record(ctx, ops[i]); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkWriterBatch is the request path in batch mode: Record only queues; the final Flush waits for the last
// group commit, so records/s is what reaches the disk.
func BenchmarkWriterBatch(b *testing.B) {
	s := openTestStore(b)
	w := newTestWriter(b, s, WriterOptions{})
	recordAll(b, w, benchOps(b.N))
	if n := totalOps(b, s); n != int64(b.N) {
		b.Fatalf("%d records stored, want %d", n, b.N)
	}
}

// BenchmarkWriterSync is durability sync under concurrency: every Record waits for the commit that holds it, and
// many waiting callers share one transaction (group commit).
func BenchmarkWriterSync(b *testing.B) {
	s := openTestStore(b)
	w := newTestWriter(b, s, WriterOptions{Sync: true})
	ctx := context.Background()
	ops := benchOps(b.N)
	var next atomic.Int64
	b.SetParallelism(16) // 16 x GOMAXPROCS callers, like concurrent requests
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := w.Record(ctx, ops[next.Add(1)-1]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	if n := totalOps(b, s); n != int64(b.N) {
		b.Fatalf("%d records stored, want %d", n, b.N)
	}
}

// BenchmarkTotalsWrite is the writer's periodic totals write with 10,000 active tenants: one pending entry
// each (an hourly rollup row, a daily quota row and a monthly billing row) merged into rows already stored,
// as every write after an hour's first does. It reports the time per tenant entry.
//
//	CGO_ENABLED=1 go test ./ledger -run '^$' -bench TotalsWrite -benchtime=10x
func BenchmarkTotalsWrite(b *testing.B) {
	const tenants = 10_000
	s := openTestStore(b)
	w := newTestWriter(b, s, WriterOptions{})
	at := time.Now().UTC()
	ops := make([]*Operation, tenants)
	for i := range ops {
		op := testOp(NewID("op_"), "tenant-"+strconv.Itoa(i), at)
		op.Model, op.Usage.InputTokens, op.Usage.OutputTokens, op.Cost = "gpt-4o-mini", 120, 80, 1_500
		ops[i] = op
	}
	ctx := context.Background()
	write := func() {
		var a aggregates
		for _, op := range ops {
			for range 3 { // a few calls each, with different latencies
				op.Latency += 700 * time.Microsecond
				a.add(op, true)
			}
		}
		if err := w.inTx(func(d *driverStmts) error {
			if err := a.writeQuota(ctx, d); err != nil {
				return err
			}
			return a.writeRollups(ctx, d)
		}); err != nil {
			b.Fatal(err)
		}
	}
	write() // the hour's first write inserts the rows
	b.ReportAllocs()
	for b.Loop() {
		write()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tenants), "ns/tenant")
}

// BenchmarkWriterPaced records from 8 goroutines at a request-like pace (each waits 200 µs between records, as
// a connection waits for its upstream) and reports the process's CPU time per record, writer and totals
// included: what a record costs a gateway that is not saturated. With 10,000 tenants the records are
// realistic calls (two models a tenant, tokens, cost, latencies spread like real ones) in random order, as in
// the side-by-side benchmark; they touch the tenant index all over and keep 20,000 totals entries pending.
func BenchmarkWriterPaced(b *testing.B) {
	b.Run("tenants=16", func(b *testing.B) { writePaced(b, benchOps(b.N)) })
	b.Run("tenants=10000", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(7, 8))
		at := time.Now().UTC()
		tenants := make([]string, 10_000) // one string a tenant, as the gateway's key cache hands out
		for i := range tenants {
			tenants[i] = "tenant-" + strconv.Itoa(i)
		}
		ops := make([]*Operation, b.N)
		for i := range ops {
			op := testOp(NewID("op_"), tenants[rng.IntN(len(tenants))], at)
			op.Model, op.Provider = [2]string{"gpt-4o-mini", "claude-sonnet-4"}[rng.IntN(2)], "openai"
			op.Usage.InputTokens, op.Usage.OutputTokens, op.Cost = 100+rng.Int64N(900), 20+rng.Int64N(300), 1_000+rng.Int64N(9_000)
			op.Latency = time.Duration(math.Exp(rng.NormFloat64()*0.8) * float64(time.Millisecond))
			op.TTFB = op.Latency / 2
			ops[i] = op
		}
		writePaced(b, ops)
	})
}

func writePaced(b *testing.B, ops []*Operation) {
	s := openTestStore(b)
	w := newTestWriter(b, s, WriterOptions{})
	ctx := context.Background()
	var next atomic.Int64
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpu()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
				if err := w.Record(ctx, ops[i]); err != nil {
					b.Error(err)
					return
				}
				time.Sleep(200 * time.Microsecond)
			}
		})
	}
	wg.Wait()
	if err := w.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64((cpu()-start).Nanoseconds())/float64(b.N), "cpu-ns/record")
}

// BenchmarkPendingMemory reports the heap an entry of the pending totals holds (pendingRow, its map slot and
// its two sketches), and what the writer estimates it takes, when each of 10,000 tenants' two entries (two models) has taken the given number of
// records, with latencies spread like real ones (log-normal around 1 ms, most within 0.2-5 ms). This is what
// bounds how many entries may wait for the 5-minute write.
func BenchmarkPendingMemory(b *testing.B) {
	const tenants = 10_000
	for _, per := range []int{1, 10, 60, 150, 400} {
		b.Run(fmt.Sprintf("records=%d", per), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			ops := make([]Operation, 2*tenants)
			at := time.Now().UTC()
			for i := range ops {
				ops[i] = *testOp("", "t"+strconv.Itoa(i/2), at)
				ops[i].Model = [2]string{"gpt-4o-mini", "claude-sonnet-4"}[i%2]
			}
			duration := func() time.Duration {
				return time.Duration(math.Exp(rng.NormFloat64()*0.8) * float64(time.Millisecond))
			}
			var perEntry, estimate, objects, gcNs float64
			for range b.N {
				var ms runtime.MemStats
				gcBefore := fastestGC()
				runtime.ReadMemStats(&ms)
				before, objsBefore := ms.HeapAlloc, ms.HeapObjects
				var a aggregates
				for range per {
					for i := range ops {
						ops[i].Latency, ops[i].TTFB = duration(), duration()
						// Each record's model is its own string, as the handler parses it from the request.
						ops[i].Model = strings.Clone(ops[i].Model)
						a.add(&ops[i], true)
					}
				}
				gcNs = float64(fastestGC()-gcBefore) / float64(a.size())
				runtime.ReadMemStats(&ms)
				perEntry = float64(ms.HeapAlloc-before) / float64(a.size())
				objects = float64(ms.HeapObjects-objsBefore) / float64(a.size())
				estimate = float64(a.bytes()) / float64(a.size())
				runtime.KeepAlive(&a)
			}
			b.ReportMetric(perEntry, "B/entry")
			b.ReportMetric(estimate, "estimated-B/entry") // what the writer counts against MaxPendingBytes
			b.ReportMetric(objects, "objects/entry")
			b.ReportMetric(gcNs, "GC-ns/entry") // what a full collection takes longer, the entries alive
		})
	}
}

// fastestGC is the least time a full collection took in a few: what marking the live heap costs, mostly.
func fastestGC() time.Duration {
	best := time.Duration(math.MaxInt64)
	for range 5 {
		start := time.Now()
		runtime.GC()
		best = min(best, time.Since(start))
	}
	return best
}
