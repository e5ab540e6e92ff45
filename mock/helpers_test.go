package mock

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// testNow is the clock of every test upstream.
var testNow = time.Date(2026, 11, 5, 12, 0, 0, 0, time.UTC)

// newUpstream provisions u as Caddy would, with the test clock.
func newUpstream(t testing.TB, u Upstream) *Upstream {
	t.Helper()
	u.now = func() time.Time { return testNow }
	if err := u.Provision(caddy.Context{}); err != nil {
		t.Fatalf("provision: %v", err)
	}
	return &u
}

// serve sends one request to u and returns the recorded response. headers alternate names and values.
func serve(t testing.TB, u *Upstream, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	if err := u.ServeHTTP(w, r, nextNotCalled(t)); err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	return w
}

func nextNotCalled(t testing.TB) caddyhttp.Handler {
	return caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		t.Error("the mock called the next handler")
		return nil
	})
}

// sseEvent is one server-sent event: its name (empty if it has none) and its data.
type sseEvent struct {
	name, data string
}

// parseSSE splits an event stream into events, failing on anything that is not "event:" or "data:"
// lines separated by blank lines.
func parseSSE(t testing.TB, body string) []sseEvent {
	t.Helper()
	var events []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.data == "" {
				t.Fatalf("event without data in %q", body)
			}
			events = append(events, cur)
			cur = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		default:
			t.Fatalf("unexpected stream line %q", line)
		}
	}
	if cur != (sseEvent{}) {
		t.Fatalf("stream ends inside an event: %q", body)
	}
	return events
}

// decodeJSON unmarshals s into a generic map, failing the test if it is not a JSON object.
func decodeJSON(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("invalid JSON %q: %v", s, err)
	}
	return m
}

// get walks m along keys (object keys, or array indexes as ints).
func get(t testing.TB, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %q: not an object: %v", k, v)
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("missing key %q in %v", k, m)
			}
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("at [%d]: not an array this long: %v", k, v)
			}
			v = a[k]
		}
	}
	return v
}

// num is get for a JSON number, as an int.
func num(t testing.TB, v any, path ...any) int {
	t.Helper()
	f, ok := get(t, v, path...).(float64)
	if !ok {
		t.Fatalf("%v: not a number", path)
	}
	return int(f)
}

// str is get for a JSON string.
func str(t testing.TB, v any, path ...any) string {
	t.Helper()
	s, ok := get(t, v, path...).(string)
	if !ok {
		t.Fatalf("%v: not a string: %v", path, get(t, v, path...))
	}
	return s
}

// promptTokens is PromptTokens for a body the test knows to be valid.
func promptTokens(t testing.TB, body, path string) int {
	t.Helper()
	n, err := PromptTokens([]byte(body), path)
	if err != nil {
		t.Fatalf("PromptTokens: %v", err)
	}
	return n
}

// serveCut is serve for a request expected to end in an aborted stream: it returns what was written
// before the abort.
func serveCut(t testing.TB, u *Upstream, path, body string, headers ...string) (out string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Fatalf("want panic(http.ErrAbortHandler), got %v", v)
		}
		out = w.Body.String()
	}()
	_ = u.ServeHTTP(w, r, nextNotCalled(t))
	return ""
}
