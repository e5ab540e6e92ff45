package usage

import (
	"bytes"
	"flag"
	"math/rand/v2"
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

// TestBoundedMemory feeds inputs that would make a buffering meter grow: a 10 MB line, a 10 MB event
// of many lines, a 10 MB JSON string, deep nesting, binary garbage. The meter's state is a fixed-size
// struct; this checks the bound holds, and that nothing breaks at that size.
func TestBoundedMemory(t *testing.T) {
	t.Parallel()
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
		{"CR-only line ends, in one write", true, bytes.Repeat([]byte("data: {\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\r\r"), 100_000),
			Usage{InputTokens: 1, OutputTokens: 2, Source: Reported}},
		{"LF line ends and one CR at the end, in one write", true, append(bytes.Repeat([]byte("data: {\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n"), 100_000), '\r'),
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

// TestEOLFinder checks the remembering line-end search against a plain one, on random lines.
func TestEOLFinder(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	for range 2000 {
		p := make([]byte, rng.IntN(40))
		for i := range p {
			p[i] = "xx\r\n"[rng.IntN(4)]
		}
		f := eolFinder{lf: -1}
		for len(p) > 0 {
			want := bytes.IndexAny(p, "\r\n")
			if got := f.index(p); got != want {
				t.Fatalf("index(%q) = %d, want %d", p, got, want)
			}
			if want < 0 {
				break
			}
			p = p[want+1+rng.IntN(2)*min(1, len(p)-want-1):] // sometimes a byte more, as after \r\n
		}
	}
}
