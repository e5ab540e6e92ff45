package pricing

import (
	"fmt"
	"math"
	"math/bits"
)

// Rate is a price per 1 million tokens in micro-units of the currency: "$0.075 per 1M tokens"
// is Rate(75000). Six decimals are exact for every published per-million price.
type Rate int64

const rateScale = 6

// ParseRate reads a non-negative plain decimal price per 1M tokens with at most 6 decimals:
// "0.075", "3", "15.00". Signs, exponents and spaces are errors.
func ParseRate(s string) (Rate, error) {
	u, err := parseDecimal(s, rateScale, math.MaxInt64)
	if err != nil {
		if err == errDecimals {
			err = fmt.Errorf("more than %d decimals", rateScale)
		}
		return 0, fmt.Errorf("invalid price %q: %w", s, err)
	}
	return Rate(u), nil
}

// String is the shortest exact decimal, the way prices are written in a Caddyfile or on a
// provider's price page: Rate(75000) is "0.075", Rate(3000000) is "3". ParseRate reads it back.
func (r Rate) String() string {
	var buf [32]byte
	b := buf[:0]
	if r < 0 {
		b = append(b, '-') // only a hand-made Rate can be negative
	}
	b = appendFixed(b, magnitude(int64(r)), rateScale)
	for b[len(b)-1] == '0' {
		b = b[:len(b)-1]
	}
	if b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	return string(b)
}

// MarshalText makes a Rate a decimal string in JSON, never a float.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText accepts what ParseRate accepts.
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Cost is the price of n tokens: exactly n*r pico-units, rounded half up to nano-units.
// The product is computed in 128 bits (1e12 tokens at $1000 per 1M is 1e21 pico-units, past
// int64); a cost beyond MaxMoney saturates at MaxMoney rather than wrapping to a small or
// negative charge. Zero or negative tokens, or a negative rate, cost nothing.
func (r Rate) Cost(tokens int64) Money {
	if tokens <= 0 || r <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(tokens), uint64(r))
	if hi >= 1000 { // the quotient would not fit in 64 bits (and Div64 would panic)
		return MaxMoney
	}
	q, rem := bits.Div64(hi, lo, 1000)
	if q > math.MaxInt64 {
		return MaxMoney
	}
	if rem >= 500 {
		q++
	}
	if q > math.MaxInt64 {
		return MaxMoney
	}
	return Money(q)
}
