package usage

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// BenchmarkMeterJSON meters a typical chat completion JSON body, as one Write.
func BenchmarkMeterJSON(b *testing.B) {
	body, err := os.ReadFile("testdata/openai_chat.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		m := NewMeter(OpenAIChat, false)
		m.Write(body)
		if m.Usage().Source != Reported {
			b.Fatal("no usage")
		}
	}
}

// chatStream returns an OpenAI chat stream of n content chunks with include_usage, one event per
// element, as an upstream writes and flushes them.
func chatStream(n int) [][]byte {
	const head = `data: {"id":"chatcmpl-C3f6XbAAq7gJqPV1EO0Cg0b2sSEid","object":"chat.completion.chunk","created":1754979457,` +
		`"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_ff25b2783a","choices":[{"index":0,`
	words := []string{" lorem", " ipsum", " dolor", " sit", " amet", ",", " consectetur", " adipiscing", " elit", "."}
	events := [][]byte{[]byte(head + `"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"Ms2kW"}` + "\n\n")}
	for i := range n {
		events = append(events, fmt.Appendf(nil, head+`"delta":{"content":%q},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"0xEo"}`+"\n\n", words[i%len(words)]))
	}
	events = append(events,
		[]byte(head+`"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null,"obfuscation":"Wb9L"}`+"\n\n"),
		fmt.Appendf(nil, `data: {"id":"chatcmpl-C3f6XbAAq7gJqPV1EO0Cg0b2sSEid","object":"chat.completion.chunk","created":1754979457,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_ff25b2783a","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":%d,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"obfuscation":"1J"}`+"\n\n", n, n+19),
		[]byte("data: [DONE]\n\n"))
	return events
}

// BenchmarkMeterSSE meters a 500-chunk chat stream, one Write per event.
func BenchmarkMeterSSE(b *testing.B) {
	events := chatStream(500)
	var size int64
	for _, e := range events {
		size += int64(len(e))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		m := NewMeter(OpenAIChat, true)
		for _, e := range events {
			m.Write(e)
		}
		if u := m.Usage(); u.OutputTokens != 500 || !u.Complete {
			b.Fatalf("usage %+v", u)
		}
	}
}

// BenchmarkMeterSSEWhole meters a held 19-event chat stream (the bench's size) with Whole, which reads its
// first event and its last ones, against reading it whole, event by event.
func BenchmarkMeterSSEWhole(b *testing.B) {
	events := chatStream(16)
	var body []byte
	for _, e := range events {
		body = append(body, e...)
	}
	for _, c := range []struct {
		name  string
		meter func(m *Meter) (Usage, int)
	}{
		{"ends", func(m *Meter) (Usage, int) { return m.Whole(body) }},
		{"whole", func(m *Meter) (Usage, int) {
			for _, e := range events {
				m.Write(e)
			}
			return m.Usage(), 0
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			var m Meter
			for b.Loop() {
				m.Reset(OpenAIChat, true)
				if u, skipped := c.meter(&m); u.OutputTokens != 16 || !u.Complete || c.name == "ends" && skipped == 0 {
					b.Fatalf("usage %+v, skipped %d", u, skipped)
				}
			}
		})
	}
}

// BenchmarkMeterEmbeddings meters a 1.5 MB embeddings body in 32 KiB writes: the vectors are skipped
// without being looked at.
func BenchmarkMeterEmbeddings(b *testing.B) {
	body := []byte(`{"object":"list","data":[`)
	for i := range 100 {
		if i > 0 {
			body = append(body, ',')
		}
		body = fmt.Appendf(body, `{"object":"embedding","index":%d,"embedding":[`, i)
		for j := range 1536 {
			if j > 0 {
				body = append(body, ',')
			}
			body = append(body, "-0.001234"...)
		}
		body = append(body, "]}"...)
	}
	body = append(body, `],"model":"text-embedding-3-small","usage":{"prompt_tokens":800,"total_tokens":800}}`...)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		m := NewMeter(OpenAIEmbedding, false)
		for p := body; len(p) > 0; {
			n := min(len(p), 32<<10)
			m.Write(p[:n])
			p = p[n:]
		}
		if m.Usage().InputTokens != 800 {
			b.Fatal("no usage")
		}
	}
}

var chatRequest = []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},` +
	`{"role":"user","content":"Say hello to the benchmark, and tell me about the weather in Paris today."}],"max_tokens":64,"stream":true}`)

func BenchmarkParseRequest(b *testing.B) {
	b.SetBytes(int64(len(chatRequest)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(OpenAIChat, chatRequest); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWithStreamUsage(b *testing.B) {
	b.SetBytes(int64(len(chatRequest)))
	b.ReportAllocs()
	for b.Loop() {
		if _, changed, err := WithStreamUsage(OpenAIChat, chatRequest); err != nil || !changed {
			b.Fatal(err)
		}
	}
}

// largeRequest is a chat request with a 268 KB prompt (long-context calls send such bodies, and more): the
// body is read, checked and parsed before it is forwarded, so this is latency every such call pays.
func largeRequest() []byte {
	prompt := strings.Repeat("The quick brown fox jumps over the lazy dog, \"quoted\" and café. ", 4000)
	body, err := json.Marshal(map[string]any{"model": "gpt-4o-mini", "stream": true, "messages": []map[string]string{
		{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": prompt}}})
	if err != nil {
		panic(err)
	}
	return body
}

// BenchmarkValidLarge checks a large request body as the gateway does (Valid), and with encoding/json.
func BenchmarkValidLarge(b *testing.B) {
	body := largeRequest()
	for _, v := range []struct {
		name  string
		valid func([]byte) bool
	}{{"usage.Valid", Valid}, {"encoding-json.Valid", json.Valid}} {
		b.Run(v.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if !v.valid(body) {
					b.Fatal("not valid")
				}
			}
		})
	}
}

func BenchmarkParseRequestLarge(b *testing.B) {
	body := largeRequest()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if r, err := ParseRequest(OpenAIChat, body); err != nil || r.InputChars < 250_000 {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkWithStreamUsageLarge adds include_usage to the large streaming request: a scan and a copy.
func BenchmarkWithStreamUsageLarge(b *testing.B) {
	body := largeRequest()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, changed, err := WithStreamUsage(OpenAIChat, body); err != nil || !changed {
			b.Fatal(err)
		}
	}
}
