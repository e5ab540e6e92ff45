package usage

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

var update = flag.Bool("update", false, "rewrite the mock transcripts and the fuzz seed corpus in testdata")

// feed meters data written in the given pieces, checking after each Write that the meter holds no more
// than its bound.
func feed(t testing.TB, f Format, stream bool, pieces ...[]byte) Usage {
	t.Helper()
	m := NewMeter(f, stream)
	for _, p := range pieces {
		if n, err := m.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(p))
		}
		if b := m.buffered(); b > maxBuffered {
			t.Fatalf("meter holds %d bytes, more than its bound %d", b, maxBuffered)
		}
	}
	u := m.Usage()
	if again := m.Usage(); again != u {
		t.Fatalf("Usage changed when called again: %+v, then %+v", u, again)
	}
	return u
}

// randomPieces cuts data into pieces of 1 to maxLen bytes, seeded.
func randomPieces(data []byte, seed uint64, maxLen int) [][]byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var pieces [][]byte
	for len(data) > 0 {
		n := 1 + rng.IntN(min(len(data), maxLen))
		pieces = append(pieces, data[:n])
		data = data[n:]
	}
	return pieces
}

func bytewise(data []byte) [][]byte {
	pieces := make([][]byte, len(data))
	for i := range data {
		pieces[i] = data[i : i+1]
	}
	return pieces
}

// meterAll meters data whole, then byte by byte, in random pieces (seeded, of several sizes), and —
// for bodies up to 16 KiB — split in two at every position, and fails unless every way gives the same
// Usage. It returns that Usage.
func meterAll(t *testing.T, f Format, stream bool, data []byte) Usage {
	t.Helper()
	want := feed(t, f, stream, data)
	check := func(how string, got Usage) {
		t.Helper()
		if got != want {
			t.Fatalf("fed %s: %+v\nfed whole: %+v", how, got, want)
		}
	}
	check("byte by byte", feed(t, f, stream, bytewise(data)...))
	for seed := range uint64(24) {
		maxLen := []int{3, 17, 64, 512, 4096, 1 << 20}[seed%6]
		check("in random pieces", feed(t, f, stream, randomPieces(data, seed, maxLen)...))
	}
	if len(data) <= 16<<10 {
		for i := 1; i < len(data); i++ {
			check("split at "+itoa(i), feed(t, f, stream, data[:i], data[i:]))
		}
	}
	return want
}

func itoa(i int) string { return string(appendInt(nil, i)) }

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

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

// TestEventStreamFraming covers the event stream rules one at a time, on small chat streams.
func TestEventStreamFraming(t *testing.T) {
	const (
		text  = `{"choices":[{"delta":{"content":"abcdefgh"}}]}`                   // 8 characters
		usage = `{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}}` // the final chunk
	)
	reported := Usage{InputTokens: 7, OutputTokens: 3, Source: Reported, Complete: true, OutputChars: 8}
	for _, tt := range []struct {
		name, stream string
		want         Usage
	}{
		{"plain", "data: " + text + "\n\ndata: " + usage + "\n\ndata: [DONE]\n\n", reported},
		{"no space after the colon", "data:" + text + "\n\ndata:" + usage + "\n\ndata:[DONE]\n\n", reported},
		{"two spaces: the second is data", "data:  " + text + "\n\ndata:  " + usage + "\n\ndata:  [DONE]\n\n", reported},
		{"comments and keep-alives", ": hi\n\n:\ndata: " + text + "\n: ping\n\ndata: " + usage + "\n\n: bye\ndata: [DONE]\n\n", reported},
		{"id and retry fields", "id: 1\nretry: 3000\ndata: " + text + "\n\nid: 2\ndata: " + usage + "\n\ndata: [DONE]\n\n", reported},
		{"unknown fields, and one named like data", "datum: x\ndata_: y\nfoo\ndata: " + text + "\n\ndata: " + usage + "\n\ndata: [DONE]\n\n", reported},
		{"data over several lines", "data: {\"choices\":[{\"delta\":\ndata: {\"content\":\"abcdefgh\"}}]}\n\ndata: {\"choices\":[],\ndata:\"usage\":{\"prompt_tokens\":7,\ndata: \"completion_tokens\":3}}\n\ndata: [DONE]\n\n", reported},
		{"CR line ends", "data: " + text + "\r\rdata: " + usage + "\r\rdata: [DONE]\r\r", reported},
		{"CRLF line ends", "data: " + text + "\r\n\r\ndata: " + usage + "\r\n\r\ndata: [DONE]\r\n\r\n", reported},
		{"a byte order mark", "\xEF\xBB\xBFdata: " + text + "\n\ndata: " + usage + "\n\ndata: [DONE]\n\n", reported},
		{"[DONE] without its blank line", "data: " + text + "\n\ndata: " + usage + "\n\ndata: [DONE]\n", reported},
		{"the last event without its blank line", "data: " + text + "\n\ndata: " + usage + "\n", Usage{InputTokens: 7, OutputTokens: 3, Source: Reported, OutputChars: 8}},
		{"events ended by one line feed", "data: " + text + "\ndata: " + usage + "\ndata: [DONE]\n\n", reported},
		{"[DONE] cut", "data: " + text + "\n\ndata: " + usage + "\n\ndata: [DO", Usage{InputTokens: 7, OutputTokens: 3, Source: Reported, OutputChars: 8}},
		{"[DONE] with trailing space", "data: " + text + "\n\ndata: " + usage + "\n\ndata: [DONE] \n\n", reported},
		{"no usage", "data: " + text + "\n\ndata: [DONE]\n\n", Usage{OutputTokens: 2, Source: Estimated, Complete: true, OutputChars: 8}},
		{"usage null in every chunk", "data: {\"choices\":[{\"delta\":{\"content\":\"abcdefgh\"}}],\"usage\":null}\n\ndata: [DONE]\n\n", Usage{OutputTokens: 2, Source: Estimated, Complete: true, OutputChars: 8}},
		{"empty", "", Usage{}},
		{"only comments", ": keep-alive\n\n: keep-alive\n\n", Usage{}},
		{"an event that is not JSON", "data: hello\n\ndata: " + text + "\n\n", Usage{OutputTokens: 2, Source: Estimated, OutputChars: 8}},
		{"an error event", "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n", Usage{}},
		{"event name too long", "event: " + strings.Repeat("x", 100) + "\ndata: " + text + "\n\n", Usage{OutputTokens: 2, Source: Estimated, OutputChars: 8}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := meterAll(t, OpenAIChat, true, []byte(tt.stream)); got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestAnthropicEvents(t *testing.T) {
	const start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude\",\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\n"
	const delta = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"abcdefghij\"}}\n\n"
	for _, tt := range []struct {
		name, stream string
		want         Usage
	}{
		{"message_start alone", start, Usage{Model: "claude", InputTokens: 15, CachedInputTokens: 5, OutputTokens: 1, Source: Estimated}},
		{"cut after text", start + delta + delta, Usage{Model: "claude", InputTokens: 15, CachedInputTokens: 5, OutputTokens: 5, Source: Estimated, OutputChars: 20}},
		{"message_delta without message_stop", start + delta +
			"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":4}}\n\n",
			Usage{Model: "claude", InputTokens: 15, CachedInputTokens: 5, OutputTokens: 4, Source: Reported, OutputChars: 10}},
		{"message_delta updates input", start + delta +
			"event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":3,\"output_tokens\":4}}\n\n" +
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
			Usage{Model: "claude", InputTokens: 20, CachedInputTokens: 5, CacheWriteTokens: 3, OutputTokens: 4, Source: Reported, Complete: true, OutputChars: 10}},
		{"type from data alone", strings.ReplaceAll(start+delta, "event: message_start\n", "") +
			"data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":4}}\n\ndata: {\"type\":\"message_stop\"}\n\n",
			Usage{Model: "claude", InputTokens: 15, CachedInputTokens: 5, OutputTokens: 4, Source: Reported, Complete: true, OutputChars: 10}},
		{"message_start with usage first, type last", "data: {\"message\":{\"usage\":{\"input_tokens\":10,\"output_tokens\":1}},\"type\":\"message_start\"}\n\n",
			Usage{InputTokens: 10, OutputTokens: 1, Source: Estimated}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := meterAll(t, AnthropicMessages, true, []byte(tt.stream)); got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
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

// TestBoundedMemory feeds inputs that would make a buffering meter grow: a 10 MB line, a 10 MB event
// of many lines, a 10 MB JSON string, deep nesting, binary garbage. The meter's state is a fixed-size
// struct; this checks the bound holds, and that nothing breaks at that size.
func TestBoundedMemory(t *testing.T) {
	big := bytes.Repeat([]byte("abcdefghij"), 1<<20)
	garbage := make([]byte, 4<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	cases := []struct {
		name   string
		stream bool
		data   []byte
		want   Usage
	}{
		{"a line without line end", true, append([]byte("data: "), big...), Usage{}},
		{"a comment line", true, append(append([]byte(":"), big...), "\n\ndata: {\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n"...),
			Usage{InputTokens: 1, OutputTokens: 2, Source: Reported}},
		{"a huge field name", true, append(big, ": x\n\ndata: {\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n"...),
			Usage{InputTokens: 1, OutputTokens: 2, Source: Reported}},
		{"an event of many data lines", true, bytes.Repeat([]byte("data: [1,2,3]\n"), 700_000), Usage{}},
		{"a huge delta", true, append(append([]byte(`data: {"choices":[{"delta":{"content":"`), big...), "\"}]}\n\ndata: [DONE]\n\n"...),
			Usage{OutputTokens: int64(len(big)) / 4, Source: Estimated, Complete: true, OutputChars: int64(len(big))}},
		{"a huge JSON string", false, append(append([]byte(`{"model":"m","x":"`), big...), "\",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}"...),
			Usage{Model: "m", InputTokens: 1, OutputTokens: 2, Source: Reported, Complete: true}},
		{"a huge model name", false, append(append([]byte(`{"model":"`), big...), "\",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}"...),
			Usage{InputTokens: 1, OutputTokens: 2, Source: Reported, Complete: true}},
		{"deep nesting", false, append(append(append([]byte(`{"a":`), bytes.Repeat([]byte("["), 1<<20)...), bytes.Repeat([]byte("]"), 1<<20)...),
			",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}"...), Usage{InputTokens: 1, OutputTokens: 2, Source: Reported, Complete: true}},
		{"deep nesting on a path of interest", false, append([]byte(`{"choices":`), bytes.Repeat([]byte(`[{"message":{"content":`), 1<<16)...), Usage{}},
		{"binary garbage as JSON", false, garbage, Usage{}},
		{"binary garbage as a stream", true, garbage, feed(t, OpenAIChat, true, garbage)},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got := feed(t, OpenAIChat, tt.stream, randomPieces(tt.data, 7, 1<<16)...)
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if whole := feed(t, OpenAIChat, tt.stream, tt.data); whole != got {
				t.Errorf("whole: %+v, in pieces: %+v", whole, got)
			}
		})
	}
}

// TestHugeTerminalEvent: a Responses stream's response.completed repeats the whole answer before its
// usage, so a long answer makes a long event. A meter that buffered events up to a limit would lose the
// usage; this one does not buffer.
func TestHugeTerminalEvent(t *testing.T) {
	long := strings.Repeat("word ", 200_000) // 1 MB of answer
	stream := "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"" + long + "\"}\n\n" +
		"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"model\":\"gpt-5\",\"output\":[{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"" +
		long + "\"}]}],\"usage\":{\"input_tokens\":9,\"output_tokens\":200000,\"output_tokens_details\":{\"reasoning_tokens\":0}}}}\n\n"
	want := Usage{Model: "gpt-5", InputTokens: 9, OutputTokens: 200_000, Source: Reported, Complete: true, OutputChars: int64(len(long))}
	if got := feed(t, OpenAIResponses, true, randomPieces([]byte(stream), 3, 1500)...); got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// TestLargeEmbeddings meters an embeddings body of 500 vectors of 1536 floats (about 9 MB): the usage
// comes after all of them.
func TestLargeEmbeddings(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"object":"list","data":[`)
	for i := range 500 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"object":"embedding","index":` + itoa(i) + `,"embedding":[`)
		for j := range 1536 {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString("-0.0123456789")
		}
		b.WriteString("]}")
	}
	b.WriteString(`],"model":"text-embedding-3-large","usage":{"prompt_tokens":40000,"total_tokens":40000}}`)
	want := Usage{Model: "text-embedding-3-large", InputTokens: 40000, Source: Reported, Complete: true}
	if got := feed(t, OpenAIEmbedding, false, randomPieces(b.Bytes(), 5, 32<<10)...); got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// TestMeterAllocations: metering costs no allocation per event or per byte; the model name is the one
// allocation of a response.
func TestMeterAllocations(t *testing.T) {
	events := chatStream(200)
	allocs := testing.AllocsPerRun(20, func() {
		m := NewMeter(OpenAIChat, true)
		for _, e := range events {
			m.Write(e)
		}
		if m.Usage().Source != Reported {
			t.Fatal("no usage")
		}
	})
	if allocs > 2 {
		t.Errorf("%v allocations for a 200-chunk stream, want at most 2 (the meter and the model name)", allocs)
	}
}

func TestNumbers(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"42", 42, true}, {"42.9", 42, true}, {"1e3", 1000, true}, {"1.5E+3", 1500, true},
		{"2500e-2", 25, true}, {"-5", 0, true}, {"99999999999999999999999", maxCount, true}, {"1e999", maxCount, true},
		{"null", 0, false}, {"", 0, false}, {"-", 0, false}, {"1.", 0, false}, {"1e", 0, false}, {"0x10", 0, false}, {"1-2", 0, false},
	} {
		got, ok := jsonInt([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("jsonInt(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestEstimateTokens(t *testing.T) {
	for _, tt := range [][2]int64{{-3, 0}, {0, 0}, {1, 1}, {3, 1}, {4, 1}, {5, 2}, {8, 2}, {9, 3}, {4000, 1000}} {
		if got := EstimateTokens(tt[0]); got != tt[1] {
			t.Errorf("EstimateTokens(%d) = %d, want %d", tt[0], got, tt[1])
		}
	}
}

// TestMeterSize keeps the meter's fixed state small: it is all the memory a response's metering takes.
func TestMeterSize(t *testing.T) {
	if n := int(unsafe.Sizeof(Meter{})); n > 2048 {
		t.Errorf("a Meter is %d bytes, want at most 2 KiB", n)
	}
}

// TestReset: a meter reset for another response forgets the last one entirely.
func TestReset(t *testing.T) {
	m := NewMeter(AnthropicMessages, true)
	m.Write(readTestdata(t, "anthropic_stream_cut.sse"))
	for _, g := range goldens {
		m.Reset(g.format, strings.HasSuffix(g.file, ".sse"))
		m.Write(readTestdata(t, g.file))
		if got := m.Usage(); got != g.want {
			t.Errorf("%s after Reset: %+v, want %+v", g.file, got, g.want)
		}
	}
}
