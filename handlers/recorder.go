package handlers

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helixgateway/caddy-ai-gateway/usage"
)

// recorder wraps the client's ResponseWriter to learn the status the upstream answered with. reverse_proxy streams
// through http.ResponseController, so it must pass FlushError, ReadFrom, Hijack and Unwrap through: without them
// SSE stops flushing or bytes bypass the wrapper.
//
// It also meters, off the response's path: it keeps a copy of the bytes that reach the client (its tally),
// never holding them back (SSE keeps flushing chunk by chunk), and the meter reads the copy once the answer
// is over, in the ledger writer's goroutine (see Gateway.record). A long answer, past maxHeld, or one that
// comes compressed is metered as it streams instead.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	tally
	start time.Time
	now   func() time.Time
	ttfb  time.Duration // until the first byte or flush reached the client
}

// tally is the metering of one answer. Once the answer is over it leaves its recorder (detach), so that a
// record waiting for the ledger writer holds the copy and the meter, not the response and its request.
type tally struct {
	format   usage.Format
	metering bool         // the answer has a body the meter can read (set with the final status)
	sse      bool         // the body is an event stream
	held     []byte       // the body's bytes the meter has not read yet, in a pooled buffer
	meter    *usage.Meter // made once bytes are metered as they pass: a compressed or a long answer
	meterIn  io.Writer    // the meter, or an inflater in front of it
	inflate  *inflater
}

// Bounds on the copies kept for the meter: one answer's (a longer answer is metered as it streams, so the
// copy never passes this) and all answers' together, in flight and queued for the ledger writer, so that a
// busy or stalled writer does not hold a copy of every answer waiting behind it (the writer pauses for the
// totals write, and records queue meanwhile). Tens of kilobytes are held at 1,000 streams a second; past the
// bound, answers are metered as they stream.
const (
	maxHeld      = 64 << 10
	maxHeldTotal = 4 << 20
)

// heldTotal is the memory held by all tallies' copies, their buffers' capacity (see maxHeldTotal).
var heldTotal atomic.Int64

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 && status >= 200 || status == http.StatusSwitchingProtocols {
		r.status = status
		r.startMeter()
	}
	r.ResponseWriter.WriteHeader(status)
}

// startMeter readies metering of the answer's body. The gateway asks the upstream for plain bytes; an upstream
// that compresses anyway (gzip, deflate, zstd) is decompressed on the side, as the bytes pass. An encoding the
// meter cannot read leaves the call to be estimated from the request.
func (r *recorder) startMeter() {
	if r.format == usage.Unknown || r.now == nil {
		return
	}
	h := r.Header()
	enc := strings.ToLower(h.Get("Content-Encoding"))
	if enc != "" && enc != "identity" && !canInflate(enc) {
		return
	}
	r.metering = true
	r.sse = strings.HasPrefix(h.Get("Content-Type"), "text/event-stream")
	if enc != "" && enc != "identity" {
		r.meterNow()
		r.inflate = newInflater(enc, r.meter)
		r.meterIn = r.inflate
	}
}

// detach hands over the answer's tally, leaving the recorder without one.
func (r *recorder) detach() *tally {
	t := new(tally)
	*t, r.tally = r.tally, tally{}
	return t
}

// meterNow makes the meter, which reads what is held and, from then on, the bytes as they pass.
func (t *tally) meterNow() {
	t.meter = meters.Get().(*usage.Meter)
	t.meter.Reset(t.format, t.sse)
	t.meterIn = t.meter
	if t.held != nil {
		t.meter.Write(t.held)
		t.releaseHeld()
	}
}

// keep hands bytes that reached the client to the meter: a copy held for later, or the meter itself.
func (t *tally) keep(p []byte) {
	if t.meterIn == nil && t.metering && !t.hold(p) {
		t.meterNow()
	}
	if t.meterIn != nil {
		t.meterIn.Write(p)
	}
}

// hold appends p to the held copy if both bounds allow it.
func (t *tally) hold(p []byte) bool {
	need := len(t.held) + len(p)
	if need > maxHeld {
		return false
	}
	if need > cap(t.held) {
		// Grown through the pool, doubling from 1 KiB. The memory held is what counts against the bound: a
		// small JSON answer in a large buffer would hold many times its size.
		bigger := getBodyBuffer(max(1<<minBodyClass, 2*cap(t.held), need) - bodyHeadroom)[:len(t.held)]
		grown := int64(cap(bigger) - cap(t.held))
		if heldTotal.Add(grown) > maxHeldTotal {
			heldTotal.Add(-grown)
			putBodyBuffer(bigger)
			return false
		}
		copy(bigger, t.held)
		if t.held != nil {
			putBodyBuffer(t.held)
		}
		t.held = bigger
	}
	t.held = append(t.held, p...)
	return true
}

func (t *tally) releaseHeld() {
	heldTotal.Add(-int64(cap(t.held)))
	putBodyBuffer(t.held)
	t.held = nil
}

func (r *recorder) firstByte() {
	if r.ttfb == 0 && r.now != nil {
		r.ttfb = max(r.now().Sub(r.start), 1)
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	r.firstByte()
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	r.keep(p[:n])
	return n, err
}

// meters are reused from call to call: a meter's state is most of what metering allocates (about 850 bytes).
var meters = sync.Pool{New: func() any { return new(usage.Meter) }}

// usage is what the meter saw; Source None if the answer was not metered. It ends metering: the answer is
// over (next has returned), what is held is metered, and the meter goes back to the pool.
func (t *tally) usage() usage.Usage {
	if !t.metering {
		return usage.Usage{}
	}
	t.metering = false
	if t.meter == nil {
		// Nothing was metered as it passed, so the whole answer is held: a stream that ends with its usage
		// is read at its ends only (usage.Meter.Whole).
		m := meters.Get().(*usage.Meter)
		m.Reset(t.format, t.sse)
		u, _ := m.Whole(t.held)
		meters.Put(m)
		if t.held != nil {
			t.releaseHeld()
		}
		return u
	}
	if t.inflate != nil {
		t.inflate.finish()
		t.inflate = nil
	}
	u := t.meter.Usage()
	meters.Put(t.meter)
	t.meter, t.meterIn = nil, nil
	return u
}

// keeper is the tally as the writer a ReadFrom's bytes are teed to.
type keeper tally

func (k *keeper) Write(p []byte) (int, error) {
	(*tally)(k).keep(p)
	return len(p), nil
}

// ReadFrom keeps the underlying writer's sendfile/splice path while still counting.
func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	r.firstByte()
	if r.metering {
		src = io.TeeReader(src, (*keeper)(&r.tally))
	}
	var n int64
	var err error
	if rf, ok := r.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(r.ResponseWriter, src)
	}
	r.bytes += n
	return n, err
}

func (r *recorder) FlushError() error {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	r.firstByte()
	return http.NewResponseController(r.ResponseWriter).Flush()
}

func (r *recorder) Flush() { _ = r.FlushError() }

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Interface guards
var (
	_ io.ReaderFrom = (*recorder)(nil)
	_ http.Flusher  = (*recorder)(nil)
	_ http.Hijacker = (*recorder)(nil)
)
