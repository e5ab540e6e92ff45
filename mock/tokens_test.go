package mock

import (
	"strings"
	"testing"
)

func TestCountTokens(t *testing.T) {
	for _, tt := range []struct {
		text string
		want int
	}{
		{"", 0},
		{"   \t\n", 0},
		{"hello", 1},
		{"hello world", 2},
		{"  leading and trailing  ", 3},
		{"tabs\tnew\nlines\r\nand\vform\ffeeds", 6},
		{"no-break\u00a0space", 2},
		{"ideographic\u3000space", 2},
		{"héllo wörld ünïcode", 3},
		{"punctuation, counts; with words!", 4},
		{"\xff\xfe invalid utf8", 3},
	} {
		if got := CountTokens(tt.text); got != tt.want {
			t.Errorf("CountTokens(%q) = %d, want %d", tt.text, got, tt.want)
		}
		if got := countWords([]byte(tt.text)); got != tt.want {
			t.Errorf("countWords([]byte(%q)) = %d, want %d", tt.text, got, tt.want)
		}
		if got, fields := CountTokens(tt.text), len(strings.Fields(tt.text)); got != fields {
			t.Errorf("CountTokens(%q) = %d, but strings.Fields has %d", tt.text, got, fields)
		}
	}
}

func TestPromptTokens(t *testing.T) {
	for _, tt := range []struct {
		name, path, body string
		want             int
		wantErr          string
	}{
		{"chat string", "/v1/chat/completions",
			`{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there mock"}]}`, 5, ""},
		{"chat parts", "/v1/chat/completions",
			`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what is"},{"type":"image_url","image_url":{"url":"x y z"}},{"type":"text","text":"this"}]}]}`, 3, ""},
		{"chat null content", "/v1/chat/completions",
			`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[]},{"role":"user","content":"ok"}]}`, 1, ""},
		{"chat escapes", "/v1/chat/completions",
			`{"model":"m","messages":[{"role":"user","content":"line one\nline\u00a0two \"quoted\""},{"role":"user","content":[{"type":"text","text":"tab\tsplit"}]}]}`, 7, ""},
		{"chat empty is 1", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":""}]}`, 1, ""},
		{"completion string", "/v1/completions", `{"model":"m","prompt":"once upon a time"}`, 4, ""},
		{"completion array", "/v1/completions", `{"model":"m","prompt":["one two","three"]}`, 3, ""},
		{"embedding string", "/v1/embeddings", `{"model":"m","input":"a b c"}`, 3, ""},
		{"embedding array", "/v1/embeddings", `{"model":"m","input":["a b","c d e"]}`, 5, ""},
		{"responses string", "/v1/responses", `{"model":"m","input":"tell me a story","instructions":"be kind"}`, 6, ""},
		{"responses items", "/v1/responses",
			`{"model":"m","input":[{"role":"user","content":"hi there"},{"type":"message","role":"user","content":[{"type":"input_text","text":"more words"},{"type":"input_image","image_url":"u"}]},{"type":"function_call_output","call_id":"c","output":"not counted"}]}`, 4, ""},
		{"messages", "/v1/messages",
			`{"model":"m","max_tokens":10,"system":"you are terse","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"text","text":"hello you"}]}]}`, 6, ""},
		{"messages system blocks", "/v1/messages",
			`{"model":"m","max_tokens":10,"system":[{"type":"text","text":"a b"}],"messages":[{"role":"user","content":"c"}]}`, 3, ""},
		{"unknown path", "/v1/nope", `{}`, 0, "no endpoint"},
		{"malformed", "/v1/chat/completions", `{"model":`, 0, "could not parse"},
		{"bad content", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":42}]}`, 0, "could not parse"},
		{"missing messages", "/v1/chat/completions", `{"model":"m"}`, 0, "messages"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PromptTokens([]byte(tt.body), tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("PromptTokens = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestTranscript(t *testing.T) {
	tr := newTranscript(100)
	for _, n := range []int{1, 2, 16, 37, 100} {
		if got := CountTokens(tr.words(n)); got != n {
			t.Errorf("words(%d) has %d tokens", n, got)
		}
		for _, chunks := range []int{1, 3, 7, n} {
			var sb strings.Builder
			for i := range chunks {
				sb.WriteString(tr.span(i*n/chunks, (i+1)*n/chunks))
			}
			if sb.String() != tr.words(n) {
				t.Errorf("%d chunks of %d words concatenate to %q, want %q", chunks, n, sb.String(), tr.words(n))
			}
		}
	}
}
