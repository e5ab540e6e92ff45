package mock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Upstream{})
	httpcaddyfile.RegisterHandlerDirective("ai_mock", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("ai_mock", httpcaddyfile.Before, "reverse_proxy")
}

const (
	defaultOutputTokens    = 16
	defaultOutputTokensCap = 4096

	// maxOutputTokensCap bounds output_tokens_cap: the whole answer text is built at provision time.
	maxOutputTokensCap = 1_000_000

	// maxBodySize bounds a request body, as the real APIs do.
	maxBodySize = 32 << 20

	// maxPooledBody bounds the body buffers kept for reuse.
	maxPooledBody = 1 << 20
)

// Upstream is a deterministic OpenAI/Anthropic-compatible upstream. It answers every request itself and
// never calls the next handler. See the package documentation for the endpoints, the token rule and the
// per-request override headers.
type Upstream struct {
	// Latency is how long to wait before writing the response headers. Default: 0.
	Latency caddy.Duration `json:"latency,omitempty"`

	// Chunks is the number of content chunks in a stream. Default: 0, one chunk per output token.
	Chunks int `json:"chunks,omitempty"`

	// ChunkGap is how long to wait between two content chunks of a stream. Default: 0.
	ChunkGap caddy.Duration `json:"chunk_gap,omitempty"`

	// OutputTokens is the answer's length in tokens when the request sets no limit of its own.
	// Default: 16 (or output_tokens_cap, if that is smaller).
	OutputTokens int `json:"output_tokens,omitempty"`

	// OutputTokensCap is the longest answer, in tokens, whatever the request asks for.
	// Default: 4096; at most 1000000.
	OutputTokensCap int `json:"output_tokens_cap,omitempty"`

	answers transcript
	now     func() time.Time
}

// CaddyModule returns the Caddy module information.
func (Upstream) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.ai_mock",
		New: func() caddy.Module { return new(Upstream) },
	}
}

// Provision fills in defaults, checks the configuration, and builds the answer text.
func (u *Upstream) Provision(caddy.Context) error {
	if u.OutputTokensCap == 0 {
		u.OutputTokensCap = defaultOutputTokensCap
	}
	if u.OutputTokens == 0 {
		u.OutputTokens = min(defaultOutputTokens, u.OutputTokensCap)
	}
	if err := u.validate(); err != nil {
		return err
	}
	u.answers = newTranscript(u.OutputTokensCap)
	if u.now == nil {
		u.now = time.Now
	}
	return nil
}

// validate runs inside Provision rather than as caddy.Validator because the answer text, built in
// Provision, cannot be built from a bad configuration.
func (u *Upstream) validate() error {
	switch {
	case u.Latency < 0:
		return fmt.Errorf("latency must not be negative: %v", time.Duration(u.Latency))
	case u.ChunkGap < 0:
		return fmt.Errorf("chunk_gap must not be negative: %v", time.Duration(u.ChunkGap))
	case u.Chunks < 0:
		return fmt.Errorf("chunks must not be negative: %d", u.Chunks)
	case u.OutputTokensCap < 0 || u.OutputTokensCap > maxOutputTokensCap:
		return fmt.Errorf("output_tokens_cap must be between 1 and %d: %d", maxOutputTokensCap, u.OutputTokensCap)
	case u.OutputTokens < 0 || u.OutputTokens > u.OutputTokensCap:
		return fmt.Errorf("output_tokens must be between 1 and output_tokens_cap (%d): %d", u.OutputTokensCap, u.OutputTokens)
	}
	return nil
}

// ServeHTTP answers the request. Errors are written as responses in the provider's shape rather than
// returned to Caddy: to the client they are the upstream's answer, not the server's failure.
func (u *Upstream) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	ep, ok := endpoints[r.URL.Path]
	if !ok {
		writeError(w, false, http.StatusNotFound, "invalid_request_error", "not_found", "",
			"Invalid URL ("+r.Method+" "+r.URL.Path+")")
		return nil
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, ep.anthropic, http.StatusMethodNotAllowed, "invalid_request_error", "method_not_allowed", "",
			"Method "+r.Method+" not allowed on "+r.URL.Path+"; use POST")
		return nil
	}
	b, err := u.behaviour(r.Header)
	if err != nil {
		writeBadRequest(w, ep.anthropic, err)
		return nil
	}

	// Read the body before anything else, so that even an injected error leaves the connection reusable.
	body := bodyPool.Get().(*bytes.Buffer)
	defer func() {
		if body.Cap() <= maxPooledBody { // let an outsized buffer go rather than hold it forever
			body.Reset()
			bodyPool.Put(body)
		}
	}()
	if _, err := body.ReadFrom(http.MaxBytesReader(w, r.Body, maxBodySize)); err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			writeError(w, ep.anthropic, http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large", "",
				fmt.Sprintf("request body is larger than %d bytes", maxBodySize))
		}
		return nil // otherwise the client is gone
	}

	if !sleep(r.Context(), b.latency) {
		return nil
	}
	if b.status != 0 {
		writeInjectedStatus(w, ep.anthropic, b.status)
		return nil
	}
	c, err := ep.parse(body.Bytes())
	if err != nil {
		writeBadRequest(w, ep.anthropic, err)
		return nil
	}
	ep.answer(&exchange{u: u, w: w, r: r, b: b, c: c})
	return nil
}

// exchange is one request being answered.
type exchange struct {
	u *Upstream
	w http.ResponseWriter
	r *http.Request
	b behaviour
	c call
}

// length returns the answer's length in tokens, and whether the request's own limit decided it.
func (x *exchange) length() (n int, limited bool) {
	return x.u.answerLength(x.b, x.c.maxTokens)
}

// chunks returns how many content chunks a stream of n tokens is cut into.
func (x *exchange) chunks(n int) int {
	c := x.b.chunks
	if c == 0 || c > n {
		c = n
	}
	return c
}

// endpoint is a path the mock serves.
type endpoint struct {
	parse     func(body []byte) (call, error)
	answer    func(x *exchange)
	anthropic bool // errors take Anthropic's shape
}

var endpoints = map[string]endpoint{
	"/v1/chat/completions": {parse: parseChat, answer: (*exchange).chat},
	"/v1/completions":      {parse: parseCompletion, answer: (*exchange).completion},
	"/v1/embeddings":       {parse: parseEmbedding, answer: (*exchange).embedding},
	"/v1/responses":        {parse: parseResponse, answer: (*exchange).response},
	"/v1/messages":         {parse: parseMessage, answer: (*exchange).message, anthropic: true},
}

// PromptTokens returns the input tokens the mock reports for a request with this body sent to path, so
// a test can predict the usage the mock reports. The error is the one the mock answers 400 with.
func PromptTokens(body []byte, path string) (int, error) {
	ep, ok := endpoints[path]
	if !ok {
		return 0, fmt.Errorf("mock serves no endpoint at %s", path)
	}
	c, err := ep.parse(body)
	if err != nil {
		return 0, err
	}
	return c.inputTokens, nil
}

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// sleep waits for d, and reports false if the client went away first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// writeBody writes a complete JSON answer.
func writeBody(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only the mock's own types are marshalled; this is a bug, not a request problem.
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Interface guards
var (
	_ caddy.Module                = (*Upstream)(nil)
	_ caddy.Provisioner           = (*Upstream)(nil)
	_ caddyhttp.MiddlewareHandler = (*Upstream)(nil)
	_ caddyfile.Unmarshaler       = (*Upstream)(nil)
)
