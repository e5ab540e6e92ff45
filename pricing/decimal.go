package pricing

import (
	"errors"
	"math"
)

var pow10 = [...]uint64{1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000}

var (
	errEmpty    = errors.New("empty")
	errSyntax   = errors.New("not a plain decimal number (digits, optionally '.' and more digits)")
	errRange    = errors.New("out of range")
	errDecimals = errors.New("too many decimals")
)

// parseDecimal reads an unsigned plain decimal ("5", "5.00", "0.000000001") as an integer
// scaled by 10^scale, refusing anything larger than limit. It accepts exactly what the
// Caddyfile and the API should: no sign, no exponent, no spaces, no "5." or ".5".
func parseDecimal(s string, scale int, limit uint64) (uint64, error) {
	if s == "" {
		return 0, errEmpty
	}
	var v uint64
	digits, decimals, dot := 0, 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' && !dot && digits > 0:
			dot = true
			continue
		case c < '0' || c > '9':
			return 0, errSyntax
		}
		if dot {
			decimals++
			if decimals > scale {
				return 0, errDecimals
			}
		}
		digits++
		d := uint64(c - '0')
		if v > (limit-d)/10 {
			return 0, errRange
		}
		v = v*10 + d
	}
	if dot && decimals == 0 {
		return 0, errSyntax
	}
	mul := pow10[scale-decimals]
	if v > limit/mul {
		return 0, errRange
	}
	return v * mul, nil
}

// appendFixed appends u/10^scale with exactly scale decimals.
func appendFixed(b []byte, u uint64, scale int) []byte {
	b = appendUint(b, u/pow10[scale])
	if scale == 0 {
		return b
	}
	b = append(b, '.')
	frac := u % pow10[scale]
	start := len(b)
	for range scale {
		b = append(b, '0')
	}
	for i := len(b) - 1; i >= start; i-- {
		b[i] = byte('0' + frac%10)
		frac /= 10
	}
	return b
}

func appendUint(b []byte, u uint64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

// magnitude is |v| as a uint64, exact even for math.MinInt64.
func magnitude(v int64) uint64 {
	if v < 0 {
		return -uint64(v)
	}
	return uint64(v)
}

// addSat is a+b, saturated at the int64 limits instead of wrapping.
func addSat(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}
