package usage

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goldens are transcripts of the real APIs, written from their public documentation, and what they
// cost. The character counts were checked against an independent decoder (json.loads, code points).
var goldens = []struct {
	file   string
	format Format
	want   Usage
}{
	{"openai_chat.json", OpenAIChat, Usage{Model: "o4-mini-2025-04-16", InputTokens: 1835, CachedInputTokens: 1664,
		OutputTokens: 412, ReasoningTokens: 384, Source: Reported, Complete: true, OutputChars: 91}},
	{"openai_chat_tools.json", OpenAIChat, Usage{Model: "gpt-4o-mini-2024-07-18", InputTokens: 82, OutputTokens: 17,
		Source: Reported, Complete: true, OutputChars: 28}},
	{"openai_completion.json", OpenAICompletion, Usage{Model: "gpt-3.5-turbo-instruct", InputTokens: 5, OutputTokens: 7,
		Source: Reported, Complete: true, OutputChars: 23}},
	{"openai_embedding.json", OpenAIEmbedding, Usage{Model: "text-embedding-3-small", InputTokens: 8,
		Source: Reported, Complete: true}},
	{"openai_responses.json", OpenAIResponses, Usage{Model: "o4-mini-2025-04-16", InputTokens: 328, CachedInputTokens: 256,
		OutputTokens: 252, ReasoningTokens: 192, Source: Reported, Complete: true, OutputChars: 120}},
	{"anthropic_message.json", AnthropicMessages, Usage{Model: "claude-sonnet-4-5-20250929", InputTokens: 12 + 2048 + 1510,
		CachedInputTokens: 2048, CacheWriteTokens: 1510, OutputTokens: 36, Source: Reported, Complete: true, OutputChars: 66}},
	{"openai_error.json", OpenAIChat, Usage{Source: None, Complete: true}},

	// Usage in the last chunk (choices: []), "usage": null before it, multi-byte UTF-8 and escapes in
	// the deltas (\u00e9 and the surrogate pair \ud83d\ude00 are one character each), [DONE].
	{"openai_chat_stream.sse", OpenAIChat, Usage{Model: "gpt-4o-2024-08-06", InputTokens: 19, OutputTokens: 10,
		Source: Reported, Complete: true, OutputChars: 22}},
	// No stream_options.include_usage: no usage, the output is estimated from the 75 characters.
	{"openai_chat_stream_nousage.sse", OpenAIChat, Usage{Model: "gpt-4o-mini-2024-07-18", OutputTokens: 19,
		Source: Estimated, Complete: true, OutputChars: 75}},
	{"openai_chat_stream_tools.sse", OpenAIChat, Usage{Model: "gpt-4o-2024-05-13", InputTokens: 81, OutputTokens: 18,
		Source: Reported, Complete: true, OutputChars: 25}},
	// A compatible provider: CRLF, keep-alive comments, "data:" without a space, cumulative usage in
	// every chunk (the last wins), reasoning_content.
	{"compat_stream_crlf.sse", OpenAIChat, Usage{Model: "deepseek/deepseek-r1", InputTokens: 64, CachedInputTokens: 32,
		OutputTokens: 17, ReasoningTokens: 11, Source: Reported, Complete: true, OutputChars: 33}},
	{"openai_completion_stream.sse", OpenAICompletion, Usage{Model: "gpt-3.5-turbo-instruct", InputTokens: 6,
		OutputTokens: 5, Source: Reported, Complete: true, OutputChars: 15}},
	// Reasoning summary and output text deltas count; the .done events and response.completed repeat
	// the text and do not.
	{"openai_responses_stream.sse", OpenAIResponses, Usage{Model: "o4-mini-2025-04-16", InputTokens: 2150,
		CachedInputTokens: 2048, OutputTokens: 141, ReasoningTokens: 128, Source: Reported, Complete: true, OutputChars: 66}},
	// response.incomplete ends the stream too; an audio delta's base64 is not text.
	{"openai_responses_incomplete.sse", OpenAIResponses, Usage{Model: "gpt-4.1-2025-04-14", InputTokens: 11,
		OutputTokens: 4, Source: Reported, Complete: true, OutputChars: 16}},
	// Anthropic's whole sequence: message_start, thinking, signature, pings, text, tool_use input JSON,
	// message_delta (with the input and cache fields newer API versions repeat), message_stop.
	{"anthropic_stream.sse", AnthropicMessages, Usage{Model: "claude-sonnet-4-5-20250929", InputTokens: 472 + 2048 + 1024,
		CachedInputTokens: 2048, CacheWriteTokens: 1024, OutputTokens: 89, Source: Reported, Complete: true, OutputChars: 114}},
	// Cut in the middle of a text delta: message_start's input is kept, the output is estimated from
	// the 78 characters seen (44 thinking, 28 + 6 text), above message_start's placeholder of 2.
	{"anthropic_stream_cut.sse", AnthropicMessages, Usage{Model: "claude-sonnet-4-5-20250929", InputTokens: 472 + 2048 + 1024,
		CachedInputTokens: 2048, CacheWriteTokens: 1024, OutputTokens: 20, Source: Estimated, OutputChars: 78}},
	// An error event (overloaded) ends the stream without message_delta.
	{"anthropic_stream_error.sse", AnthropicMessages, Usage{Model: "claude-haiku-4-5", InputTokens: 25, OutputTokens: 14,
		Source: Estimated, OutputChars: 53}},
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGolden(t *testing.T) {
	t.Parallel()
	for _, g := range goldens {
		t.Run(g.file, func(t *testing.T) {
			data := readTestdata(t, g.file)
			stream := strings.HasSuffix(g.file, ".sse")
			if got := meterAll(t, g.format, stream, data); got != g.want {
				t.Errorf("got  %+v\nwant %+v", got, g.want)
			}
			// The generic meter, for paths it does not know, reads every format alike.
			if got := feed(t, Unknown, stream, data); got != g.want {
				t.Errorf("as Unknown: got %+v\nwant %+v", got, g.want)
			}
			if !stream {
				return
			}
			// Every line ending the standard allows gives the same result.
			lf := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
			for _, eol := range []string{"\n", "\r\n", "\r"} {
				if got := feed(t, g.format, true, bytes.ReplaceAll(lf, []byte("\n"), []byte(eol))); got != g.want {
					t.Errorf("with line ends %q: got %+v\nwant %+v", eol, got, g.want)
				}
			}
		})
	}
}

// TestSplitBoundaries names the boundaries that matter and checks each on its own, besides the
// exhaustive splits of TestGolden.
func TestSplitBoundaries(t *testing.T) {
	data := readTestdata(t, "openai_chat_stream.sse")
	want := feed(t, OpenAIChat, true, data)
	for _, tt := range []struct {
		name string
		at   func() int
	}{
		{"inside data:", func() int { return bytes.Index(data, []byte("data:")) + 2 }},
		{"between data: and its space", func() int { return bytes.Index(data, []byte("data:")) + 5 }},
		{"inside [DONE]", func() int { return bytes.Index(data, []byte("[DONE]")) + 3 }},
		{"inside a 3-byte rune", func() int { return bytes.Index(data, []byte("日")) + 1 }},
		{"inside a 4-byte rune", func() int { return bytes.Index(data, []byte("😀")) + 2 }},
		{"inside an escape", func() int { return bytes.Index(data, []byte(`\u00e9`)) + 3 }},
		{"between the halves of a surrogate pair", func() int { return bytes.Index(data, []byte(`\ude00`)) }},
		{"inside a usage number", func() int { return bytes.Index(data, []byte(`"prompt_tokens":19`)) + 17 }},
		{"between the two line feeds of an event's end", func() int { return bytes.Index(data, []byte("}\n\n")) + 2 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			i := tt.at()
			if got := feed(t, OpenAIChat, true, data[:i], data[i:]); got != want {
				t.Errorf("split at %d: %+v, want %+v", i, got, want)
			}
		})
	}
	crlf := readTestdata(t, "compat_stream_crlf.sse")
	i := bytes.Index(crlf, []byte("\r\n")) + 1
	if got, want := feed(t, OpenAIChat, true, crlf[:i], crlf[i:]), feed(t, OpenAIChat, true, crlf); got != want {
		t.Errorf("split between \\r and \\n: %+v, want %+v", got, want)
	}
}

// TestJSONCut meters every prefix of each JSON golden: a body cut anywhere is never Complete, is
// Reported exactly when the prefix holds the whole usage object, and then with the whole body's counts.
func TestJSONCut(t *testing.T) {
	for _, g := range goldens {
		if strings.HasSuffix(g.file, ".sse") {
			continue
		}
		t.Run(g.file, func(t *testing.T) {
			data := readTestdata(t, g.file)
			usageEnd := len(data) + 1 // no usage: never Reported
			if k := bytes.Index(data, []byte(`"usage":`)); k >= 0 {
				usageEnd = valueEnd(data, skipSpace(data, k+len(`"usage":`)))
			}
			end := bytes.LastIndexByte(data, '}') + 1
			for i := range end {
				u := feed(t, g.format, false, data[:i])
				if u.Complete {
					t.Fatalf("cut at %d of %d: Complete", i, len(data))
				}
				if reported := u.Source == Reported; reported != (i >= usageEnd) {
					t.Fatalf("cut at %d, the usage object ends at %d: Source %v", i, usageEnd, u.Source)
				}
				if u.Source == Reported && (u.InputTokens != g.want.InputTokens || u.OutputTokens != g.want.OutputTokens) {
					t.Fatalf("cut at %d: %+v, want the counts of %+v", i, u, g.want)
				}
				if u.InputTokens > g.want.InputTokens || u.OutputChars > g.want.OutputChars {
					t.Fatalf("cut at %d: %+v, more than the whole body's %+v", i, u, g.want)
				}
			}
			if u := feed(t, g.format, false, data[:end]); u != g.want {
				t.Errorf("up to the last brace: %+v, want %+v", u, g.want)
			}
		})
	}
}
