package handlers

import (
	"compress/gzip"
	"compress/zlib"
	"io"
	"net/http"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/helixgateway/caddy-ai-gateway/usage"
)

// inflater feeds the meter the decompressed form of a body the upstream compressed although the gateway asked
// for plain bytes. The client still gets the compressed bytes untouched; a goroutine decompresses a copy as
// it streams through, so the answer is never held back.
type inflater struct {
	pw   *io.PipeWriter
	done chan struct{}
}

// filterAcceptEncoding drops from Accept-Encoding what the meter cannot decompress (br, compress...). With
// nothing left the header goes, and Go's transport asks for gzip and decompresses itself.
func filterAcceptEncoding(h http.Header) {
	vals := h.Values("Accept-Encoding")
	if len(vals) == 0 {
		return
	}
	var kept []string
	for _, v := range vals {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			name, _, _ := strings.Cut(part, ";")
			if name = strings.ToLower(strings.TrimSpace(name)); canInflate(name) || name == "identity" {
				kept = append(kept, part)
			}
		}
	}
	if len(kept) == 0 {
		h.Del("Accept-Encoding")
		return
	}
	h.Set("Accept-Encoding", strings.Join(kept, ", "))
}

// canInflate reports whether the meter can read a body with this Content-Encoding.
func canInflate(enc string) bool {
	switch enc {
	case "gzip", "x-gzip", "deflate", "zstd":
		return true
	}
	return false
}

func newInflater(enc string, m *usage.Meter) *inflater {
	pr, pw := io.Pipe()
	in := &inflater{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(in.done)
		defer io.Copy(io.Discard, pr) // a corrupt body: keep reading so the response never blocks on the meter
		var r io.Reader
		var err error
		switch enc {
		case "gzip", "x-gzip":
			r, err = gzip.NewReader(pr)
		case "deflate":
			r, err = zlib.NewReader(pr)
		case "zstd":
			var d *zstd.Decoder
			if d, err = zstd.NewReader(pr, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20)); err == nil {
				defer d.Close()
				r = d
			}
		}
		if err == nil {
			io.Copy(m, r)
		}
	}()
	return in
}

func (in *inflater) Write(p []byte) (int, error) {
	in.pw.Write(p) // never fails while the goroutine reads; its errors are the meter's loss only
	return len(p), nil
}

// finish ends the body and waits until the meter has seen all of it.
func (in *inflater) finish() {
	in.pw.Close()
	<-in.done
}
