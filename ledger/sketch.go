package ledger

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"time"
)

// Sketch is a mergeable histogram of durations with bounded relative error, after DDSketch (Masson, Rim and
// Lee, VLDB 2019): bucket i holds the values in (γ^(i-1), γ^i] microseconds, with γ = (1+α)/(1-α), and a
// quantile is answered with the point of its bucket that is at most α away from every value in it, relative
// to that value. So a quantile is within SketchRelativeError of the exact (nearest-rank) quantile of the values
// added, whatever their distribution, and merging sketches is adding counts: the merge of hourly sketches is
// exactly the sketch of all their values, so any range of hours answers with the same bound.
//
// A Sketch is not safe for concurrent use, reads included (a small one sorts its list when read).
//
// Values are whole microseconds, the unit operation records keep, clamped to [1µs, 1h]: that bounds the
// buckets to 0..SketchBuckets-1 (about 1,100 with α = 1%), and a sketch is stored as a short BLOB.
type Sketch struct {
	lo    int      // the bucket of bins[0]
	bins  []uint64 // bins[i] counts the values of bucket lo+i: dense over the buckets in use, which are few
	small []uint16 // until the sketch has bins: each value's bucket, unsorted (see keepsList)
	count uint64
}

const (
	// SketchRelativeError (α) bounds |estimate - exact| / exact for every quantile of a Sketch.
	SketchRelativeError = 0.01
	sketchMinValue      = 1                                   // µs; smaller values count as 1µs
	sketchMaxValue      = int64(time.Hour / time.Microsecond) // µs; larger values count as 1h
	sketchFormat        = 1                                   // first byte of an encoded sketch
)

var (
	sketchGamma    = (1 + SketchRelativeError) / (1 - SketchRelativeError)
	sketchLogGamma = math.Log(sketchGamma)
	// SketchBuckets is the number of buckets values in [1µs, 1h] can fall into.
	SketchBuckets = sketchIndex(sketchMaxValue) + 1
)

// sketchIndex is the bucket of v microseconds: the least i with v <= γ^i.
func sketchIndex(v int64) int {
	v = min(max(v, sketchMinValue), sketchMaxValue)
	return int(math.Ceil(math.Log(float64(v)) / sketchLogGamma))
}

// sketchValue is the estimate for bucket i: 2γ^i/(γ+1), whose relative distance to either end of
// (γ^(i-1), γ^i] is exactly α.
func sketchValue(i int) float64 {
	return 2 * math.Pow(sketchGamma, float64(i)) / (sketchGamma + 1)
}

// Add counts one value.
func (s *Sketch) Add(d time.Duration) { s.addIndex(sketchIndex(d.Microseconds()), 1) }

func (s *Sketch) addIndex(i int, n uint64) {
	if s.bins == nil && s.keepsList(i, n) {
		for range n {
			s.small = append(s.small, uint16(i))
		}
		s.count += n
		return
	}
	s.densify()
	s.grow(i, i+1)
	s.bins[i-s.lo] += n
	s.count += n
}

// keepsList reports whether n more values of bucket i go to the list of buckets rather than to bins: while
// the list has room for them, or else while listPays.
func (s *Sketch) keepsList(i int, n uint64) bool {
	need := uint64(len(s.small)) + n
	return need <= uint64(cap(s.small)) || listPays(s.small, i, need)
}

// listPays reports whether a list of buckets grown to need values, to take a value of bucket i (about twice
// as long, 2 bytes a value), takes no more bytes than bins over the buckets its values span (8 bytes a
// bucket). Most sketches the writer holds are a tenant's pending totals: thousands wait at once, with a few
// to a few hundred values each over a hundred buckets or more, which as bins took 6 KB apiece
// (BenchmarkPendingMemory). Checking the span only when the list must grow keeps an add O(1), amortized.
func listPays(list []uint16, i int, need uint64) bool {
	lo, hi := i, i
	for _, b := range list {
		lo, hi = min(lo, int(b)), max(hi, int(b))
	}
	return 2*2*need <= 8*uint64(hi-lo+1)
}

// heapBytes is what the sketch's buckets take on the heap.
func (s *Sketch) heapBytes() int { return 2*cap(s.small) + 8*cap(s.bins) }

// densify moves the values of the small list into bins.
func (s *Sketch) densify() {
	if len(s.small) == 0 {
		return
	}
	small := s.small
	s.small = nil
	s.grow(int(slices.Min(small)), int(slices.Max(small))+1)
	for _, i := range small {
		s.bins[int(i)-s.lo]++
	}
}

// each calls f with each non-empty bucket and its count, in ascending order.
func (s *Sketch) each(f func(i int, n uint64)) {
	if s.bins == nil {
		slices.Sort(s.small)
		for j := 0; j < len(s.small); {
			k := j + 1
			for k < len(s.small) && s.small[k] == s.small[j] {
				k++
			}
			f(int(s.small[j]), uint64(k-j))
			j = k
		}
		return
	}
	for i, n := range s.bins {
		if n != 0 {
			f(s.lo+i, n)
		}
	}
}

// grow makes bins cover the buckets [from, to).
func (s *Sketch) grow(from, to int) {
	lo, hi := binsRange(s.lo, len(s.bins), from, to)
	switch {
	case len(s.bins) == 0:
		s.lo, s.bins = lo, make([]uint64, hi-lo)
	case lo < s.lo || hi > s.lo+len(s.bins):
		grown := make([]uint64, hi-lo)
		copy(grown[s.lo-lo:], s.bins)
		s.lo, s.bins = lo, grown
	}
}

// binsRange is the buckets [lo, hi) that n bins from bucket first grow to, to cover [from, to). New bins get
// exactly the buckets asked for: most hold a few values (a tenant's hour, a few seconds of pending totals),
// and thousands of them are held at once. Bins that grow grow by half their size at least, so filling one
// bucket at a time copies little.
func binsRange(first, n, from, to int) (lo, hi int) {
	if n == 0 {
		return from, to
	}
	lo, hi = first, first+n
	extra := max(n/2, 4)
	if from < lo {
		lo = max(min(from, lo-extra), 0)
	}
	if to > hi {
		hi = min(max(to, hi+extra), SketchBuckets)
	}
	return lo, hi
}

// Merge adds o's values to s.
func (s *Sketch) Merge(o *Sketch) {
	if o.count == 0 {
		return
	}
	if o.bins == nil {
		for _, i := range o.small {
			s.addIndex(int(i), 1)
		}
		return
	}
	s.densify()
	s.grow(o.lo, o.lo+len(o.bins))
	dst := s.bins[o.lo-s.lo:]
	for i, n := range o.bins {
		dst[i] += n
	}
	s.count += o.count
}

// Count is the number of values added.
func (s *Sketch) Count() uint64 { return s.count }

// Quantile estimates the q-quantile (0 <= q <= 1) of the values added in microseconds: the value of rank
// ceil(q·n) in ascending order (rank 1 for q = 0), within SketchRelativeError of it. It is 0 for an empty sketch.
func (s *Sketch) Quantile(q float64) float64 {
	if s.count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(min(max(q, 0), 1) * float64(s.count)))
	rank = max(rank, 1)
	if s.bins == nil {
		slices.Sort(s.small)
		return sketchValue(int(s.small[rank-1]))
	}
	var seen uint64
	for i, n := range s.bins {
		if seen += n; seen >= rank {
			return sketchValue(s.lo + i)
		}
	}
	return sketchValue(s.lo + len(s.bins) - 1) // unreachable: the bins sum to count
}

// MarshalBinary encodes the sketch as a format byte and runs of buckets: for each run, the gap from the end
// of the previous run to its first bucket, its length and its counts, all uvarints. A run takes in single
// empty buckets (a 0 count is one byte, a new run two), so an hour of real latencies, whose buckets are
// mostly contiguous, costs about a byte per bucket: a few hundred bytes.
func (s *Sketch) MarshalBinary() ([]byte, error) { return s.appendBinary(nil), nil }

func (s *Sketch) appendBinary(b []byte) []byte {
	var enc binsEncoder
	enc.start(b)
	s.each(enc.add)
	return enc.finish()
}

// sketchBin is one non-empty bucket.
type sketchBin struct {
	index int
	count uint64
}

var errBadSketch = errors.New("malformed latency sketch")

// UnmarshalBinary replaces s with the encoded sketch; an empty input is an empty sketch.
func (s *Sketch) UnmarshalBinary(b []byte) error {
	*s = Sketch{}
	return s.mergeBinary(b)
}

// mergeBinary adds an encoded sketch to s.
func (s *Sketch) mergeBinary(b []byte) error {
	bins, err := decodeSketch(b, nil)
	if err != nil {
		return err
	}
	s.addBins(bins)
	return nil
}

// decodeSketch appends the non-empty buckets of an encoded sketch to dst, in ascending order, so that a query
// can add one stored sketch to several others without decoding it each time.
func decodeSketch(b []byte, dst []sketchBin) ([]sketchBin, error) {
	var bad bool
	scanSketch(b, func(i int, n uint64) bool {
		dst = append(dst, sketchBin{i, n})
		return true
	}, &bad)
	if bad {
		return dst, errBadSketch
	}
	return dst, nil
}

// addBins adds non-empty buckets, in ascending order, to s.
func (s *Sketch) addBins(bins []sketchBin) {
	if len(bins) == 0 {
		return
	}
	s.densify()
	s.grow(bins[0].index, bins[len(bins)-1].index+1)
	for _, b := range bins {
		s.bins[b.index-s.lo] += b.count
		s.count += b.count
	}
}

// appendMerged appends to dst the encoding of the sketch encoded in stored merged with add. It runs once per
// rollup row and write of the totals, over every bucket of the row's sketch, so it streams: buckets are
// decoded, added to and encoded again in one pass, without building the stored sketch.
func appendMerged(dst, stored []byte, add *Sketch) ([]byte, error) {
	if len(stored) == 0 {
		return add.appendBinary(dst), nil
	}
	var adds []sketchBin
	add.each(func(i int, n uint64) { adds = append(adds, sketchBin{i, n}) })
	var enc binsEncoder
	enc.start(dst)
	k := 0 // the next of adds to merge in
	var bad bool
	scanSketch(stored, func(i int, n uint64) bool {
		for ; k < len(adds) && adds[k].index < i; k++ {
			enc.add(adds[k].index, adds[k].count)
		}
		if k < len(adds) && adds[k].index == i {
			n += adds[k].count
			k++
		}
		enc.add(i, n)
		return true
	}, &bad)
	if bad {
		return dst, errBadSketch
	}
	for ; k < len(adds); k++ {
		enc.add(adds[k].index, adds[k].count)
	}
	return enc.finish(), nil
}

// scanSketch calls f with each non-empty bucket of an encoded sketch, in ascending order, and sets *bad if
// the encoding is malformed.
func scanSketch(b []byte, f func(i int, n uint64) bool, bad *bool) {
	if len(b) == 0 {
		return
	}
	if b[0] != sketchFormat {
		*bad = true
		return
	}
	b = b[1:]
	next := 0
	for len(b) > 0 {
		gap, k := binary.Uvarint(b)
		if k <= 0 {
			*bad = true
			return
		}
		length, m := binary.Uvarint(b[k:])
		if m <= 0 || length == 0 || gap >= uint64(SketchBuckets) || length > uint64(SketchBuckets) ||
			next+int(gap)+int(length) > SketchBuckets {
			*bad = true
			return
		}
		b = b[k+m:]
		i := next + int(gap)
		for range length {
			n, k := binary.Uvarint(b)
			if k <= 0 {
				*bad = true
				return
			}
			b = b[k:]
			if n != 0 && !f(i, n) {
				return
			}
			i++
		}
		next = i
	}
}

// binsEncoder encodes non-empty buckets given in ascending order, one at a time: a run's
// counts are written as they come, and its length is put in front once the run ends.
type binsEncoder struct {
	b          []byte
	end        int // one past the last bucket of the previous run
	runStart   int // the run's first bucket; -1 before the first
	runLast    int
	countsFrom int // where the run's counts start in b
}

func (e *binsEncoder) start(dst []byte) {
	e.b, e.runStart = append(dst, sketchFormat), -1
}

func (e *binsEncoder) add(i int, n uint64) {
	switch {
	case e.runStart >= 0 && i-e.runLast <= 2:
		if i-e.runLast == 2 {
			e.b = append(e.b, 0)
		}
	default:
		e.closeRun()
		e.runStart, e.countsFrom = i, len(e.b)
	}
	e.b = binary.AppendUvarint(e.b, n)
	e.runLast = i
}

// closeRun puts the gap and length of the open run in front of its counts.
func (e *binsEncoder) closeRun() {
	if e.runStart < 0 {
		return
	}
	var head [2 * binary.MaxVarintLen64]byte
	h := binary.AppendUvarint(head[:0], uint64(e.runStart-e.end))
	h = binary.AppendUvarint(h, uint64(e.runLast-e.runStart+1))
	e.b = append(e.b, h...) // grow by the header, then shift the counts right
	copy(e.b[e.countsFrom+len(h):], e.b[e.countsFrom:len(e.b)-len(h)])
	copy(e.b[e.countsFrom:], h)
	e.end = e.runLast + 1
}

func (e *binsEncoder) finish() []byte {
	e.closeRun()
	return e.b
}
