package mock

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// The headers a request can carry to override, for itself alone, how the mock answers it. The package
// documentation describes each.
const (
	HeaderLatency      = "X-Mock-Latency"
	HeaderStatus       = "X-Mock-Status"
	HeaderChunks       = "X-Mock-Chunks"
	HeaderChunkGap     = "X-Mock-Chunk-Gap"
	HeaderOutputTokens = "X-Mock-Output-Tokens"
	HeaderCutAfter     = "X-Mock-Cut-After"
)

// behaviour is how the mock answers one request: its configuration with the request's override headers
// applied.
type behaviour struct {
	latency      time.Duration
	status       int // 0: answer normally
	chunks       int // 0: one chunk per output token
	gap          time.Duration
	outputTokens int // 0: output_tokens, or the request's limit
	cutAfter     int // -1: never cut the stream
}

// behaviour reads the override headers. An error names the header and its bad value.
func (u *Upstream) behaviour(h http.Header) (behaviour, error) {
	b := behaviour{
		latency:  time.Duration(u.Latency),
		chunks:   u.Chunks,
		gap:      time.Duration(u.ChunkGap),
		cutAfter: -1,
	}
	var err error
	if v := h.Get(HeaderLatency); v != "" {
		if b.latency, err = headerDuration(HeaderLatency, v); err != nil {
			return b, err
		}
	}
	if v := h.Get(HeaderChunkGap); v != "" {
		if b.gap, err = headerDuration(HeaderChunkGap, v); err != nil {
			return b, err
		}
	}
	if v := h.Get(HeaderStatus); v != "" {
		if b.status, err = headerInt(HeaderStatus, v, 400, 599); err != nil {
			return b, err
		}
	}
	if v := h.Get(HeaderChunks); v != "" {
		if b.chunks, err = headerInt(HeaderChunks, v, 0, maxOutputTokensCap); err != nil {
			return b, err
		}
	}
	if v := h.Get(HeaderOutputTokens); v != "" {
		if b.outputTokens, err = headerInt(HeaderOutputTokens, v, 1, maxOutputTokensCap); err != nil {
			return b, err
		}
	}
	if v := h.Get(HeaderCutAfter); v != "" {
		if b.cutAfter, err = headerInt(HeaderCutAfter, v, 0, maxOutputTokensCap); err != nil {
			return b, err
		}
	}
	return b, nil
}

// answerLength returns the answer's length in tokens for a request whose own output limit is limit
// (0: none), and whether that limit decided the length.
func (u *Upstream) answerLength(b behaviour, limit int) (n int, limited bool) {
	want := u.OutputTokens
	switch {
	case b.outputTokens > 0:
		want = b.outputTokens
	case limit > 0:
		want = limit
	}
	n = min(want, u.OutputTokensCap)
	if limit > 0 && n >= limit {
		return limit, true
	}
	return n, false
}

func headerDuration(name, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, &badRequest{msg: fmt.Sprintf("%s: invalid duration %q", name, v)}
	}
	return d, nil
}

func headerInt(name, v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, &badRequest{msg: fmt.Sprintf("%s: invalid value %q, want an integer from %d to %d", name, v, lo, hi)}
	}
	return n, nil
}
