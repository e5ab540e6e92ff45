package handlers

import (
	"errors"
	"io"
	"math/bits"
	"sync"
	"sync/atomic"
)

// Request bodies are read whole (a JSON request is needed whole to be checked and priced) into buffers kept
// from call to call: a long-context call's prompt is hundreds of kilobytes, and a fresh buffer for each one
// made the collector mark the gateway's whole heap every few hundred calls.

const (
	minBodyClass = 10 // 1 KiB: the smallest pooled buffer
	maxBodyClass = 24 // 16 MiB: larger bodies get a buffer of their own
	// bodyHeadroom is spare capacity past the body, enough for include_usage to be added in place.
	bodyHeadroom = 64
)

var bodyPools [maxBodyClass + 1]sync.Pool // by class: buffers of capacity 1<<class

// giveBack is where a pooledBody's buffer goes when it is free: putBodyBuffer (a test watches it).
var giveBack = putBodyBuffer

// getBodyBuffer returns a buffer of length n, with at least bodyHeadroom bytes of capacity beyond it.
func getBodyBuffer(n int) []byte {
	class := max(minBodyClass, bits.Len(uint(n+bodyHeadroom-1)))
	if class > maxBodyClass {
		return make([]byte, n, n+bodyHeadroom)
	}
	if p, ok := bodyPools[class].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, 1<<class)
}

// putBodyBuffer gives back a buffer from getBodyBuffer (or one that grew from it: it goes to the class its
// capacity fills).
func putBodyBuffer(b []byte) {
	class := bits.Len(uint(cap(b))) - 1
	if class < minBodyClass || class > maxBodyClass {
		return
	}
	b = b[: 0 : 1<<class]
	bodyPools[class].Put(&b)
}

// pooledBody is a request body forwarded from a pooled buffer. The buffer goes back to the pool once the
// handler is done with the call and no Read is in progress: the transport may still be sending the body
// after the answer has arrived (an upstream may answer before it reads), and net/http reads it from
// another goroutine. A Read after the release fails, and leaves the buffer alone.
type pooledBody struct {
	buf   []byte
	off   int
	state atomic.Uint32 // bodyReading, bodyReleased
}

const (
	bodyReading  = 1 << iota // a Read is copying from buf
	bodyReleased             // the handler is done: buf goes back to the pool when no Read is in progress
)

var errBodyReleased = errors.New("request body read after the call ended")

func (b *pooledBody) Read(p []byte) (int, error) {
	for {
		s := b.state.Load()
		if s&bodyReleased != 0 {
			return 0, errBodyReleased
		}
		if b.state.CompareAndSwap(s, s|bodyReading) {
			break
		}
	}
	n := copy(p, b.buf[b.off:])
	b.off += n
	var err error
	if b.off == len(b.buf) {
		err = io.EOF
	}
	if b.state.And(^uint32(bodyReading))&bodyReleased != 0 { // released while reading: ours to give back
		giveBack(b.buf)
	}
	return n, err
}

// Close does nothing: the buffer's end is release's to decide.
func (b *pooledBody) Close() error { return nil }

// release ends the handler's use of the body; the buffer goes back to the pool now, or when the Read in
// progress ends.
func (b *pooledBody) release() {
	if old := b.state.Or(bodyReleased); old&bodyReleased == 0 && old&bodyReading == 0 {
		giveBack(b.buf)
	}
}
