package mock

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// eventStream writes server-sent events. Each event is built in buf, then written and flushed at once,
// so the client — and any meter between it and the mock — sees each event when the mock sends it. The
// buffers are reused across events and, through streamPool, across streams: a long stream costs no
// allocation per chunk.
type eventStream struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	ctx   context.Context
	gap   time.Duration
	timer *time.Timer
	buf   []byte // the event being built
	head  []byte // the start every content chunk of this stream shares
	seq   int    // Responses API sequence number of the next event
	gone  bool   // a write or flush failed: the client went away
}

var streamPool = sync.Pool{New: func() any {
	return &eventStream{buf: make([]byte, 0, 1024), head: make([]byte, 0, 256)}
}}

// startStream writes the headers of a 200 event stream.
func (x *exchange) startStream() *eventStream {
	s := streamPool.Get().(*eventStream)
	s.w, s.rc, s.ctx, s.gap = x.w, http.NewResponseController(x.w), x.r.Context(), x.b.gap
	h := x.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	x.w.WriteHeader(http.StatusOK)
	return s
}

// close returns the stream's buffers for the next stream. It runs deferred, so it runs on abort too.
func (s *eventStream) close() {
	if s.timer != nil {
		s.timer.Stop()
	}
	*s = eventStream{buf: s.buf[:0], head: s.head[:0]}
	streamPool.Put(s)
}

// send writes and flushes the event in buf, and reports whether the client is still there.
func (s *eventStream) send() bool {
	if s.gone {
		return false
	}
	_, err := s.w.Write(s.buf)
	s.buf = s.buf[:0]
	if err == nil {
		// A writer that cannot flush still gets the whole stream, only later.
		if err = s.rc.Flush(); errors.Is(err, http.ErrNotSupported) {
			err = nil
		}
	}
	s.gone = err != nil
	return !s.gone
}

// event builds an event from v, marshalled, named if name is not empty. Used for the few events of a
// stream that are not content chunks.
func (s *eventStream) event(name string, v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only the mock's own types are marshalled
	}
	if name != "" {
		s.buf = append(s.buf, "event: "...)
		s.buf = append(s.buf, name...)
		s.buf = append(s.buf, '\n')
	}
	s.buf = append(s.buf, "data: "...)
	s.buf = append(s.buf, b...)
	s.buf = append(s.buf, "\n\n"...)
	return s.send()
}

// pause waits the gap between two content chunks, and reports whether the client is still there.
func (s *eventStream) pause() bool {
	if s.gap <= 0 {
		return s.ctx.Err() == nil
	}
	if s.timer == nil {
		s.timer = time.NewTimer(s.gap)
	} else {
		s.timer.Reset(s.gap)
	}
	select {
	case <-s.timer.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// content streams an answer of n tokens in chunks, framing each chunk's text with frame. It returns
// false if the client went away. If the exchange asks for a cut, it aborts the connection after that
// many chunks instead, and does not return: net/http then drops the connection without ending the
// response, so the client sees a truncated stream.
func (s *eventStream) content(x *exchange, n, chunks int, frame func(buf []byte, delta string) []byte) bool {
	cut := x.b.cutAfter
	for i := range chunks {
		if i == cut {
			panic(http.ErrAbortHandler)
		}
		if i > 0 && !s.pause() {
			return false
		}
		s.buf = frame(s.buf, x.u.answers.span(i*n/chunks, (i+1)*n/chunks))
		if !s.send() {
			return false
		}
	}
	if cut >= 0 {
		panic(http.ErrAbortHandler)
	}
	return true
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			b = append(b, `\u00`...)
			b = append(b, hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hex = "0123456789abcdef"

func appendInt(b []byte, n int) []byte { return strconv.AppendInt(b, int64(n), 10) }
