package usage

// maxNesting is encoding/json's limit on nested arrays and objects: Valid refuses deeper documents as it does.
const maxNesting = 10000

// Valid reports whether b is one valid JSON value, with only white space around it: exactly what
// encoding/json's Valid reports (strings may hold any bytes but control characters, as there; nesting is
// limited to 10,000 levels, as there), at the speed of a scan that reads the strings of a request body,
// mostly prompt text, eight bytes at a time. It allocates nothing.
func Valid(b []byte) bool {
	var stack [(maxNesting + 63) / 64]uint64 // one bit per open container: 1 for an array
	depth := 0
	i := skipSpace(b, 0)
	for {
		// A value.
		if i >= len(b) {
			return false
		}
		switch c := b[i]; c {
		case '{', '[':
			if depth == maxNesting {
				return false
			}
			arr := c == '['
			if arr {
				stack[depth/64] |= 1 << (depth % 64)
			} else {
				stack[depth/64] &^= 1 << (depth % 64)
			}
			depth++
			if i = skipSpace(b, i+1); i < len(b) && (arr && b[i] == ']' || !arr && b[i] == '}') {
				depth--
				i++
				break // an empty container: a whole value
			}
			if !arr {
				if i = validMemberName(b, i); i < 0 {
					return false
				}
			}
			continue // to the first element's or member's value
		case '"':
			if i = validStringEnd(b, i); i < 0 {
				return false
			}
		case 't':
			if i = literalEnd(b, i, "true"); i < 0 {
				return false
			}
		case 'f':
			if i = literalEnd(b, i, "false"); i < 0 {
				return false
			}
		case 'n':
			if i = literalEnd(b, i, "null"); i < 0 {
				return false
			}
		default:
			if i = numberEnd(b, i); i < 0 {
				return false
			}
		}
		// After a value: the next one in its container, the container's end, or the document's.
		for {
			i = skipSpace(b, i)
			if depth == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			arr := stack[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			switch c := b[i]; {
			case c == ',':
				if i = skipSpace(b, i+1); !arr {
					if i = validMemberName(b, i); i < 0 {
						return false
					}
				}
			case arr && c == ']' || !arr && c == '}':
				depth--
				i++
				continue
			default:
				return false
			}
			break
		}
	}
}

// validMemberName checks a member name and its colon at b[i:], and returns the index past the colon and
// the white space after it, or -1.
func validMemberName(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = validStringEnd(b, i); i < 0 {
		return -1
	}
	if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
		return -1
	}
	return skipSpace(b, i+1)
}

// validStringEnd checks the string that starts at b[i] (a quote) and returns the index just past it, or -1.
func validStringEnd(b []byte, i int) int {
	for j := i + 1; ; {
		if j = plainRun(b, j, true); j >= len(b) || b[j] < 0x20 {
			return -1
		}
		if b[j] == '"' {
			return j + 1
		}
		// An escape.
		if j+1 >= len(b) {
			return -1
		}
		switch b[j+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			j += 2
		case 'u':
			if j+6 > len(b) {
				return -1
			}
			for _, h := range b[j+2 : j+6] {
				if !isHex(h) {
					return -1
				}
			}
			j += 6
		default:
			return -1
		}
	}
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// literalEnd checks that b[i:] begins with lit and returns the index past it, or -1.
func literalEnd(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// numberEnd checks the number at b[i:] (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?) and returns the
// index past it, or -1.
func numberEnd(b []byte, i int) int {
	digits := func(i int) int { // at least one digit
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return -1
	case b[i] == '0':
		i++
	default:
		if i = digits(i); i < 0 {
			return -1
		}
	}
	if i < len(b) && b[i] == '.' {
		if i = digits(i + 1); i < 0 {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i = digits(i); i < 0 {
			return -1
		}
	}
	return i
}
