package pricing

import (
	"fmt"
	"math"
)

// Money is an amount in nano-units of the currency (1e-9 USD). Per-token prices go down to
// $0.0000000375 a token, so cents or even micro-units would lose real money; int64 nano-units
// still hold ±9.2 billion units.
type Money int64

// MaxMoney is where Rate.Cost and Price.Cost saturate instead of wrapping.
const MaxMoney Money = math.MaxInt64

const (
	moneyScale   = 9
	nanosPerCent = 10_000_000
)

// String is the amount with exactly 9 decimals, as the API shows money: "0.000123450",
// "-1.500000000".
func (m Money) String() string {
	var buf [32]byte
	b := buf[:0]
	if m < 0 {
		b = append(b, '-')
	}
	return string(appendFixed(b, magnitude(int64(m)), moneyScale))
}

// ParseMoney reads a plain decimal amount with at most 9 decimals and an optional leading
// '-': "5", "5.00", "-0.000000001". Exponents, '+', spaces, NaN and overflow are errors.
func ParseMoney(s string) (Money, error) {
	body, neg := s, false
	if len(body) > 0 && body[0] == '-' {
		body, neg = body[1:], true
	}
	limit := uint64(math.MaxInt64)
	if neg {
		limit++ // math.MinInt64 is representable
	}
	u, err := parseDecimal(body, moneyScale, limit)
	if err != nil {
		if err == errDecimals {
			err = fmt.Errorf("more than %d decimals", moneyScale)
		}
		return 0, fmt.Errorf("invalid amount %q: %w", s, err)
	}
	if neg {
		return Money(-int64(u)), nil // wraps to MinInt64 for u = 2^63, which is exact
	}
	return Money(u), nil
}

// MarshalText makes Money a decimal string in JSON, never a number.
func (m Money) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText accepts what ParseMoney accepts.
func (m *Money) UnmarshalText(b []byte) error {
	v, err := ParseMoney(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// RoundToCents rounds m to whole cents for an invoice, half up on the magnitude: half a cent
// or more rounds away from zero, so 0.125 is 13 cents and -0.125 is -13 cents (a credit is
// rounded exactly like the charge it cancels). Money is rounded to cents once, on the invoice;
// everything before that adds up exact nano-units.
func RoundToCents(m Money) int64 {
	u := magnitude(int64(m))
	c := u / nanosPerCent
	if u%nanosPerCent >= nanosPerCent/2 {
		c++
	}
	if m < 0 {
		return -int64(c)
	}
	return int64(c)
}

// CentsString shows an amount in cents as a decimal string with 2 decimals: 1235 is "12.35",
// -5 is "-0.05".
func CentsString(c int64) string {
	var buf [24]byte
	b := buf[:0]
	if c < 0 {
		b = append(b, '-')
	}
	return string(appendFixed(b, magnitude(c), 2))
}
