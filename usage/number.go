package usage

// number parses a JSON number a byte at a time into a non-negative integer: fractions are truncated,
// exponents applied, and the value saturates rather than overflows.
type number struct {
	v      int64
	exp    int32
	frac   int32 // fraction digits folded into v
	state  uint8
	neg    bool
	expNeg bool
}

const (
	nStart = iota
	nSign
	nInt
	nDot
	nFrac
	nE
	nESign
	nExp
	nBad
)

const maxCount = 1 << 53 // more tokens than any call uses; saturating here avoids overflow

func (n *number) feed(c byte) {
	switch {
	case c >= '0' && c <= '9':
		d := int64(c - '0')
		switch n.state {
		case nStart, nSign, nInt:
			n.state = nInt
			n.v = min(n.v*10+d, maxCount)
		case nDot, nFrac:
			n.state = nFrac
			if n.v < maxCount/10 {
				n.v = n.v*10 + d
				n.frac++
			}
		case nE, nESign, nExp:
			n.state = nExp
			n.exp = min(n.exp*10+int32(d), 1000)
		default:
			n.state = nBad
		}
	case c == '-' && n.state == nStart:
		n.state, n.neg = nSign, true
	case c == '-' && n.state == nE:
		n.state, n.expNeg = nESign, true
	case c == '+' && n.state == nE:
		n.state = nESign
	case c == '.' && n.state == nInt:
		n.state = nDot
	case (c == 'e' || c == 'E') && (n.state == nInt || n.state == nFrac):
		n.state = nE
	default:
		n.state = nBad
	}
}

func (n *number) value() (int64, bool) {
	if n.state != nInt && n.state != nFrac && n.state != nExp {
		return 0, false
	}
	if n.neg {
		return 0, true
	}
	e := n.exp
	if n.expNeg {
		e = -e
	}
	v := n.v
	for e -= n.frac; e < 0 && v > 0; e++ {
		v /= 10
	}
	for ; e > 0 && v > 0; e-- {
		v = min(v*10, maxCount)
	}
	return v, true
}
