package usage

import (
	"encoding/binary"
	"math/bits"
)

// Eight bytes at a time (SWAR): a request body is mostly the text of its prompts, and the string scans
// below read it a word at a time until a byte that needs a look.

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// zeroBytes has the high bit set in the first zero byte of x, and maybe in later ones; none when x
// has no zero byte.
func zeroBytes(x uint64) uint64 { return (x - ones) & ^x & highs }

// stopBytes marks the bytes that end a run of plain string content: a quote, a backslash, or (when
// ctl) a control character, which JSON does not allow in a string. The first mark is exact.
func stopBytes(x uint64, ctl bool) uint64 {
	m := zeroBytes(x^('"'*ones)) | zeroBytes(x^('\\'*ones))
	if ctl {
		m |= (x - 0x20*ones) & ^x & highs // a byte below 0x20 (the first such is exact)
	}
	return m
}

// plainRun returns the index of the first quote or backslash in b[i:] (or control character, when ctl),
// or len(b).
func plainRun(b []byte, i int, ctl bool) int {
	for ; i+8 <= len(b); i += 8 {
		if m := stopBytes(binary.LittleEndian.Uint64(b[i:]), ctl); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || ctl && c < 0x20 {
			return i
		}
	}
	return i
}

// runeStarts counts the bytes of b that start a UTF-8 sequence (or are not part of one): its characters.
func runeStarts(b []byte) int64 {
	n := int64(len(b))
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		n -= int64(bits.OnesCount64(x & ^(x << 1) & highs)) // 10xxxxxx: a continuation byte
	}
	for _, c := range b[i:] {
		if c&0xC0 == 0x80 {
			n--
		}
	}
	return n
}
