package usage

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzMeter feeds a meter arbitrary bytes, whole, byte by byte and in pieces cut by split, and checks
// that it never panics, never holds more than its bound, and that the pieces never change the result, nor
// does Whole's reading of a stream's ends only.
// The seed corpus (testdata/fuzz/FuzzMeter) holds the golden transcripts; -update rewrites it.
func FuzzMeter(f *testing.F) {
	f.Add(uint8(OpenAIChat), true, uint64(1), []byte("data: {\"usage\":{\"prompt_tokens\":1}}\n\ndata: [DONE]\n\n"))
	f.Add(uint8(Unknown), false, uint64(2), []byte(`{"usage":{"input_tokens":1e2,"output_tokens":3.5}}`))
	f.Fuzz(func(t *testing.T, format uint8, stream bool, split uint64, data []byte) {
		fm := Format(format % uint8(len(tries)))
		want := feed(t, fm, stream, data)
		if len(data) <= 4096 { // longer inputs are left to the pieces below, for the fuzzer's speed
			if got := feed(t, fm, stream, bytewise(data)...); got != want {
				t.Fatalf("byte by byte: %+v\nwhole: %+v", got, want)
			}
		}
		maxLen := 1 + int(split>>56) // 1 to 256 bytes a piece
		if got := feed(t, fm, stream, randomPieces(data, split, maxLen)...); got != want {
			t.Fatalf("in pieces (split %d): %+v\nwhole: %+v", split, got, want)
		}
		whole(t, fm, stream, data)
		if want.InputTokens < 0 || want.OutputTokens < 0 || want.OutputChars < 0 || want.OutputChars > int64(len(data)) {
			t.Fatalf("impossible counts: %+v", want)
		}
		if want.Source == None && (want.OutputTokens != 0 || want.InputTokens != 0) {
			t.Fatalf("counts without a source: %+v", want)
		}
	})
}

// TestWriteFuzzCorpus writes the golden transcripts as FuzzMeter's seed corpus, with -update.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*update {
		t.Skip("-update rewrites testdata/fuzz/FuzzMeter")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzMeter")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, f Format, stream bool, split uint64, data []byte) {
		s := fmt.Sprintf("go test fuzz v1\nbyte(%q)\nbool(%v)\nuint64(%d)\n[]byte(%q)\n", byte(f), stream, split, data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, g := range goldens {
		name := strings.TrimSuffix(g.file, filepath.Ext(g.file))
		write("golden-"+name, g.format, strings.HasSuffix(g.file, ".sse"), uint64(i)*0x9e3779b97f4a7c15, readTestdata(t, g.file))
	}
	for i, c := range mockCalls {
		file := "mock_" + c.name + ".json"
		if strings.Contains(c.body, `"stream":true`) {
			file = "mock_" + c.name + ".sse"
		}
		write("mock-"+c.name, FormatFor(c.path, "auto"), strings.HasSuffix(file, ".sse"), uint64(i+100)<<50, readTestdata(t, file))
	}
	write("crlf-split", OpenAIChat, true, 7, []byte("data: {\"choices\":[{\"delta\":{\"content\":\"é😀\"}}]}\r\n\r\ndata: [DONE]\r\n\r\n"))
	write("garbage", Unknown, true, 3, []byte("\xEF\xBB\x00data\r:\r\n\n\n{{{[[[\"\\u12"))
}
