package ledger

import (
	"context"
	"strconv"
	"sync/atomic"
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
