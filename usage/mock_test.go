package usage

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/helixgateway/caddy-ai-gateway/mock"
)

// The mock upstream answers like the real APIs and predicts its own usage (mock.PromptTokens, and an
// answer of exactly as many words as output tokens), so the meter can be checked against it exactly.

func newMock(t testing.TB) *mock.Upstream {
	t.Helper()
	u := &mock.Upstream{}
	if err := u.Provision(caddy.Context{}); err != nil {
		t.Fatalf("provision the mock: %v", err)
	}
	return u
}

// callMock sends one request to the mock and returns the response body, and whether it is an event
// stream. A stream the mock aborts (X-Mock-Cut-After) returns what was sent before the abort.
func callMock(t testing.TB, u *mock.Upstream, path, body string, headers ...string) (out []byte, stream bool) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	func() {
		defer func() {
			if v := recover(); v != nil && v != http.ErrAbortHandler {
				panic(v)
			}
		}()
		if err := u.ServeHTTP(w, r, nil); err != nil {
			t.Fatalf("mock: %v", err)
		}
	}()
	if w.Code != http.StatusOK {
		t.Fatalf("mock answered %d: %s", w.Code, w.Body)
	}
	return w.Body.Bytes(), strings.HasPrefix(w.Header().Get("Content-Type"), "text/event-stream")
}

// mockAnswer returns the mock's answer of n tokens: n words, which is also every stream's text.
func mockAnswer(t testing.TB, u *mock.Upstream, n int) []string {
	t.Helper()
	body, _ := callMock(t, u, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}]}`,
		mock.HeaderOutputTokens, strconv.Itoa(n))
	var resp struct {
		Choices []struct{ Message struct{ Content string } }
	}
	if err := json.Unmarshal(body, &resp); err != nil || len(resp.Choices) != 1 {
		t.Fatalf("mock answer %s: %v", body, err)
	}
	return strings.Fields(resp.Choices[0].Message.Content)
}

// mockCall is one call to the mock, and what the meter must make of its response.
type mockCall struct {
	name, path, body string
	headers          []string
	out              int  // output tokens the mock reports
	textWords        int  // words of the answer that reach the client (fewer than out when cut)
	reported         bool // the response reports usage
	inputKnown       bool // input tokens are reported even if the output is not (Anthropic's message_start)
	complete         bool
}

const mockModel = "mock-model-1"

var mockCalls = []mockCall{
	{name: "chat_json", path: "/v1/chat/completions", out: 12, textWords: 12, reported: true, complete: true,
		body: `{"model":"` + mockModel + `","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Count these words for me please"}],"max_tokens":12}`},
	{name: "chat_stream", path: "/v1/chat/completions", out: 12, textWords: 12, reported: true, complete: true,
		headers: []string{mock.HeaderChunks, "5"},
		body:    `{"model":"` + mockModel + `","messages":[{"role":"user","content":"Stream twelve words"}],"max_tokens":12,"stream":true,"stream_options":{"include_usage":true}}`},
	{name: "chat_stream_nousage", path: "/v1/chat/completions", out: 16, textWords: 16, complete: true,
		body: `{"model":"` + mockModel + `","messages":[{"role":"user","content":"Stream without usage"}],"stream":true}`},
	{name: "chat_stream_cut", path: "/v1/chat/completions", out: 30, textWords: 15,
		headers: []string{mock.HeaderChunks, "6", mock.HeaderCutAfter, "3"},
		body:    `{"model":"` + mockModel + `","messages":[{"role":"user","content":"Stream and be cut"}],"max_tokens":30,"stream":true,"stream_options":{"include_usage":true}}`},
	{name: "completion_json", path: "/v1/completions", out: 7, textWords: 7, reported: true, complete: true,
		body: `{"model":"` + mockModel + `","prompt":["Once upon","a time"],"max_tokens":7}`},
	{name: "completion_stream", path: "/v1/completions", out: 9, textWords: 9, reported: true, complete: true,
		body: `{"model":"` + mockModel + `","prompt":"Once upon a time","max_tokens":9,"stream":true,"stream_options":{"include_usage":true}}`},
	{name: "embeddings_json", path: "/v1/embeddings", reported: true, complete: true,
		body: `{"model":"` + mockModel + `","input":["the quick brown fox","jumps over","the lazy dog"],"dimensions":64}`},
	{name: "embeddings_base64_json", path: "/v1/embeddings", reported: true, complete: true,
		body: `{"model":"` + mockModel + `","input":"one two three","encoding_format":"base64"}`},
	{name: "responses_json", path: "/v1/responses", out: 20, textWords: 20, reported: true, complete: true,
		body: `{"model":"` + mockModel + `","instructions":"Be brief.","input":[{"role":"user","content":[{"type":"input_text","text":"Tell me a story"}]}],"max_output_tokens":20}`},
	{name: "responses_stream", path: "/v1/responses", out: 20, textWords: 20, reported: true, complete: true,
		headers: []string{mock.HeaderChunks, "7"},
		body:    `{"model":"` + mockModel + `","input":"Tell me a story","max_output_tokens":20,"stream":true}`},
	{name: "messages_json", path: "/v1/messages", out: 10, textWords: 10, reported: true, complete: true,
		body: `{"model":"` + mockModel + `","max_tokens":10,"system":"You are terse.","messages":[{"role":"user","content":"Say ten words"}]}`},
	{name: "messages_stream", path: "/v1/messages", out: 25, textWords: 25, reported: true, complete: true,
		body: `{"model":"` + mockModel + `","max_tokens":25,"system":[{"type":"text","text":"You are terse."}],"messages":[{"role":"user","content":[{"type":"text","text":"Say twenty-five words"}]}],"stream":true}`},
	{name: "messages_stream_cut", path: "/v1/messages", out: 40, textWords: 10, inputKnown: true,
		headers: []string{mock.HeaderChunks, "8", mock.HeaderCutAfter, "2"},
		body:    `{"model":"` + mockModel + `","max_tokens":40,"messages":[{"role":"user","content":"Say forty words, if you can"}],"stream":true}`},
}

// check meters a response to c in every chunking and compares it with what the mock reported.
func (c mockCall) check(t *testing.T, u *mock.Upstream, resp []byte, stream bool) {
	t.Helper()
	f := FormatFor(c.path, "auto")
	in, err := mock.PromptTokens([]byte(c.body), c.path)
	if err != nil {
		t.Fatal(err)
	}
	answer := mockAnswer(t, u, max(c.out, 1))
	chars := int64(len(strings.Join(answer[:c.textWords], " ")))
	want := Usage{Model: mockModel, OutputChars: chars, Complete: c.complete}
	switch {
	case c.reported:
		want.Source, want.InputTokens, want.OutputTokens = Reported, int64(in), int64(c.out)
	case c.inputKnown:
		want.Source, want.InputTokens, want.OutputTokens = Estimated, int64(in), max(1, EstimateTokens(chars))
	default:
		want.Source, want.OutputTokens = Estimated, EstimateTokens(chars)
	}
	if got := meterAll(t, f, stream, resp); got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	req, err := ParseRequest(f, []byte(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if req.Model != mockModel || req.Stream != stream || req.InputChars == 0 {
		t.Errorf("ParseRequest: %+v", req)
	}
}

// TestMock meters the mock's answers, fresh.
func TestMock(t *testing.T) {
	t.Parallel()
	u := newMock(t)
	for _, c := range mockCalls {
		t.Run(c.name, func(t *testing.T) {
			resp, stream := callMock(t, u, c.path, c.body, c.headers...)
			c.check(t, u, resp, stream)
		})
	}
}

// TestMockTranscripts meters the mock's answers as recorded in testdata/mock_*, so that a change in the
// mock shows up as a diff of these files (go test ./usage -run TestMockTranscripts -update rewrites them).
func TestMockTranscripts(t *testing.T) {
	t.Parallel()
	u := newMock(t)
	for _, c := range mockCalls {
		t.Run(c.name, func(t *testing.T) {
			ext := ".json"
			if strings.Contains(c.body, `"stream":true`) {
				ext = ".sse"
			}
			path := filepath.Join("testdata", "mock_"+c.name+ext)
			if *update {
				resp, _ := callMock(t, u, c.path, c.body, c.headers...)
				if err := os.WriteFile(path, resp, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			resp, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -run TestMockTranscripts -update writes it)", err)
			}
			c.check(t, u, resp, ext == ".sse")
		})
	}
}

// TestMockStreamUsage is the gateway's round trip: a chat stream request without include_usage, given
// it by WithStreamUsage, comes back with the usage the mock reports.
func TestMockStreamUsage(t *testing.T) {
	u := newMock(t)
	body := []byte(`{"model":"` + mockModel + `","messages":[{"role":"user","content":"four words of input"}],"max_completion_tokens":9,"stream":true}`)
	req, err := ParseRequest(OpenAIChat, body)
	if err != nil || req.IncludeUsage || !req.Stream || req.MaxOutputTokens != 9 {
		t.Fatalf("ParseRequest: %+v, %v", req, err)
	}
	edited, changed, err := WithStreamUsage(OpenAIChat, body)
	if err != nil || !changed {
		t.Fatalf("WithStreamUsage: %v, %v", changed, err)
	}
	resp, stream := callMock(t, u, "/v1/chat/completions", string(edited))
	got := meterAll(t, OpenAIChat, stream, resp)
	if got.Source != Reported || got.InputTokens != 4 || got.OutputTokens != 9 || !got.Complete {
		t.Errorf("got %+v, want 4 input and 9 output tokens, reported", got)
	}
}
