package handlers

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/helixgateway/caddy-ai-gateway/usage"
)

// recorder wraps the client's ResponseWriter to learn the status the upstream answered with. reverse_proxy streams
// through http.ResponseController, so it must pass FlushError, ReadFrom, Hijack and Unwrap through: without them
// SSE stops flushing or bytes bypass the wrapper.
//
// It also meters: the bytes that reach the client pass through a usage.Meter as they stream, never held
// back, so SSE keeps flushing chunk by chunk.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64

	format  usage.Format
	meter   *usage.Meter // made when the final status is written, for a body the meter can read
	meterIn io.Writer    // the meter, or an inflater in front of it for a compressed body
	inflate *inflater
	start   time.Time
	now     func() time.Time
	ttfb    time.Duration // until the first byte or flush reached the client
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 && status >= 200 || status == http.StatusSwitchingProtocols {
		r.status = status
		r.startMeter()
	}
	r.ResponseWriter.WriteHeader(status)
}

// startMeter makes a meter for the answer's body. The gateway asks the upstream for plain bytes; an upstream
// that compresses anyway (gzip, deflate, zstd) is decompressed on the side. An encoding the meter cannot read
// leaves the call to be estimated from the request.
func (r *recorder) startMeter() {
	if r.format == usage.Unknown || r.now == nil {
		return
	}
	h := r.Header()
	enc := strings.ToLower(h.Get("Content-Encoding"))
	if enc != "" && enc != "identity" && !canInflate(enc) {
		return
	}
	r.meter = meters.Get().(*usage.Meter)
	r.meter.Reset(r.format, strings.HasPrefix(h.Get("Content-Type"), "text/event-stream"))
	r.meterIn = r.meter
	if enc != "" && enc != "identity" {
		r.inflate = newInflater(enc, r.meter)
		r.meterIn = r.inflate
	}
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
	if r.meterIn != nil {
		r.meterIn.Write(p[:n])
	}
	return n, err
}

// meters are reused from call to call: a meter's state is most of what metering allocates (about 850 bytes).
var meters = sync.Pool{New: func() any { return new(usage.Meter) }}

// usage is what the meter saw; Source None if there was no meter. It ends metering: the answer is over
// (settle calls it once next has returned), and the meter goes back to the pool.
func (r *recorder) usage() usage.Usage {
	if r.meter == nil {
		return usage.Usage{}
	}
	if r.inflate != nil {
		r.inflate.finish()
		r.inflate = nil
	}
	u := r.meter.Usage()
	meters.Put(r.meter)
	r.meter, r.meterIn = nil, nil
	return u
}

// ReadFrom keeps the underlying writer's sendfile/splice path while still counting.
func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	r.firstByte()
	if r.meterIn != nil {
		src = io.TeeReader(src, r.meterIn)
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
