package mock

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestMessagesJSON(t *testing.T) {
	u := newUpstream(t, Upstream{OutputTokensCap: 64})
	for _, tt := range []struct {
		name, body string
		headers    []string
		wantOut    int
		wantStop   string
	}{
		{"max_tokens decides", `{"model":"claude-sonnet-4","max_tokens":12,"messages":[{"role":"user","content":"hello claude"}]}`, nil, 12, "max_tokens"},
		{"cap decides", `{"model":"claude-sonnet-4","max_tokens":1024,"messages":[{"role":"user","content":"hello claude"}]}`, nil, 64, "end_turn"},
		{"header decides", `{"model":"claude-sonnet-4","max_tokens":1024,"system":"terse","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
			[]string{HeaderOutputTokens, "5"}, 5, "end_turn"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(t, u, http.MethodPost, "/v1/messages", tt.body, tt.headers...)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			m := decodeJSON(t, w.Body.String())
			if !strings.HasPrefix(str(t, m, "id"), "msg_mock") || str(t, m, "type") != "message" ||
				str(t, m, "role") != "assistant" || str(t, m, "model") != "claude-sonnet-4" ||
				str(t, m, "content", 0, "type") != "text" {
				t.Errorf("body: %s", w.Body)
			}
			if got := CountTokens(str(t, m, "content", 0, "text")); got != tt.wantOut {
				t.Errorf("content has %d tokens, want %d", got, tt.wantOut)
			}
			if got := str(t, m, "stop_reason"); got != tt.wantStop {
				t.Errorf("stop_reason = %q, want %q", got, tt.wantStop)
			}
			in := promptTokens(t, tt.body, "/v1/messages")
			if num(t, m, "usage", "input_tokens") != in || num(t, m, "usage", "output_tokens") != tt.wantOut ||
				num(t, m, "usage", "cache_creation_input_tokens") != 0 || num(t, m, "usage", "cache_read_input_tokens") != 0 {
				t.Errorf("usage = %v, want %d in, %d out", get(t, m, "usage"), in, tt.wantOut)
			}
		})
	}
}

func TestMessagesStream(t *testing.T) {
	u := newUpstream(t, Upstream{})
	body := `{"model":"claude-haiku","max_tokens":5,"stream":true,"system":[{"type":"text","text":"be nice"}],"messages":[{"role":"user","content":"stream please"}]}`
	w := serve(t, u, http.MethodPost, "/v1/messages", body)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	events := parseSSE(t, w.Body.String())
	var names []string
	for _, e := range events {
		names = append(names, e.name)
		if got := str(t, decodeJSON(t, e.data), "type"); got != e.name {
			t.Errorf("event %s has type %q", e.name, got)
		}
	}
	want := []string{"message_start", "content_block_start", "ping",
		"content_block_delta", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_delta",
		"content_block_stop", "message_delta", "message_stop"}
	if !slices.Equal(names, want) {
		t.Fatalf("events\n%v\nwant\n%v", names, want)
	}
	in := promptTokens(t, body, "/v1/messages")
	start := decodeJSON(t, events[0].data)
	if num(t, start, "message", "usage", "input_tokens") != in || num(t, start, "message", "usage", "output_tokens") != 1 ||
		str(t, start, "message", "model") != "claude-haiku" || get(t, start, "message", "stop_reason") != nil {
		t.Errorf("message_start: %s", events[0].data)
	}
	var text strings.Builder
	for _, e := range events[3:8] {
		m := decodeJSON(t, e.data)
		if num(t, m, "index") != 0 || str(t, m, "delta", "type") != "text_delta" {
			t.Errorf("delta: %s", e.data)
		}
		text.WriteString(str(t, m, "delta", "text"))
	}
	if got := CountTokens(text.String()); got != 5 {
		t.Errorf("streamed %d tokens", got)
	}
	delta := decodeJSON(t, events[9].data)
	if str(t, delta, "delta", "stop_reason") != "max_tokens" || num(t, delta, "usage", "output_tokens") != 5 {
		t.Errorf("message_delta: %s", events[9].data)
	}
}
