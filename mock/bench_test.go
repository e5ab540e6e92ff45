package mock

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// discard is a ResponseWriter that keeps nothing, so a benchmark measures the mock, not a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Flush()                      {}

func benchmarkServe(b *testing.B, u *Upstream, path, body string, headers ...string) {
	r := httptest.NewRequest(http.MethodPost, path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := &discard{h: make(http.Header)}
	next := nextNotCalled(b)
	src := bytes.NewReader([]byte(body))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		src.Reset([]byte(body))
		r.Body = io.NopCloser(src)
		clear(w.h)
		if err := u.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChatJSON(b *testing.B) {
	u := newUpstream(b, Upstream{})
	benchmarkServe(b, u, "/v1/chat/completions",
		`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello to the benchmark."}],"max_tokens":64}`)
}

func BenchmarkChatStream500(b *testing.B) {
	u := newUpstream(b, Upstream{})
	benchmarkServe(b, u, "/v1/chat/completions",
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Stream five hundred tokens."}],"max_tokens":500,"stream":true,"stream_options":{"include_usage":true}}`)
}

func BenchmarkMessagesStream500(b *testing.B) {
	u := newUpstream(b, Upstream{})
	benchmarkServe(b, u, "/v1/messages",
		`{"model":"claude-haiku","max_tokens":500,"messages":[{"role":"user","content":"Stream five hundred tokens."}],"stream":true}`)
}
