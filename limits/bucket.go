package limits

import (
	"math"
	"math/bits"
)

// gcra is a token bucket stored as the Generic Cell Rate Algorithm's "theoretical arrival
// time": the instant, in Unix nanoseconds, at which the bucket will be full again. Its debt
// (tat - now) is the time worth of tokens taken and not yet refilled. One int64 and integer
// arithmetic make the decision exact and cheap; a zero gcra is a full bucket.
type gcra struct {
	tat      int64 // Unix ns at which the bucket is full; <= now means full
	interval int64 // the interval tat was last advanced with, to rescale on a plan change
}

// debt is how long until the bucket is full, expressed for shape. If the plan's interval
// changed since the last take, the debt is rescaled so the number of tokens taken carries
// over; if the burst shrank, the debt is clamped so the bucket never owes more than it holds.
func (g gcra) debt(now int64, shape bucketShape) int64 {
	d := g.tat - now
	if d <= 0 {
		return 0
	}
	if g.interval > 0 && g.interval != shape.interval {
		d = rescale(d, g.interval, shape.interval)
	}
	return min(d, shape.capacity)
}

// take consumes one token, given the debt just computed by debt and a wait of 0, and
// returns the debt afterwards.
func (g *gcra) take(now, debt int64, shape bucketShape) int64 {
	debt += shape.interval
	g.tat = now + debt
	g.interval = shape.interval
	return debt
}

// rescale returns d*to/from without overflow (saturating), with no floats.
func rescale(d, from, to int64) int64 {
	hi, lo := bits.Mul64(uint64(d), uint64(to))
	if hi >= uint64(from) {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, uint64(from))
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}
