package mock

import (
	"net/http"
	"strings"
	"testing"
)

func TestChatCompletionJSON(t *testing.T) {
	u := newUpstream(t, Upstream{OutputTokensCap: 50})
	const msgs = `"messages":[{"role":"user","content":"count these five words"}]`
	for _, tt := range []struct {
		name, body string
		headers    []string
		wantOut    int
		wantFinish string
	}{
		{"default length", `{"model":"gpt-4o-mini",` + msgs + `}`, nil, 16, "stop"},
		{"max_tokens", `{"model":"gpt-4o-mini",` + msgs + `,"max_tokens":5}`, nil, 5, "length"},
		{"max_completion_tokens wins", `{"model":"gpt-4o-mini",` + msgs + `,"max_tokens":5,"max_completion_tokens":7}`, nil, 7, "length"},
		{"capped", `{"model":"gpt-4o-mini",` + msgs + `,"max_tokens":1000}`, nil, 50, "stop"},
		{"header shorter than limit", `{"model":"gpt-4o-mini",` + msgs + `,"max_tokens":10}`, []string{HeaderOutputTokens, "3"}, 3, "stop"},
		{"header longer than limit", `{"model":"gpt-4o-mini",` + msgs + `,"max_tokens":10}`, []string{HeaderOutputTokens, "20"}, 10, "length"},
		{"header without limit", `{"model":"gpt-4o-mini",` + msgs + `}`, []string{HeaderOutputTokens, "2"}, 2, "stop"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(t, u, http.MethodPost, "/v1/chat/completions", tt.body, tt.headers...)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			m := decodeJSON(t, w.Body.String())
			if id := str(t, m, "id"); !strings.HasPrefix(id, "chatcmpl-mock-") {
				t.Errorf("id = %q", id)
			}
			if got := str(t, m, "object"); got != "chat.completion" {
				t.Errorf("object = %q", got)
			}
			if got := num(t, m, "created"); got != int(testNow.Unix()) {
				t.Errorf("created = %d", got)
			}
			if got := str(t, m, "model"); got != "gpt-4o-mini" {
				t.Errorf("model = %q", got)
			}
			if got := str(t, m, "choices", 0, "message", "role"); got != "assistant" {
				t.Errorf("role = %q", got)
			}
			content := str(t, m, "choices", 0, "message", "content")
			if got := CountTokens(content); got != tt.wantOut {
				t.Errorf("content has %d tokens, want %d", got, tt.wantOut)
			}
			if got := str(t, m, "choices", 0, "finish_reason"); got != tt.wantFinish {
				t.Errorf("finish_reason = %q, want %q", got, tt.wantFinish)
			}
			in := promptTokens(t, tt.body, "/v1/chat/completions")
			if in != 4 {
				t.Errorf("PromptTokens = %d, want 4", in)
			}
			for key, want := range map[string]int{"prompt_tokens": in, "completion_tokens": tt.wantOut, "total_tokens": in + tt.wantOut} {
				if got := num(t, m, "usage", key); got != want {
					t.Errorf("usage.%s = %d, want %d", key, got, want)
				}
			}
			if got := num(t, m, "usage", "prompt_tokens_details", "cached_tokens"); got != 0 {
				t.Errorf("cached_tokens = %d", got)
			}
			if got := num(t, m, "usage", "completion_tokens_details", "reasoning_tokens"); got != 0 {
				t.Errorf("reasoning_tokens = %d", got)
			}
		})
	}
}

func TestChatCompletionStream(t *testing.T) {
	for _, tt := range []struct {
		name       string
		config     Upstream
		body       string
		headers    []string
		wantOut    int
		wantChunks int
		wantUsage  bool
		wantFinish string
	}{
		{"no usage by default", Upstream{}, `{"model":"m","messages":[{"role":"user","content":"a b c"}],"stream":true}`,
			nil, 16, 16, false, "stop"},
		{"include_usage false", Upstream{}, `{"model":"m","messages":[{"role":"user","content":"a b c"}],"stream":true,"stream_options":{"include_usage":false}}`,
			nil, 16, 16, false, "stop"},
		{"include_usage", Upstream{}, `{"model":"m","messages":[{"role":"user","content":"a b c"}],"stream":true,"stream_options":{"include_usage":true}}`,
			nil, 16, 16, true, "stop"},
		{"configured chunks", Upstream{Chunks: 4}, `{"model":"m","messages":[{"role":"user","content":"a b c"}],"stream":true,"max_tokens":10,"stream_options":{"include_usage":true}}`,
			nil, 10, 4, true, "length"},
		{"chunk header", Upstream{Chunks: 4}, `{"model":"m","messages":[{"role":"user","content":"a b c"}],"stream":true}`,
			[]string{HeaderChunks, "3"}, 16, 3, false, "stop"},
		{"more chunks than tokens", Upstream{}, `{"model":"m","messages":[{"role":"user","content":"a b c"}],"stream":true,"max_tokens":2}`,
			[]string{HeaderChunks, "9"}, 2, 2, false, "length"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, tt.config)
			w := serve(t, u, http.MethodPost, "/v1/chat/completions", tt.body, tt.headers...)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Errorf("Content-Type = %q", ct)
			}
			if !w.Flushed {
				t.Error("stream was never flushed")
			}
			events := parseSSE(t, w.Body.String())
			// role chunk, content chunks, finish chunk, [usage chunk], [DONE]
			want := 1 + tt.wantChunks + 1 + 1
			if tt.wantUsage {
				want++
			}
			if len(events) != want {
				t.Fatalf("got %d events, want %d: %s", len(events), want, w.Body)
			}
			if last := events[len(events)-1]; last.data != "[DONE]" {
				t.Fatalf("last event is %q, want [DONE]", last.data)
			}
			var id string
			for i, e := range events[:len(events)-1] {
				m := decodeJSON(t, e.data)
				if str(t, m, "object") != "chat.completion.chunk" || str(t, m, "model") != "m" {
					t.Errorf("event %d: %s", i, e.data)
				}
				if i == 0 {
					id = str(t, m, "id")
				} else if str(t, m, "id") != id {
					t.Errorf("event %d has another id", i)
				}
				if _, has := m["usage"]; has != tt.wantUsage {
					t.Errorf("event %d: usage key present = %v", i, has)
				}
			}
			if got := str(t, decodeJSON(t, events[0].data), "choices", 0, "delta", "role"); got != "assistant" {
				t.Errorf("first delta role = %q", got)
			}
			var content strings.Builder
			for _, e := range events[1 : 1+tt.wantChunks] {
				m := decodeJSON(t, e.data)
				if get(t, m, "choices", 0, "finish_reason") != nil {
					t.Errorf("content chunk with finish_reason: %s", e.data)
				}
				if tt.wantUsage && get(t, m, "usage") != nil {
					t.Errorf("content chunk with usage: %s", e.data)
				}
				content.WriteString(str(t, m, "choices", 0, "delta", "content"))
			}
			if got := CountTokens(content.String()); got != tt.wantOut {
				t.Errorf("streamed %d tokens, want %d", got, tt.wantOut)
			}
			finish := decodeJSON(t, events[1+tt.wantChunks].data)
			if got := str(t, finish, "choices", 0, "finish_reason"); got != tt.wantFinish {
				t.Errorf("finish_reason = %q, want %q", got, tt.wantFinish)
			}
			if tt.wantUsage {
				m := decodeJSON(t, events[len(events)-2].data)
				if choices := get(t, m, "choices").([]any); len(choices) != 0 {
					t.Errorf("usage chunk has choices: %v", choices)
				}
				in := promptTokens(t, tt.body, "/v1/chat/completions")
				if num(t, m, "usage", "prompt_tokens") != in || num(t, m, "usage", "completion_tokens") != tt.wantOut ||
					num(t, m, "usage", "total_tokens") != in+tt.wantOut {
					t.Errorf("usage = %v, want %d in, %d out", get(t, m, "usage"), in, tt.wantOut)
				}
			}
		})
	}
}

func TestCompletion(t *testing.T) {
	u := newUpstream(t, Upstream{})
	body := `{"model":"gpt-3.5-turbo-instruct","prompt":["say this","and that"],"max_tokens":6}`
	in := promptTokens(t, body, "/v1/completions")

	t.Run("json", func(t *testing.T) {
		w := serve(t, u, http.MethodPost, "/v1/completions", body)
		m := decodeJSON(t, w.Body.String())
		if str(t, m, "object") != "text_completion" || !strings.HasPrefix(str(t, m, "id"), "cmpl-mock-") {
			t.Errorf("body: %s", w.Body)
		}
		if got := CountTokens(str(t, m, "choices", 0, "text")); got != 6 {
			t.Errorf("text has %d tokens", got)
		}
		if str(t, m, "choices", 0, "finish_reason") != "length" {
			t.Errorf("finish_reason = %v", get(t, m, "choices", 0, "finish_reason"))
		}
		if num(t, m, "usage", "prompt_tokens") != in || num(t, m, "usage", "completion_tokens") != 6 || num(t, m, "usage", "total_tokens") != in+6 {
			t.Errorf("usage = %v", get(t, m, "usage"))
		}
	})

	for _, includeUsage := range []bool{false, true} {
		name := map[bool]string{false: "stream", true: "stream with usage"}[includeUsage]
		t.Run(name, func(t *testing.T) {
			body := strings.TrimSuffix(body, "}") + `,"stream":true`
			if includeUsage {
				body += `,"stream_options":{"include_usage":true}`
			}
			body += "}"
			events := parseSSE(t, serve(t, u, http.MethodPost, "/v1/completions", body).Body.String())
			want := 6 + 1 + 1 // content, finish, [DONE]
			if includeUsage {
				want++
			}
			if len(events) != want || events[len(events)-1].data != "[DONE]" {
				t.Fatalf("got %d events: %v", len(events), events)
			}
			var text strings.Builder
			for _, e := range events[:6] {
				m := decodeJSON(t, e.data)
				if str(t, m, "object") != "text_completion" {
					t.Errorf("chunk object = %v", m["object"])
				}
				text.WriteString(str(t, m, "choices", 0, "text"))
			}
			if text.String() != u.answers.words(6) {
				t.Errorf("streamed %q", text.String())
			}
			if got := str(t, decodeJSON(t, events[6].data), "choices", 0, "finish_reason"); got != "length" {
				t.Errorf("finish_reason = %q", got)
			}
			if includeUsage {
				m := decodeJSON(t, events[7].data)
				if num(t, m, "usage", "prompt_tokens") != in || num(t, m, "usage", "completion_tokens") != 6 {
					t.Errorf("usage = %v", get(t, m, "usage"))
				}
			}
		})
	}
}
