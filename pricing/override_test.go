package pricing

import (
	"strings"
	"testing"
)

func TestOverrideMerging(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		model string
		want  Price // Source is always "config"
	}{
		{
			"output only keeps the built-in input and cached input", []string{"gpt-4o output 12"}, "gpt-4o",
			Price{Input: 2_500_000, Output: 12_000_000, CachedInput: 1_250_000, CacheWrite: 2_500_000},
		},
		{
			// cached_input was written down in the built-in entry, so it stays; cache_write was
			// a default (input), so it follows the new input.
			"input only: written-down cached input kept, defaulted cache write follows", []string{"gpt-4o input 3"}, "gpt-4o",
			Price{Input: 3_000_000, Output: 10_000_000, CachedInput: 1_250_000, CacheWrite: 3_000_000},
		},
		{
			"a built-in with no cached price: cached input follows the new input", []string{"gpt-4o-2024-05-13 input 4"}, "gpt-4o-2024-05-13",
			Price{Input: 4_000_000, Output: 15_000_000, CachedInput: 4_000_000, CacheWrite: 4_000_000},
		},
		{
			"cache fields only", []string{"claude-3-5-sonnet cached_input 0.25 cache_write 4"}, "claude-3-5-sonnet",
			Price{Input: 3_000_000, Output: 15_000_000, CachedInput: 250_000, CacheWrite: 4_000_000},
		},
		{
			"a dated name extends its family's built-in price", []string{"gpt-4o-2024-08-06 output 20"}, "gpt-4o-2024-08-06",
			Price{Input: 2_500_000, Output: 20_000_000, CachedInput: 1_250_000, CacheWrite: 2_500_000},
		},
		{
			"a provider-prefixed name extends the bare built-in price", []string{"openai/gpt-4o output 20"}, "openai/gpt-4o",
			Price{Input: 2_500_000, Output: 20_000_000, CachedInput: 1_250_000, CacheWrite: 2_500_000},
		},
		{
			"a glob written like a built-in glob extends it", []string{"gem-1.5-flash-0?? output 1"}, "gem-1.5-flash-001",
			Price{Input: 75_000, Output: 1_000_000, CachedInput: 75_000, CacheWrite: 75_000},
		},
		{
			"new model: cached input and cache write default to input", []string{"byo-model input 1 output 2"}, "byo-model",
			Price{Input: 1_000_000, Output: 2_000_000, CachedInput: 1_000_000, CacheWrite: 1_000_000},
		},
		{
			"new model with every field", []string{"byo-model cache_write 1.25 output 2 cached_input 0.1 input 1"}, "byo-model",
			Price{Input: 1_000_000, Output: 2_000_000, CachedInput: 100_000, CacheWrite: 1_250_000},
		},
		{
			"zero prices are allowed in config", []string{"local-llm input 0 output 0"}, "local-llm",
			Price{},
		},
	}
	base := fixtureTable(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := withLines(t, base, tt.lines...).Lookup(tt.model)
			tt.want.Source = "config"
			if !ok || p != tt.want {
				t.Fatalf("Lookup(%q) = %+v, %v; want %+v", tt.model, p, ok, tt.want)
			}
		})
	}
}

func TestWithLayersAndLeavesTablesUnchanged(t *testing.T) {
	base := fixtureTable(t)
	t1 := withLines(t, base, "byo input 1 output 2 cached_input 0.5", "z* input 1 output 1")
	t2 := withLines(t, t1, "byo output 3", "z* input 2 output 2")

	want := Price{Input: 1_000_000, Output: 3_000_000, CachedInput: 500_000, CacheWrite: 1_000_000, Source: "config"}
	if p, _ := t2.Lookup("byo"); p != want {
		t.Fatalf("layered override = %+v, want %+v", p, want)
	}
	if p, _ := t2.Lookup("zed"); p.Input != 2_000_000 {
		t.Fatalf("re-declared glob = %+v, want input 2", p)
	}
	if p, _ := t1.Lookup("byo"); p.Output != 2_000_000 {
		t.Fatalf("With changed its receiver: %+v", p)
	}
	if p, _ := t1.Lookup("zed"); p.Input != 1_000_000 {
		t.Fatalf("With changed its receiver's globs: %+v", p)
	}
	if _, ok := base.Lookup("byo"); ok {
		t.Fatal("With changed the built-in table")
	}
	if t2.AsOf() != "2025-01-02" {
		t.Fatalf("AsOf = %q", t2.AsOf())
	}
}

func TestWithErrors(t *testing.T) {
	one, neg := Rate(1_000_000), Rate(-1)
	tests := []struct {
		name      string
		overrides []Override
		want      string
	}{
		{"new model without output", []Override{{Pattern: "byo", Input: &one}}, "price byo: input and output are required"},
		{"new model without input", []Override{{Pattern: "byo", Output: &one}}, "price byo: input and output are required"},
		{"glob not written like a built-in glob", []Override{{Pattern: "gpt-4o*", Output: &one}}, "price gpt-4o*: input and output are required"},
		{"same pattern twice, any case", []Override{{Pattern: "byo", Input: &one, Output: &one}, {Pattern: "BYO", Input: &one, Output: &one}}, "price BYO: given twice"},
		{"empty pattern", []Override{{Pattern: "  ", Input: &one, Output: &one}}, "empty model name"},
		{"negative rate", []Override{{Pattern: "gpt-4o", CacheWrite: &neg}}, "price gpt-4o: cache_write: negative price -0.000001"},
	}
	base := fixtureTable(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := base.With(tt.overrides)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("With: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseOverride(t *testing.T) {
	r := func(s string) *Rate { v := rate(t, s); return &v }
	ok := []struct {
		args string
		want Override
	}{
		{"gpt-4o-mini input 0.15 output 0.60 cached_input 0.075", Override{Pattern: "gpt-4o-mini", Input: r("0.15"), Output: r("0.6"), CachedInput: r("0.075")}},
		{"claude-* output 15.00 cache_write 3.75 input 3", Override{Pattern: "claude-*", Input: r("3"), Output: r("15"), CacheWrite: r("3.75")}},
		{"gpt-4o output 12", Override{Pattern: "gpt-4o", Output: r("12")}},
	}
	eq := func(a, b *Rate) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
	for _, tt := range ok {
		t.Run(tt.args, func(t *testing.T) {
			got, err := ParseOverride(strings.Fields(tt.args))
			if err != nil {
				t.Fatal(err)
			}
			w := tt.want
			if got.Pattern != w.Pattern || !eq(got.Input, w.Input) || !eq(got.Output, w.Output) ||
				!eq(got.CachedInput, w.CachedInput) || !eq(got.CacheWrite, w.CacheWrite) {
				t.Fatalf("ParseOverride(%q) = %+v, want %+v", tt.args, got, w)
			}
		})
	}
	bad := []struct{ args, want string }{
		{"", "missing model name"},
		{"gpt-4o", "price gpt-4o: no rates given"},
		{"gpt-4o inptu 1", `price gpt-4o: unknown keyword "inptu"`},
		{"gpt-4o input 1 Output 2", `unknown keyword "Output"`},
		{"gpt-4o input", "price gpt-4o: input needs a price"},
		{"gpt-4o input 1 output", "price gpt-4o: output needs a price"},
		{"gpt-4o input abc", `price gpt-4o: input: invalid price "abc"`},
		{"gpt-4o input 1 output -2", `price gpt-4o: output: invalid price "-2"`},
		{"gpt-4o cached_input 0.0000001", "cached_input: invalid price \"0.0000001\": more than 6 decimals"},
		{"gpt-4o cache_write 1e3", `cache_write: invalid price "1e3"`},
		{"gpt-4o input 1 input 2", "price gpt-4o: input given twice"},
		{"gpt-4o output 1 cache_write 2 output 3", "output given twice"},
	}
	for _, tt := range bad {
		t.Run("bad "+tt.args, func(t *testing.T) {
			_, err := ParseOverride(strings.Fields(tt.args))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseOverride(%q): %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}
