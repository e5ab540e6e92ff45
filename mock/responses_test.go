package mock

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestResponsesJSON(t *testing.T) {
	u := newUpstream(t, Upstream{})
	for _, tt := range []struct {
		name, body string
		wantOut    int
	}{
		{"string input", `{"model":"gpt-4.1","input":"write a haiku"}`, 16},
		{"items and limit", `{"model":"gpt-4.1","instructions":"be short","input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]}],"max_output_tokens":9}`, 9},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(t, u, http.MethodPost, "/v1/responses", tt.body)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			m := decodeJSON(t, w.Body.String())
			if !strings.HasPrefix(str(t, m, "id"), "resp_mock") || str(t, m, "object") != "response" ||
				str(t, m, "status") != "completed" || str(t, m, "model") != "gpt-4.1" {
				t.Errorf("body: %s", w.Body)
			}
			if str(t, m, "output", 0, "type") != "message" || str(t, m, "output", 0, "role") != "assistant" ||
				str(t, m, "output", 0, "content", 0, "type") != "output_text" {
				t.Errorf("output: %v", get(t, m, "output"))
			}
			if got := CountTokens(str(t, m, "output", 0, "content", 0, "text")); got != tt.wantOut {
				t.Errorf("output has %d tokens, want %d", got, tt.wantOut)
			}
			in := promptTokens(t, tt.body, "/v1/responses")
			if num(t, m, "usage", "input_tokens") != in || num(t, m, "usage", "output_tokens") != tt.wantOut ||
				num(t, m, "usage", "total_tokens") != in+tt.wantOut ||
				num(t, m, "usage", "input_tokens_details", "cached_tokens") != 0 ||
				num(t, m, "usage", "output_tokens_details", "reasoning_tokens") != 0 {
				t.Errorf("usage = %v, want %d in, %d out", get(t, m, "usage"), in, tt.wantOut)
			}
		})
	}
}

func TestResponsesStream(t *testing.T) {
	u := newUpstream(t, Upstream{Chunks: 3})
	body := `{"model":"gpt-4.1","input":"stream me something","max_output_tokens":7,"stream":true}`
	w := serve(t, u, http.MethodPost, "/v1/responses", body)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	events := parseSSE(t, w.Body.String())
	var names []string
	for _, e := range events {
		names = append(names, e.name)
	}
	want := []string{
		"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
		"response.output_text.delta", "response.output_text.delta", "response.output_text.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed",
	}
	if !slices.Equal(names, want) {
		t.Fatalf("events\n%v\nwant\n%v", names, want)
	}
	var deltas strings.Builder
	for i, e := range events {
		m := decodeJSON(t, e.data)
		if str(t, m, "type") != e.name {
			t.Errorf("event %s has type %v", e.name, m["type"])
		}
		if num(t, m, "sequence_number") != i {
			t.Errorf("event %d has sequence_number %v", i, m["sequence_number"])
		}
		if e.name == "response.output_text.delta" {
			deltas.WriteString(str(t, m, "delta"))
		}
	}
	if deltas.String() != u.answers.words(7) {
		t.Errorf("deltas make %q", deltas.String())
	}
	if got := str(t, decodeJSON(t, events[7].data), "text"); got != deltas.String() {
		t.Errorf("output_text.done text = %q", got)
	}
	created := decodeJSON(t, events[0].data)
	if get(t, created, "response", "usage") != nil || str(t, created, "response", "status") != "in_progress" {
		t.Errorf("response.created: %s", events[0].data)
	}
	done := decodeJSON(t, events[len(events)-1].data)
	in := promptTokens(t, body, "/v1/responses")
	if str(t, done, "response", "status") != "completed" ||
		num(t, done, "response", "usage", "input_tokens") != in ||
		num(t, done, "response", "usage", "output_tokens") != 7 ||
		num(t, done, "response", "usage", "total_tokens") != in+7 {
		t.Errorf("response.completed: %s", events[len(events)-1].data)
	}
	if str(t, done, "response", "id") != str(t, created, "response", "id") {
		t.Error("created and completed name different responses")
	}
}
