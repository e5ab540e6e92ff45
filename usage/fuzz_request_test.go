package usage

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// requestFormats is the number of formats; a fuzzed byte picks one.
const requestFormats = uint8(AnthropicMessages) + 1

// isJSONObject is what the gateway checks before it parses a body: valid JSON whose value is an object.
func isJSONObject(b []byte) bool {
	return json.Valid(b) && len(bytes.TrimLeft(b, " \t\r\n")) > 0 && bytes.TrimLeft(b, " \t\r\n")[0] == '{'
}

// FuzzParseRequest checks ParseRequest against encoding/json on the bodies the gateway hands it (valid JSON):
// an object parses, anything else is an error, and the members it reads mean what encoding/json says they mean.
// On any other input it must only not panic.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []struct {
		f    Format
		body string
	}{
		{OpenAIChat, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello there"}]}`},
		{OpenAIChat, `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":50,"max_tokens":9,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}`},
		{OpenAICompletion, `{"model":"gpt-3.5-turbo-instruct","prompt":[[1,2,3],"four five"],"max_tokens":7}`},
		{OpenAIEmbedding, `{"model":"text-embedding-3-small","input":["alpha beta","gamma"]}`},
		{OpenAIResponses, `{"model":"o4-mini","instructions":"x","input":[{"role":"user","content":[{"type":"input_text","text":"tell me"}]}],"max_output_tokens":9}`},
		{AnthropicMessages, `{"model":"claude-3-5-haiku-latest","max_tokens":12,"system":[{"type":"text","text":"sys","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hello claude"}]}`},
		{Unknown, `{"m\u006fdel":"esc\u00e9ped","stream":true,"stream":false,"max_tokens":1e2,"max_output_tokens":-3}`},
		{OpenAIChat, "{\"model\":\"bad-\xff\xfe-utf8\",\"messages\":[{\"content\":\"\xc3\"}]}"},
		{OpenAIChat, `[{"model":"x"}]`},
		{OpenAIChat, `{"model":`},
		{OpenAIChat, `"scalar"`},
		{OpenAIChat, ` { } `},
	} {
		f.Add(uint8(s.f), []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, format uint8, body []byte) {
		fm := Format(format % requestFormats)
		r, err := ParseRequest(fm, body)
		if r.InputChars < 0 || r.MaxOutputTokens < 0 || r.InputChars > 4*int64(len(body)) {
			t.Fatalf("impossible counts %+v for %q", r, body)
		}
		if !json.Valid(body) {
			return // the gateway answers 400 before parsing; ParseRequest only must not panic
		}
		if obj := isJSONObject(body); (err == nil) != obj {
			t.Fatalf("ParseRequest error %v for %q (a JSON object: %v)", err, body, obj)
		}
		if err != nil || !utf8.Valid(body) {
			return // encoding/json replaces invalid UTF-8; ParseRequest may keep the bytes as sent
		}
		if want, ok := refInputChars(body); ok && r.InputChars != want {
			t.Errorf("InputChars = %d, the two-pass reference counts %d", r.InputChars, want)
		}
		var m map[string]json.RawMessage // exact member names; the last of a duplicated member wins
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		var model string
		json.Unmarshal(m["model"], &model) // not a string: "" as absent
		if r.Model != model {
			t.Errorf("Model = %q, encoding/json says %q", r.Model, model)
		}
		if stream := string(m["stream"]) == "true"; r.Stream != stream {
			t.Errorf("Stream = %v, encoding/json says %v", r.Stream, stream)
		}
		var opts map[string]json.RawMessage
		json.Unmarshal(m["stream_options"], &opts)
		if inc := string(opts["include_usage"]) == "true"; r.IncludeUsage != inc {
			t.Errorf("IncludeUsage = %v, encoding/json says %v (stream_options %s)", r.IncludeUsage, inc, m["stream_options"])
		}
	})
}

// FuzzWithStreamUsage checks the in-place edit on every valid JSON object: the output is valid JSON, it now asks
// for usage when it changed, every other member is byte for byte what the client sent, and a second pass has
// nothing to do.
func FuzzWithStreamUsage(f *testing.F) {
	for _, s := range []string{
		`{"model":"gpt-4o-mini","stream":true,"messages":[]}`,
		`{"model":"m","stream":true,"stream_options":{}}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":false}}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":null,"x":1}}`,
		`{"model":"m","stream":true,"stream_options":{"x":[1,{"y":2}]}}`,
		`{"model":"m","stream":true,"stream_options":null}`,
		`{"model":"m","stream":true,"stream_options":"yes"}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"m","stream":false}`,
		`{ "stream" : true , "stream_options" : { "include_usage" : false } }`,
		`{"stream":true,"stream_options":{"include_usage":true},"stream_options":{}}`,
		`{"stream":true,"stream_options":{"include_usage":true,"include_usage":false}}`,
		`{"str\u0065am":true,"stream_\u006fptions":{"include_\u0075sage":0}}`,
		"{\"stream\":true,\"model\":\"\xff\"}",
		`{"stream":true}`,
		`{}`,
	} {
		f.Add(uint8(OpenAIChat), []byte(s))
	}
	f.Add(uint8(OpenAICompletion), []byte(`{"model":"gpt-3.5-turbo-instruct","prompt":"x","stream":true}`))
	f.Add(uint8(AnthropicMessages), []byte(`{"model":"claude","stream":true}`))
	f.Fuzz(func(t *testing.T, format uint8, body []byte) {
		fm := Format(format % requestFormats)
		in := bytes.Clone(body)
		out, changed, err := WithStreamUsage(fm, body)
		if !bytes.Equal(body, in) {
			t.Fatalf("the input was modified: %q -> %q", in, body)
		}
		if !changed && !bytes.Equal(out, body) {
			t.Fatalf("unchanged, but out %q != body %q", out, body)
		}
		roomy := append(make([]byte, 0, len(body)+64), body...)
		if inPlace, changedInPlace, errInPlace := AddStreamUsage(fm, roomy); !bytes.Equal(inPlace, out) || changedInPlace != changed || (errInPlace == nil) != (err == nil) {
			t.Fatalf("in place: %q, %v, %v; WithStreamUsage: %q, %v, %v", inPlace, changedInPlace, errInPlace, out, changed, err)
		}
		if !isJSONObject(body) {
			return // the gateway never asks; only no panic
		}
		if err != nil {
			t.Fatalf("error on a JSON object %q: %v", body, err)
		}
		if !json.Valid(out) {
			t.Fatalf("output is not valid JSON:\nin:  %s\nout: %s", body, out)
		}
		before, _ := ParseRequest(fm, body)
		after, err := ParseRequest(fm, out)
		if err != nil {
			t.Fatalf("ParseRequest of the output: %v\n%s", err, out)
		}
		applies := (fm == OpenAIChat || fm == OpenAICompletion) && before.Stream
		switch {
		case changed && !applies:
			t.Fatalf("changed a body it does not apply to (format %v, stream %v): %s -> %s", fm, before.Stream, body, out)
		case changed && !(after.IncludeUsage && after.Stream):
			t.Fatalf("changed, but IncludeUsage %v Stream %v:\nin:  %s\nout: %s", after.IncludeUsage, after.Stream, body, out)
		case !changed && applies && !before.IncludeUsage:
			t.Fatalf("a stream without include_usage left unchanged: %s", body)
		}
		if after.Model != before.Model || after.MaxOutputTokens != before.MaxOutputTokens {
			t.Fatalf("the edit changed what the request asks for: %+v -> %+v", before, after)
		}
		if again, changedAgain, err := WithStreamUsage(fm, out); err != nil || changedAgain || !bytes.Equal(again, out) {
			t.Fatalf("second pass: changed %v err %v\n%s\n%s", changedAgain, err, out, again)
		}
		// Every member other than stream_options is untouched. (encoding/json's map keeps the last of a
		// duplicated name, and so does the edit.)
		var mb, mo map[string]json.RawMessage
		if json.Unmarshal(body, &mb) != nil || json.Unmarshal(out, &mo) != nil {
			return // invalid UTF-8 in a name can make the decoded names collide differently; nothing to compare
		}
		for k, v := range mb {
			if k != "stream_options" && !bytes.Equal(mo[k], v) {
				t.Fatalf("member %q changed: %s -> %s", k, v, mo[k])
			}
		}
		for k := range mo {
			if _, ok := mb[k]; !ok && k != "stream_options" {
				t.Fatalf("member %q appeared: %s", k, out)
			}
		}
	})
}
