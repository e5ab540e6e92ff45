package usage

import (
	"encoding/binary"
	"math/bits"
)

// The bounds of the memo.
const (
	maxMemo = 256 // of an event's data, the start kept to compare the next event's with
	minMemo = 32  // a shorter shared start is scanned again: restoring the snapshot would cost as much
)

// memo skips the start that a stream's events share. The chunks of an OpenAI stream begin alike up to
// the text they carry ({"id":"chatcmpl-…","object":"chat.completion.chunk","created":…,"model":…,
// "choices":[{"index":0,"delta":{"content":"), and so do most events of other streams: most of each event
// is the same bytes as in the last one. The scanner is a deterministic machine, so the state it reaches
// over those bytes, from the fresh state every event's data starts in, is the same every time. The memo
// keeps that state and the bytes that led to it, and an event that begins with those bytes starts from
// it: a comparison and a copy instead of a scan. The result is exactly the scan's; FuzzMeter checks it
// against byte-by-byte metering, which never takes the memo.
type memo struct {
	n     int     // snap is the scanner after prev[:n]; 0: no snapshot
	model string  // the scanner's model before prev[:n] (captured once per stream, so it matters)
	snap  scanner // the scanner after prev[:n], from the fresh state
	prevN int     // how much of prev holds: the start of the last event that did not start from snap
	prev  [maxMemo]byte
}

// skip feeds s, fresh for an event's data, the start of v the memo knows, and returns the rest of v.
// When the memo does not apply, it scans the start v shares with the last event, keeps the state that
// reaches, and returns the rest.
func (mm *memo) skip(s *scanner, v []byte) []byte {
	if n := mm.n; n > 0 && len(v) >= n && s.model == mm.model && string(v[:n]) == string(mm.prev[:n]) {
		*s = mm.snap
		return v[n:]
	}
	n := commonPrefix(v, mm.prev[:mm.prevN])
	mm.n, mm.prevN = 0, copy(mm.prev[:], v)
	if n < minMemo {
		return v
	}
	model := s.model
	s.write(v[:n])
	mm.n, mm.model, mm.snap = n, model, *s
	return v[n:]
}

// commonPrefix returns the length of the longest common prefix of a and b.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for ; i+8 <= n; i += 8 {
		if x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
	}
	for ; i < n && a[i] == b[i]; i++ {
	}
	return i
}
