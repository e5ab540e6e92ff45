package ledger

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// exactQuantile is the nearest-rank q-quantile of sorted: the value of rank ceil(q·n), rank 1 for q = 0.
func exactQuantile(sorted []int64, q float64) int64 {
	rank := max(int(math.Ceil(q*float64(len(sorted)))), 1)
	return sorted[rank-1]
}

// relErr is |got - want| / want.
func relErr(got float64, want int64) float64 {
	return math.Abs(got-float64(want)) / float64(want)
}

// errorBound is SketchRelativeError with room for the float rounding of log and pow at bucket edges.
const errorBound = SketchRelativeError + 1e-9

var testQuantiles = []float64{0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1}

// latencyDistributions are skewed shapes latencies take, in microseconds, within the sketch's [1µs, 1h].
var latencyDistributions = []struct {
	name string
	draw func(r *rand.Rand) int64
}{
	{"lognormal", func(r *rand.Rand) int64 { return int64(math.Exp(math.Log(80_000) + 1.2*r.NormFloat64())) }},
	{"bimodal cache hits and misses", func(r *rand.Rand) int64 {
		if r.Float64() < 0.7 {
			return int64(math.Exp(math.Log(900) + 0.3*r.NormFloat64()))
		}
		return int64(math.Exp(math.Log(1_500_000) + 0.5*r.NormFloat64()))
	}},
	{"heavy tail pareto alpha 1.1", func(r *rand.Rand) int64 { return int64(20_000 / math.Pow(1-r.Float64(), 1/1.1)) }},
	{"uniform 1us to 1h", func(r *rand.Rand) int64 { return 1 + r.Int64N(int64(time.Hour/time.Microsecond)) }},
	{"few distinct small values", func(r *rand.Rand) int64 { return 1 + r.Int64N(5) }},
	{"every bucket edge", func(r *rand.Rand) int64 {
		return int64(math.Floor(math.Pow(sketchGamma, float64(r.IntN(SketchBuckets)))))
	}},
}

func clampUS(v int64) int64 { return min(max(v, 1), int64(time.Hour/time.Microsecond)) }

// TestSketchAccuracy: every quantile is within SketchRelativeError (1%) of the exact nearest-rank quantile, on
// skewed distributions, for small and large samples.
func TestSketchAccuracy(t *testing.T) {
	for _, d := range latencyDistributions {
		for _, n := range []int{1, 7, 1000, 200_000} {
			r := rand.New(rand.NewPCG(uint64(n), 42))
			values := make([]int64, n)
			var s Sketch
			for i := range values {
				values[i] = clampUS(d.draw(r))
				s.Add(time.Duration(values[i]) * time.Microsecond)
			}
			slices.Sort(values)
			worst := 0.0
			for _, q := range testQuantiles {
				want := exactQuantile(values, q)
				got := s.Quantile(q)
				if e := relErr(got, want); e > errorBound {
					t.Errorf("%s n=%d q=%g: sketch %.3f µs, exact %d µs: relative error %.5f > %.3f", d.name, n, q, got, want, e, SketchRelativeError)
				} else {
					worst = max(worst, e)
				}
			}
			if s.Count() != uint64(n) {
				t.Errorf("%s: count %d, want %d", d.name, s.Count(), n)
			}
			t.Logf("%s n=%d: worst relative error %.5f", d.name, n, worst)
		}
	}
}

// TestSketchMergeEqualsOneSketch: the merge of sketches of a partition (hours) is the sketch of all the values,
// bucket for bucket, so merged quantiles carry the same bound.
func TestSketchMergeEqualsOneSketch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, d := range latencyDistributions {
		var all Sketch
		hours := make([]Sketch, 24)
		for range 50_000 {
			v := time.Duration(clampUS(d.draw(r))) * time.Microsecond
			all.Add(v)
			hours[r.IntN(len(hours))].Add(v)
		}
		var merged Sketch
		for i := range hours {
			// Through the stored form, as the query merges them.
			b, _ := hours[i].MarshalBinary()
			if err := merged.mergeBinary(b); err != nil {
				t.Fatal(err)
			}
		}
		a, _ := all.MarshalBinary()
		m, _ := merged.MarshalBinary()
		if !bytes.Equal(a, m) || merged.Count() != all.Count() {
			t.Fatalf("%s: merged sketch differs from the sketch of all values", d.name)
		}
		for _, q := range testQuantiles {
			if merged.Quantile(q) != all.Quantile(q) {
				t.Errorf("%s q=%g: merged %v, one sketch %v", d.name, q, merged.Quantile(q), all.Quantile(q))
			}
		}
	}
}

func TestSketchEncoding(t *testing.T) {
	var s Sketch
	for _, v := range []time.Duration{0, time.Nanosecond, time.Microsecond, 1500 * time.Microsecond, time.Second, 3 * time.Hour} {
		s.Add(v)
	}
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back Sketch
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	again, _ := back.MarshalBinary()
	if back.Count() != s.Count() || !bytes.Equal(again, b) || back.Quantile(0.5) != s.Quantile(0.5) {
		t.Fatalf("round trip: %v, want %v", again, b)
	}
	// Below 1µs counts as 1µs, above 1h as 1h: the bucket range is bounded.
	if got := s.Quantile(0); relErr(got, 1) > errorBound {
		t.Errorf("min = %v µs, want about 1", got)
	}
	if got := s.Quantile(1); relErr(got, int64(time.Hour/time.Microsecond)) > errorBound {
		t.Errorf("max = %v µs, want about 1h", got)
	}
	if SketchBuckets > 1200 {
		t.Errorf("%d buckets for [1µs, 1h] at α = %g", SketchBuckets, SketchRelativeError)
	}
	full := Sketch{}
	for i := range SketchBuckets {
		full.addIndex(i, math.MaxUint32)
	}
	if b, _ := full.MarshalBinary(); len(b) > 1+SketchBuckets*(2+5) {
		t.Errorf("a sketch with every bucket takes %d bytes", len(b))
	}
	var empty Sketch
	if err := empty.UnmarshalBinary(nil); err != nil || empty.Count() != 0 || empty.Quantile(0.5) != 0 {
		t.Errorf("empty: %v %d", err, empty.Count())
	}
	for _, bad := range [][]byte{
		{9},                     // unknown format
		{sketchFormat, 1},       // a run without a length
		{sketchFormat, 1, 0},    // an empty run
		{sketchFormat, 0, 2, 1}, // a run with fewer counts than its length
		{sketchFormat, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 1, 1},  // a gap far out of range
		append(binary.AppendUvarint([]byte{sketchFormat}, uint64(SketchBuckets)), 1, 1),   // one past the last bucket
		append(binary.AppendUvarint([]byte{sketchFormat, 0}, uint64(SketchBuckets+1)), 1), // a run past the last bucket
	} {
		var s Sketch
		if err := s.UnmarshalBinary(bad); err == nil {
			t.Errorf("%v decoded without error", bad)
		}
	}
	// Runs: single empty buckets inside a run, longer gaps between runs.
	var runs Sketch
	for _, i := range []int{0, 1, 3, 4, 7, 100, SketchBuckets - 1} {
		runs.addIndex(i, uint64(i+1))
	}
	b, _ = runs.MarshalBinary()
	want := []byte{sketchFormat, 0, 5, 1, 2, 0, 4, 5, 2, 1, 8, 92, 1, 101}
	want = append(binary.AppendUvarint(want, uint64(SketchBuckets-1-101)), 1)
	want = binary.AppendUvarint(want, uint64(SketchBuckets))
	if !bytes.Equal(b, want) {
		t.Errorf("encoding %v, want %v", b, want)
	}
	var back2 Sketch
	if err := back2.UnmarshalBinary(b); err != nil || back2.Count() != runs.Count() {
		t.Errorf("decoding runs: %v, count %d", err, back2.Count())
	}
}

func BenchmarkSketchAdd(b *testing.B) {
	var s Sketch
	for i := range b.N {
		s.Add(time.Duration(i%100_000+1) * time.Microsecond)
	}
}

// TestAppendMerged: merging a sketch into an encoded one, as the writer does for each rollup row, gives the
// encoding of the merged sketch, whatever the overlap of their buckets.
func TestAppendMerged(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for round := range 500 {
		var stored, add Sketch
		for range r.IntN(50) {
			stored.addIndex(r.IntN(SketchBuckets), uint64(1+r.IntN(300)))
		}
		lo := r.IntN(SketchBuckets)
		for range r.IntN(50) {
			add.addIndex(min(lo+r.IntN(40), SketchBuckets-1), uint64(1+r.IntN(3)))
		}
		enc, _ := stored.MarshalBinary()
		got, err := appendMerged([]byte("prefix"), enc, &add)
		if err != nil {
			t.Fatal(err)
		}
		want := stored
		want.bins, want.small = slices.Clone(stored.bins), slices.Clone(stored.small)
		want.Merge(&add)
		if w := want.appendBinary([]byte("prefix")); !bytes.Equal(got, w) {
			t.Fatalf("round %d: merged %v, want %v", round, got, w)
		}
	}
	if _, err := appendMerged(nil, []byte{sketchFormat, 0, 3, 1}, &Sketch{}); err == nil {
		t.Error("a malformed stored sketch merged without error")
	}
}

// TestSketchSmallAndDenseAgree: a sketch keeps its first values as a list of buckets and switches to dense
// bins once the list would take more memory than bins; quantiles, encodings and merges are the same either
// way.
func TestSketchSmallAndDenseAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	dense := func(buckets []int) *Sketch {
		s := &Sketch{}
		s.grow(0, SketchBuckets) // bins from the start: the reference
		for _, i := range buckets {
			s.addIndex(i, 1)
		}
		return s
	}
	var lists, binned int
	for round := range 300 {
		var a, b []int
		spread := 1 + r.IntN(80)
		for range r.IntN(400) {
			a = append(a, 300+r.IntN(spread))
		}
		for range r.IntN(400) {
			b = append(b, 250+r.IntN(200))
		}
		var got Sketch
		for _, i := range a {
			got.addIndex(i, 1)
		}
		if got.bins == nil {
			lists++
			// The list never takes (much) more than bins over the buckets it spans would.
			if len(a) > 0 {
				span := slices.Max(a) - slices.Min(a) + 1
				if got.heapBytes() > 8*span+16 {
					t.Fatalf("round %d: %d values over %d buckets kept as a list of %d bytes", round, len(a), span, got.heapBytes())
				}
			}
		} else {
			binned++
			if len(a) <= 2*spread {
				t.Fatalf("round %d: %d values over at most %d buckets went to bins", round, len(a), spread)
			}
		}
		var other Sketch
		for _, i := range b {
			other.addIndex(i, 1)
		}
		got.Merge(&other)
		want := dense(append(slices.Clone(a), b...))
		if got.Count() != want.Count() {
			t.Fatalf("round %d: count %d, want %d", round, got.Count(), want.Count())
		}
		for _, q := range []float64{0, 0.01, 0.5, 0.9, 0.99, 1} {
			if g, w := got.Quantile(q), want.Quantile(q); g != w {
				t.Fatalf("round %d: q%.2f = %v, want %v", round, q, g, w)
			}
		}
		if g, w := got.appendBinary(nil), want.appendBinary(nil); !bytes.Equal(g, w) {
			t.Fatalf("round %d: encoded %v, want %v", round, g, w)
		}
	}
	if lists < 30 || binned < 30 {
		t.Fatalf("%d sketches kept a list and %d had bins: both should be common", lists, binned)
	}
}
