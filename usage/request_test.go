package usage

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestFormatFor(t *testing.T) {
	for _, tt := range []struct {
		path, provider string
		want           Format
	}{
		{"/v1/chat/completions", "auto", OpenAIChat},
		{"/v1/completions", "auto", OpenAICompletion},
		{"/v1/embeddings", "auto", OpenAIEmbedding},
		{"/v1/responses", "auto", OpenAIResponses},
		{"/v1/messages", "auto", AnthropicMessages},
		{"/v1/messages", "", AnthropicMessages},
		{"/openai/v1/chat/completions", "openai", OpenAIChat},
		{"/tenant/x/v1/responses/", "openai", OpenAIResponses},
		{"/v1/chat/completions?api-version=2024", "openai", OpenAIChat},
		{"/v1/messages", "openai", Unknown},
		{"/anthropic/v1/messages", "anthropic", AnthropicMessages},
		{"/v1/chat/completions", "anthropic", OpenAIChat},
		{"/v1/embeddings", "anthropic", Unknown},
		{"/v1/models", "auto", Unknown},
		{"/v1/messages/count_tokens", "anthropic", Unknown},
		{"/v1/chat/completions/extra", "auto", Unknown},
		{"", "auto", Unknown},
	} {
		if got := FormatFor(tt.path, tt.provider); got != tt.want {
			t.Errorf("FormatFor(%q, %q) = %v, want %v", tt.path, tt.provider, got, tt.want)
		}
	}
}

func TestParseRequest(t *testing.T) {
	for _, tt := range []struct {
		name   string
		format Format
		body   string
		want   Request
	}{
		{"chat", OpenAIChat,
			`{"model":"gpt-4o","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Héllo 😀"}],"max_tokens":100}`,
			Request{Model: "gpt-4o", MaxOutputTokens: 100, InputChars: 9 + 7}},
		{"chat stream with include_usage", OpenAIChat,
			`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[]}`,
			Request{Model: "gpt-4o", Stream: true, IncludeUsage: true}},
		{"chat stream with include_usage false", OpenAIChat,
			`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":false},"messages":[]}`,
			Request{Model: "gpt-4o", Stream: true}},
		{"max_completion_tokens wins", OpenAIChat,
			`{"model":"o3","max_tokens":10,"max_completion_tokens":2000,"messages":[]}`,
			Request{Model: "o3", MaxOutputTokens: 2000}},
		{"max_completion_tokens null", OpenAIChat,
			`{"model":"o3","max_tokens":10,"max_completion_tokens":null,"messages":[]}`,
			Request{Model: "o3", MaxOutputTokens: 10}},
		{"parts, images and tool calls", OpenAIChat,
			`{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},` +
				`{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"high"}}]},` +
				`{"role":"assistant","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},` +
				`{"role":"tool","tool_call_id":"call_1","content":"ok"}]}`,
			Request{Model: "gpt-4o", InputChars: 13 + 1 + 7 + 2}},
		{"escapes", OpenAIChat, `{"model":"m\u00e9","messages":[{"role":"user","content":"a\nb\u00e9\ud83d\ude00\""}]}`,
			Request{Model: "mé", InputChars: 6}},
		{"completion prompt array", OpenAICompletion, `{"model":"gpt-3.5-turbo-instruct","prompt":["abcd","efgh"],"max_tokens":7}`,
			Request{Model: "gpt-3.5-turbo-instruct", MaxOutputTokens: 7, InputChars: 8}},
		{"completion prompt token ids", OpenAICompletion, `{"model":"m","prompt":[1212, 318, 257],"max_tokens":7}`,
			Request{Model: "m", MaxOutputTokens: 7, InputChars: 12}},
		{"embeddings", OpenAIEmbedding, `{"model":"text-embedding-3-small","input":["one two","three"],"max_tokens":5}`,
			Request{Model: "text-embedding-3-small", InputChars: 12}},
		{"embeddings token arrays", OpenAIEmbedding, `{"model":"e","input":[[1,2],[3]]}`,
			Request{Model: "e", InputChars: 12}},
		{"responses", OpenAIResponses,
			`{"model":"o4-mini","instructions":"Be brief.","input":[{"role":"user","content":[{"type":"input_text","text":"Hi"},{"type":"input_image","image_url":"https://x/y.png"}]},` +
				`{"type":"function_call_output","call_id":"c1","output":"22C"}],"max_output_tokens":500,"max_tokens":3,"stream":true}`,
			Request{Model: "o4-mini", Stream: true, MaxOutputTokens: 500, InputChars: 9 + 2 + 3}},
		{"anthropic", AnthropicMessages,
			`{"model":"claude-sonnet-4-5","max_tokens":1024,"system":[{"type":"text","text":"You are terse.","cache_control":{"type":"ephemeral"}}],` +
				`"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},{"type":"text","text":"Describe"}]},` +
				`{"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"sig"},{"type":"tool_use","id":"t1","name":"look","input":{"q":"x"}}]},` +
				`{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"found"}]}],"stream":true}`,
			Request{Model: "claude-sonnet-4-5", Stream: true, MaxOutputTokens: 1024, InputChars: 14 + 8 + 3 + 4 + 1 + 5}},
		{"whitespace everywhere", OpenAIChat, " \n{ \"model\" : \"m\" ,\n\t\"stream\" : true , \"stream_options\" : { \"include_usage\" : true } ,\"messages\":[ {\"content\" : \"abc\" } ] }\n",
			Request{Model: "m", Stream: true, IncludeUsage: true, InputChars: 3}},
		{"duplicate members: the last wins", OpenAIChat, `{"model":"a","model":"b","stream":true,"stream":false,"messages":"xx","messages":"yyy"}`,
			Request{Model: "b", InputChars: 3}},
		{"wrong types are ignored", OpenAIChat, `{"model":5,"stream":"yes","max_tokens":"ten","stream_options":true,"messages":{"content":"abc"}}`,
			Request{InputChars: 3}},
		{"escaped member names", OpenAIChat, `{"mod\u0065l":"m","stre\u0061m":true}`, Request{Model: "m", Stream: true}},
		{"unknown format takes any limit", Unknown, `{"model":"m","max_output_tokens":9,"input":"abc"}`,
			Request{Model: "m", MaxOutputTokens: 9, InputChars: 3}},
		{"empty object", OpenAIChat, `{}`, Request{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest(tt.format, []byte(tt.body))
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseRequestNotAnObject(t *testing.T) {
	for _, body := range []string{``, `   `, `[]`, `"x"`, `42`, `null`, `{`, `{"a"}`, `{"a":1,}`, `{"a":1 "b":2}`, `{"a":"unterminated}`, `{"a":[1,2}`} {
		if _, err := ParseRequest(OpenAIChat, []byte(body)); err == nil {
			t.Errorf("ParseRequest(%q): no error", body)
		}
	}
}

func TestWithStreamUsage(t *testing.T) {
	for _, tt := range []struct {
		name   string
		format Format
		body   string
		want   string // "" when unchanged
	}{
		{"added after the last member", OpenAIChat,
			`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true}`,
			`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`},
		{"pretty-printed: indentation and the closing line kept", OpenAIChat,
			"{\n  \"model\": \"gpt-4o\",\n  \"temperature\": 1.0,\n  \"stream\": true\n}\n",
			"{\n  \"model\": \"gpt-4o\",\n  \"temperature\": 1.0,\n  \"stream\": true,\"stream_options\":{\"include_usage\":true}\n}\n"},
		{"stream not last", OpenAIChat,
			`{"stream": true, "model": "m", "n": 1e2}`,
			`{"stream": true, "model": "m", "n": 1e2,"stream_options":{"include_usage":true}}`},
		{"completions", OpenAICompletion,
			`{"model":"gpt-3.5-turbo-instruct","prompt":"x","stream":true}`,
			`{"model":"gpt-3.5-turbo-instruct","prompt":"x","stream":true,"stream_options":{"include_usage":true}}`},
		{"include_usage false", OpenAIChat,
			`{"stream":true,"stream_options":{"include_usage":false,"include_obfuscation":false},"model":"m"}`,
			`{"stream":true,"stream_options":{"include_usage":true,"include_obfuscation":false},"model":"m"}`},
		{"include_usage null", OpenAIChat,
			`{"stream":true,"stream_options":{ "include_usage" : null }}`,
			`{"stream":true,"stream_options":{ "include_usage" : true }}`},
		{"stream_options without include_usage", OpenAIChat,
			`{"stream":true,"stream_options":{"include_obfuscation":false}}`,
			`{"stream":true,"stream_options":{"include_obfuscation":false,"include_usage":true}}`},
		{"stream_options empty", OpenAIChat,
			`{"stream":true,"stream_options":{ }}`,
			`{"stream":true,"stream_options":{"include_usage":true }}`},
		{"stream_options null", OpenAIChat,
			`{"stream":true,"stream_options":null,"model":"m"}`,
			`{"stream":true,"stream_options":{"include_usage":true},"model":"m"}`},
		{"duplicate stream_options: the last is edited", OpenAIChat,
			`{"stream":true,"stream_options":{"include_usage":true},"stream_options":{}}`,
			`{"stream":true,"stream_options":{"include_usage":true},"stream_options":{"include_usage":true}}`},
		{"already set", OpenAIChat, `{"stream":true,"stream_options":{"include_usage":true}}`, ""},
		{"already set, spaced", OpenAIChat, `{ "stream" : true , "stream_options" : { "include_usage" : true } }`, ""},
		{"not streaming", OpenAIChat, `{"model":"m","messages":[]}`, ""},
		{"stream false", OpenAIChat, `{"model":"m","stream":false}`, ""},
		{"stream is not true", OpenAIChat, `{"model":"m","stream":"true"}`, ""},
		{"responses always report usage", OpenAIResponses, `{"model":"m","stream":true}`, ""},
		{"anthropic always reports usage", AnthropicMessages, `{"model":"m","stream":true}`, ""},
		{"embeddings", OpenAIEmbedding, `{"model":"m","stream":true}`, ""},
		{"unknown format", Unknown, `{"model":"m","stream":true}`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, changed, err := WithStreamUsage(tt.format, []byte(tt.body))
			if err != nil {
				t.Fatalf("WithStreamUsage: %v", err)
			}
			if tt.want == "" {
				if changed || string(out) != tt.body {
					t.Errorf("changed = %v, out = %s; want the body unchanged", changed, out)
				}
				return
			}
			if !changed || string(out) != tt.want {
				t.Errorf("changed = %v\n got %s\nwant %s", changed, out, tt.want)
			}
			if !json.Valid(out) {
				t.Errorf("not valid JSON: %s", out)
			}
			if r, err := ParseRequest(tt.format, out); err != nil || !r.IncludeUsage {
				t.Errorf("ParseRequest of the result: %+v, %v; want IncludeUsage", r, err)
			}
			if again, changed, _ := WithStreamUsage(tt.format, out); changed || string(again) != string(out) {
				t.Errorf("applied twice: changed again to %s", again)
			}
		})
	}
}

func TestWithStreamUsageErrors(t *testing.T) {
	for _, body := range []string{``, `[]`, `"x"`, `{"stream":true`, `{"stream":true,"stream_options":{"include_usage":}}`} {
		out, changed, err := WithStreamUsage(OpenAIChat, []byte(body))
		if err == nil || changed || string(out) != body {
			t.Errorf("WithStreamUsage(%q) = %q, %v, %v; want the body unchanged and an error", body, out, changed, err)
		}
	}
	// Not applicable formats are not read at all.
	if _, _, err := WithStreamUsage(AnthropicMessages, []byte(`[`)); err != nil {
		t.Errorf("anthropic: %v", err)
	}
}

// TestWithStreamUsageLarge: the edit of a large body copies it once and leaves it intact.
func TestWithStreamUsageLarge(t *testing.T) {
	body := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 1<<20) + `"}],"stream":true}`
	out, changed, err := WithStreamUsage(OpenAIChat, []byte(body))
	if err != nil || !changed {
		t.Fatalf("changed %v, err %v", changed, err)
	}
	if want := body[:len(body)-1] + `,"stream_options":{"include_usage":true}}`; string(out) != want {
		t.Errorf("the large body was not kept intact")
	}
}

// TestAddStreamUsageInPlace: with room in the buffer the edit is made in it, and says the same as
// WithStreamUsage; without room for a longer body, a new one, and the input untouched.
func TestAddStreamUsageInPlace(t *testing.T) {
	for _, body := range []string{
		`{"model":"m","stream":true,"messages":[]}`,
		`{"model":"m","stream":true,"stream_options":null,"messages":[]}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":false},"x":1}`,
		`{"model":"m","stream":true,"stream_options":{"x":1},"messages":[]}`,
		`{"model":"m","stream":true,"stream_options":{}}`,
	} {
		want, changed, err := WithStreamUsage(OpenAIChat, []byte(body))
		if err != nil || !changed {
			t.Fatalf("WithStreamUsage(%s): %v %v", body, changed, err)
		}
		buf := append(make([]byte, 0, len(body)+64), body...)
		got, changed, err := AddStreamUsage(OpenAIChat, buf)
		if err != nil || !changed || string(got) != string(want) || &got[0] != &buf[0] {
			t.Errorf("AddStreamUsage(%s) = %s (in place: %v), %v; want %s", body, got, &got[0] == &buf[0], err, want)
		}
		tight := []byte(body)
		got, _, _ = AddStreamUsage(OpenAIChat, tight[:len(tight):len(tight)])
		if string(got) != string(want) || len(want) > len(body) && string(tight) != body {
			t.Errorf("without room: %s (input now %s), want %s", got, tight, want)
		}
	}
}
