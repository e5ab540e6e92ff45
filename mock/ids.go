package mock

import "sync/atomic"

// idSeq numbers the mock's answers. It is process-wide so that ids stay unique across config reloads
// and across several mock upstreams in one server.
var idSeq atomic.Uint64

// newID returns prefix followed by the next answer number as 16 hex digits.
func newID(prefix string) string {
	var buf [48]byte
	b := append(buf[:0], prefix...)
	n := idSeq.Add(1)
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, hex[n>>shift&0xf])
	}
	return string(b)
}
