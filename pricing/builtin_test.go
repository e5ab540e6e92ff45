package pricing

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestBuiltinFile(t *testing.T) {
	var f priceFile
	if err := json.Unmarshal(pricesJSON, &f); err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse(time.DateOnly, f.AsOf); err != nil {
		t.Fatalf("as_of %q: %v", f.AsOf, err)
	}
	if !strings.Contains(f.Note, "`price` lines") {
		t.Errorf("the file's note should tell operators to override with price lines: %q", f.Note)
	}
	tbl := Builtin()
	if tbl.AsOf() != f.AsOf {
		t.Fatalf("AsOf = %q, want %q", tbl.AsOf(), f.AsOf)
	}
	for _, m := range f.Models {
		if m.Input == nil || m.Output == nil || *m.Input <= 0 || *m.Output <= 0 {
			t.Errorf("%s: input and output must be positive: %v %v", m.Model, m.Input, m.Output)
		}
		if strings.HasPrefix(m.Model, "claude-") && m.Model != "claude-3-haiku" {
			in := *m.Input
			if m.CacheWrite == nil || *m.CacheWrite*4 != in*5 || m.CachedInput == nil || *m.CachedInput*10 != in {
				t.Errorf("%s: Anthropic cache writes are 1.25x input and reads 0.1x: %v %v", m.Model, m.CacheWrite, m.CachedInput)
			}
		}
	}
	p, ok := tbl.Lookup("gpt-4o-mini")
	want := Price{Input: 150_000, Output: 600_000, CachedInput: 75_000, CacheWrite: 150_000, Source: "builtin:" + f.AsOf}
	if !ok || p != want {
		t.Fatalf("gpt-4o-mini = %+v, %v; want %+v", p, ok, want)
	}
}

func TestBuiltinCoversCommonModels(t *testing.T) {
	tests := []struct{ model, input string }{
		{"gpt-4o", "2.5"}, {"gpt-4o-mini", "0.15"}, {"gpt-4.1", "2"}, {"gpt-4.1-mini", "0.4"},
		{"gpt-4.1-nano", "0.1"}, {"o1", "15"}, {"o1-mini", "1.1"}, {"o3", "2"}, {"o3-mini", "1.1"},
		{"o4-mini", "1.1"}, {"gpt-3.5-turbo", "0.5"}, {"text-embedding-3-small", "0.02"},
		{"text-embedding-3-large", "0.13"}, {"text-embedding-ada-002", "0.1"}, {"gpt-5", "1.25"},
		{"gpt-5-mini", "0.25"}, {"gpt-5-nano", "0.05"},
		{"claude-3-5-haiku", "0.8"}, {"claude-3-5-sonnet", "3"}, {"claude-3-7-sonnet", "3"},
		{"claude-sonnet-4", "3"}, {"claude-opus-4", "15"}, {"claude-3-opus", "15"}, {"claude-3-haiku", "0.25"},
		{"gemini-1.5-flash", "0.075"}, {"gemini-1.5-pro", "1.25"}, {"gemini-2.0-flash", "0.1"},
		{"gemini-2.5-flash", "0.3"}, {"gemini-2.5-pro", "1.25"},
		// names as clients send them
		{"gpt-4o-mini-2024-07-18", "0.15"}, {"gpt-4o-2024-05-13", "5"}, {"gpt-4o-2024-11-20", "2.5"},
		{"gpt-3.5-turbo-0125", "0.5"}, {"gpt-5-chat-latest", "1.25"}, {"o3-mini-2025-01-31", "1.1"},
		{"claude-3-5-sonnet-20241022", "3"}, {"claude-3-7-sonnet-latest", "3"}, {"claude-sonnet-4-20250514", "3"},
		{"claude-sonnet-4-0", "3"}, {"claude-opus-4-1-20250805", "15"}, {"claude-3-haiku-20240307", "0.25"},
		{"gemini-1.5-flash-002", "0.075"}, {"gemini-1.5-flash-8b-001", "0.0375"}, {"gemini-2.0-flash-001", "0.1"},
		{"models/gemini-2.5-pro", "1.25"}, {"gemini-1.5-pro-latest", "1.25"}, {"openai/GPT-4o-mini", "0.15"},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			p, ok := Builtin().Lookup(tt.model)
			if !ok || p.Input != rate(t, tt.input) {
				t.Fatalf("Lookup(%q) = %+v, %v; want input %s", tt.model, p, ok, tt.input)
			}
		})
	}
}

func TestParseBuiltinRejects(t *testing.T) {
	const head = `{"as_of": "2025-01-02", "currency": "USD", "unit": "", "note": "", "models": [`
	tests := []struct{ name, file, want string }{
		{"a float price", head + `{"model": "m", "input": 0.15, "output": "1"}]}`, "cannot unmarshal number"},
		{"a bad decimal", head + `{"model": "m", "input": "1e-3", "output": "1"}]}`, "invalid price"},
		{"missing output", head + `{"model": "m", "input": "1"}]}`, "input and output must be given and positive"},
		{"zero input", head + `{"model": "m", "input": "0", "output": "1"}]}`, "input and output must be given and positive"},
		{"a typo in a field", head + `{"model": "m", "input": "1", "output": "1", "cache_read": "1"}]}`, "unknown field"},
		{"the same name twice", head + `{"model": "m", "input": "1", "output": "1"}, {"model": "M", "input": "1", "output": "1"}]}`, "listed twice"},
		{"an alias naming a model", head + `{"model": "m", "input": "1", "output": "1"}, {"model": "n", "aliases": ["m"], "input": "1", "output": "1"}]}`, "listed twice"},
		{"empty name", head + `{"model": "", "input": "1", "output": "1"}]}`, "bad name"},
		{"no models", head + `]}`, "no models"},
		{"bad as_of", `{"as_of": "June 2025", "currency": "USD", "models": []}`, "as_of"},
		{"another currency", `{"as_of": "2025-01-02", "currency": "EUR", "models": []}`, "want USD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseBuiltin([]byte(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("parseBuiltin: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
