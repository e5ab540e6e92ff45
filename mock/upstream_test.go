package mock

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

const (
	chatBody     = `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	messagesBody = `{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`
)

func TestErrors(t *testing.T) {
	u := newUpstream(t, Upstream{})
	for _, tt := range []struct {
		name, method, path, body string
		headers                  []string
		wantStatus               int
		wantType, wantCode       string // wantCode empty: Anthropic's shape
		wantRetryAfter           bool
	}{
		{"unknown path", http.MethodPost, "/v1/nope", chatBody, nil, 404, "invalid_request_error", "not_found", false},
		{"GET", http.MethodGet, "/v1/chat/completions", "", nil, 405, "invalid_request_error", "method_not_allowed", false},
		{"malformed JSON", http.MethodPost, "/v1/chat/completions", `{"model":"m",`, nil, 400, "invalid_request_error", "invalid_request", false},
		{"not an object", http.MethodPost, "/v1/chat/completions", `[1,2]`, nil, 400, "invalid_request_error", "invalid_request", false},
		{"empty body", http.MethodPost, "/v1/embeddings", ``, nil, 400, "invalid_request_error", "invalid_request", false},
		{"missing model", http.MethodPost, "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`, nil, 400, "invalid_request_error", "invalid_request", false},
		{"missing messages", http.MethodPost, "/v1/chat/completions", `{"model":"m","messages":[]}`, nil, 400, "invalid_request_error", "invalid_request", false},
		{"missing prompt", http.MethodPost, "/v1/completions", `{"model":"m"}`, nil, 400, "invalid_request_error", "invalid_request", false},
		{"missing input", http.MethodPost, "/v1/responses", `{"model":"m"}`, nil, 400, "invalid_request_error", "invalid_request", false},
		{"missing embedding input", http.MethodPost, "/v1/embeddings", `{"model":"m","input":[]}`, nil, 400, "invalid_request_error", "invalid_request", false},
		{"bad dimensions", http.MethodPost, "/v1/embeddings", `{"model":"m","input":"x","dimensions":0}`, nil, 400, "invalid_request_error", "invalid_request", false},
		{"zero max_tokens", http.MethodPost, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}`, nil, 400, "invalid_request_error", "invalid_request", false},
		{"stream_options without stream", http.MethodPost, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}`, nil, 400, "invalid_request_error", "invalid_request", false},
		{"messages without max_tokens", http.MethodPost, "/v1/messages", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, nil, 400, "invalid_request_error", "", false},
		{"messages malformed", http.MethodPost, "/v1/messages", `{`, nil, 400, "invalid_request_error", "", false},
		{"messages GET", http.MethodGet, "/v1/messages", ``, nil, 405, "invalid_request_error", "", false},
		{"bad override header", http.MethodPost, "/v1/chat/completions", chatBody, []string{HeaderLatency, "soon"}, 400, "invalid_request_error", "invalid_request", false},
		{"status out of range", http.MethodPost, "/v1/chat/completions", chatBody, []string{HeaderStatus, "200"}, 400, "invalid_request_error", "invalid_request", false},
		{"injected 429", http.MethodPost, "/v1/chat/completions", chatBody, []string{HeaderStatus, "429"}, 429, "requests", "rate_limit_exceeded", true},
		{"injected 503", http.MethodPost, "/v1/embeddings", `{"model":"m","input":"x"}`, []string{HeaderStatus, "503"}, 503, "server_error", "service_unavailable", true},
		{"injected 500", http.MethodPost, "/v1/responses", `{"model":"m","input":"x"}`, []string{HeaderStatus, "500"}, 500, "server_error", "internal_server_error", false},
		{"injected 401", http.MethodPost, "/v1/completions", `{"model":"m","prompt":"x"}`, []string{HeaderStatus, "401"}, 401, "invalid_request_error", "invalid_api_key", false},
		{"injected status beats bad body", http.MethodPost, "/v1/chat/completions", `not json`, []string{HeaderStatus, "502"}, 502, "server_error", "bad_gateway", false},
		{"injected 429 Anthropic", http.MethodPost, "/v1/messages", messagesBody, []string{HeaderStatus, "429"}, 429, "rate_limit_error", "", true},
		{"injected 529 Anthropic", http.MethodPost, "/v1/messages", messagesBody, []string{HeaderStatus, "529"}, 529, "overloaded_error", "", true},
		{"injected 500 Anthropic", http.MethodPost, "/v1/messages", messagesBody, []string{HeaderStatus, "500"}, 500, "api_error", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(t, u, tt.method, tt.path, tt.body, tt.headers...)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", w.Code, tt.wantStatus, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			m := decodeJSON(t, w.Body.String())
			if tt.wantCode == "" {
				if str(t, m, "type") != "error" || str(t, m, "error", "type") != tt.wantType || str(t, m, "error", "message") == "" {
					t.Errorf("want Anthropic error %s, got %s", tt.wantType, w.Body)
				}
			} else if str(t, m, "error", "type") != tt.wantType || str(t, m, "error", "code") != tt.wantCode || str(t, m, "error", "message") == "" {
				t.Errorf("want OpenAI error %s/%s, got %s", tt.wantType, tt.wantCode, w.Body)
			}
			if got := w.Header().Get("Retry-After"); (got == "1") != tt.wantRetryAfter {
				t.Errorf("Retry-After = %q", got)
			}
			if tt.wantStatus == 405 && w.Header().Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q", w.Header().Get("Allow"))
			}
		})
	}
}

func TestCutAfter(t *testing.T) {
	u := newUpstream(t, Upstream{})
	for _, tt := range []struct {
		name, path, body string
		cut              string
		wantChunks       int
		chunk            string // marks a content chunk
		never            []string
	}{
		{"chat", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true}}`,
			"3", 3, `"delta":{"content":`, []string{"[DONE]", `"usage":{`, `"finish_reason":"stop"`}},
		{"chat cut before content", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}`,
			"0", 0, `"delta":{"content":`, []string{"[DONE]", `"finish_reason":"stop"`}},
		{"chat cut past the end", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"max_tokens":4}`,
			"99", 4, `"delta":{"content":`, []string{"[DONE]", `"finish_reason":"length"`}},
		{"completions", "/v1/completions", `{"model":"m","prompt":"x","stream":true,"stream_options":{"include_usage":true}}`,
			"2", 2, `"finish_reason":null`, []string{"[DONE]", `"usage":{`}},
		{"responses", "/v1/responses", `{"model":"m","input":"x","stream":true}`,
			"5", 5, "event: response.output_text.delta", []string{"response.output_text.done", "response.completed", `"usage":{`}},
		{"messages", "/v1/messages", `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"x"}],"stream":true}`,
			"1", 1, "event: content_block_delta", []string{"message_delta", "message_stop"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := serveCut(t, u, tt.path, tt.body, HeaderCutAfter, tt.cut)
			if got := strings.Count(out, tt.chunk); got != tt.wantChunks {
				t.Errorf("%d content chunks before the cut, want %d:\n%s", got, tt.wantChunks, out)
			}
			for _, s := range tt.never {
				if strings.Contains(out, s) {
					t.Errorf("truncated stream contains %q:\n%s", s, out)
				}
			}
		})
	}

	t.Run("JSON answers ignore it", func(t *testing.T) {
		w := serve(t, u, http.MethodPost, "/v1/chat/completions", chatBody, HeaderCutAfter, "1")
		if w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
	})

	t.Run("client sees a truncated stream", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = u.ServeHTTP(w, r, nextNotCalled(t))
		}))
		defer srv.Close()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true}}`))
		req.Header.Set(HeaderCutAfter, "2")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("reading the body: err = %v, want unexpected EOF", err)
		}
		if got := strings.Count(string(body), `"delta":{"content":`); got != 2 {
			t.Errorf("client got %d content chunks, want 2:\n%s", got, body)
		}
		if strings.Contains(string(body), "[DONE]") || strings.Contains(string(body), `"usage":{`) {
			t.Errorf("client got the end of the stream:\n%s", body)
		}
	})
}

func TestTiming(t *testing.T) {
	u := newUpstream(t, Upstream{})

	t.Run("latency", func(t *testing.T) {
		start := time.Now()
		serve(t, u, http.MethodPost, "/v1/chat/completions", chatBody, HeaderLatency, "30ms")
		if d := time.Since(start); d < 30*time.Millisecond {
			t.Errorf("answered after %v, want at least 30ms", d)
		}
	})

	t.Run("chunk gap", func(t *testing.T) {
		start := time.Now()
		w := serve(t, u, http.MethodPost, "/v1/chat/completions",
			`{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"max_tokens":4}`, HeaderChunkGap, "10ms")
		if d := time.Since(start); d < 30*time.Millisecond {
			t.Errorf("4 chunks streamed in %v, want at least 3 gaps of 10ms", d)
		}
		if !strings.HasSuffix(w.Body.String(), "data: [DONE]\n\n") {
			t.Errorf("stream did not finish: %s", w.Body)
		}
	})

	for _, tt := range []struct{ name, body, header string }{
		{"client gone during latency", chatBody, HeaderLatency},
		{"client gone during chunk gap", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}`, HeaderChunkGap},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/v1/chat/completions", strings.NewReader(tt.body))
			r.Header.Set(tt.header, "1h")
			w := httptest.NewRecorder()
			time.AfterFunc(20*time.Millisecond, cancel)
			done := make(chan error)
			go func() { done <- u.ServeHTTP(w, r, nextNotCalled(t)) }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("ServeHTTP: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the mock kept waiting for a client that was gone")
			}
			if strings.Contains(w.Body.String(), "[DONE]") {
				t.Error("stream finished for a client that was gone")
			}
		})
	}
}

func TestProvision(t *testing.T) {
	for _, tt := range []struct {
		name             string
		config           Upstream
		wantOut, wantCap int
		wantErr          string
	}{
		{"defaults", Upstream{}, 16, 4096, ""},
		{"small cap lowers the default", Upstream{OutputTokensCap: 4}, 4, 4, ""},
		{"explicit", Upstream{OutputTokens: 100, OutputTokensCap: 200}, 100, 200, ""},
		{"output over cap", Upstream{OutputTokens: 300, OutputTokensCap: 200}, 0, 0, "output_tokens"},
		{"cap too big", Upstream{OutputTokensCap: 2_000_000}, 0, 0, "output_tokens_cap"},
		{"negative chunks", Upstream{Chunks: -1}, 0, 0, "chunks"},
		{"negative latency", Upstream{Latency: caddy.Duration(-time.Second)}, 0, 0, "latency"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.config
			err := u.Provision(caddy.Context{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.OutputTokens != tt.wantOut || u.OutputTokensCap != tt.wantCap {
				t.Errorf("output_tokens %d, cap %d; want %d, %d", u.OutputTokens, u.OutputTokensCap, tt.wantOut, tt.wantCap)
			}
		})
	}
}
