package usage

import (
	"bytes"
	"strings"
	"testing"
)

// whole meters data with Whole and checks it against the byte-at-a-time reading: the same Usage, but
// for OutputChars when the middle was left unread, which can then only be lower.
func whole(t testing.TB, f Format, stream bool, data []byte) (Usage, int) {
	t.Helper()
	want := feed(t, f, stream, data)
	got, skipped := NewMeter(f, stream).Whole(data)
	if skipped < 0 || skipped > len(data) || skipped > 0 && !stream {
		t.Fatalf("Whole skipped %d of %d bytes (stream %v)", skipped, len(data), stream)
	}
	if skipped > 0 {
		if got.OutputChars > want.OutputChars {
			t.Fatalf("Whole counted %d characters, more than the %d of the whole reading", got.OutputChars, want.OutputChars)
		}
		got.OutputChars = want.OutputChars
	}
	if got != want {
		t.Fatalf("Whole (skipped %d bytes): %+v\nwant %+v", skipped, got, want)
	}
	return got, skipped
}

// TestWholeSkipsTheMiddle: the streams that end with their whole usage are read at their ends only, and
// come out as the whole reading does; the others are read whole.
func TestWholeSkipsTheMiddle(t *testing.T) {
	t.Parallel()
	skips := map[string]bool{
		"openai_chat_stream.sse":          true, // "usage": null in every chunk but the last
		"openai_chat_stream_tools.sse":    true,
		"openai_responses_stream.sse":     true,
		"openai_responses_incomplete.sse": true, // response.incomplete ends it properly too
		"openai_completion_stream.sse":    true,
		"anthropic_stream.sse":            true, // message_start, then message_delta's usage
		"mock_chat_stream.sse":            true,
		"mock_messages_stream.sse":        true,
		"mock_responses_stream.sse":       true,
		"mock_completion_stream.sse":      true,
	}
	files := []string{"mock_chat_stream.sse", "mock_chat_stream_cut.sse", "mock_chat_stream_nousage.sse",
		"mock_completion_stream.sse", "mock_messages_stream.sse", "mock_messages_stream_cut.sse", "mock_responses_stream.sse"}
	formats := map[string]Format{"mock_messages_stream.sse": AnthropicMessages, "mock_messages_stream_cut.sse": AnthropicMessages,
		"mock_responses_stream.sse": OpenAIResponses, "mock_completion_stream.sse": OpenAICompletion}
	for _, g := range goldens {
		if strings.HasSuffix(g.file, ".sse") {
			files = append(files, g.file)
			formats[g.file] = g.format
		}
	}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			data := readTestdata(t, file)
			f, ok := formats[file]
			if !ok {
				f = OpenAIChat
			}
			_, skipped := whole(t, f, true, data)
			if skips[file] != (skipped > 0) {
				t.Errorf("skipped %d of %d bytes; want a skip: %v", skipped, len(data), skips[file])
			}
			whole(t, Unknown, true, data)
		})
	}
}

// TestWholeReadsWhatCounts: whatever in the middle could change the result makes Whole read it.
func TestWholeReadsWhatCounts(t *testing.T) {
	t.Parallel()
	const (
		first = "data: {\"model\":\"m-1\",\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}\n\n"
		text  = "data: {\"choices\":[{\"delta\":{\"content\":\"hello\"}}],\"usage\" : null}\n\n"
		last  = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n"
	)
	for _, tt := range []struct {
		name   string
		stream string
		skips  bool
	}{
		{"null usage between", first + text + text + last, true},
		{"nothing between", first + last, false},
		// A usage object between sets a field the last one lacks: it counts.
		{"usage between", first + "data: {\"usage\":{\"prompt_tokens\":5,\"prompt_tokens_details\":{\"cached_tokens\":4}}}\n\n" + text + last, false},
		// The first event names no model: a later one does, and the first model reported is kept.
		{"model later", "data: {\"choices\":[]}\n\n" + "data: {\"model\":\"m-2\"}\n\n" + text + last, false},
		{"model only in the last", "data: {\"choices\":[]}\n\n" + text + "data: {\"model\":\"m-3\",\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n", false},
		// "usage" as a string: read.
		{"usage as text", first + "data: {\"choices\":[{\"delta\":{\"content\":\"usage\"}}]}\n\n" + text + last, false},
		// Not ended properly: [DONE] between and not at the end.
		{"not complete at the end", first + text + "data: [DONE]\n\n" + text + "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}\n\n", false},
		// No final usage: estimated from every character, so all is read.
		{"no usage", first + text + text + "data: [DONE]\n\n", false},
		// An event's data over two lines, and comments, between.
		{"multi-line data between", first + ": keep-alive\n\ndata: {\"choices\":[{\"delta\":\ndata: {\"content\":\"x\"}}]}\n\n" + last, true},
		// CRLF events have no \n\n: read whole.
		{"crlf", strings.ReplaceAll(first+text+last, "\n", "\r\n"), false},
		{"blank lines as \\r\\n\\n", strings.ReplaceAll(first+text+text+last, "}\n\n", "}\r\n\n"), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u, skipped := whole(t, OpenAIChat, true, []byte(tt.stream))
			if tt.skips != (skipped > 0) {
				t.Errorf("skipped %d bytes, want a skip: %v (%+v)", skipped, tt.skips, u)
			}
		})
	}
}

// TestWholeJSON: a JSON body is always read whole.
func TestWholeJSON(t *testing.T) {
	t.Parallel()
	data := readTestdata(t, "openai_chat.json")
	if _, skipped := whole(t, OpenAIChat, false, data); skipped != 0 {
		t.Fatalf("skipped %d bytes of a JSON body", skipped)
	}
	// A body that is a stream's bytes, metered as JSON, too.
	if _, skipped := whole(t, OpenAIChat, false, readTestdata(t, "openai_chat_stream.sse")); skipped != 0 {
		t.Fatalf("skipped %d bytes of a JSON body", skipped)
	}
}

func TestIsNull(t *testing.T) {
	for in, want := range map[string]bool{
		``:           false,
		`:null`:      true,
		` :	null,`:   true,
		`:nul`:       false,
		`:{}`:        false,
		`}`:          false,
		`: "x"`:      false,
		`:nullified`: true, // not JSON; the meter reads it as it will
	} {
		if got := isNull([]byte(in)); got != want {
			t.Errorf("isNull(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestIndexUsage checks the SWAR search against bytes.Index at every offset and length around a match.
func TestIndexUsage(t *testing.T) {
	base := []byte(`{"a":"usa","usage":null,"b":"usage of \"usage\"","c":"usagee"}`)
	for pad := range 20 {
		for n := 0; n <= len(base); n++ {
			b := append(bytes.Repeat([]byte("us"), pad), base[:n]...)
			for off := 0; off <= len(b); off++ {
				if got, want := indexUsage(b[off:]), bytes.Index(b[off:], usageKey); got != want {
					t.Fatalf("indexUsage(%q) = %d, want %d", b[off:], got, want)
				}
			}
		}
	}
}
