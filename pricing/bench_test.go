package pricing

import "testing"

func BenchmarkLookup(b *testing.B) {
	tbl := withLines(b, Builtin(),
		"byo-model input 1 output 2",
		"acme-* input 1 output 2",
		"acme-large-* input 1 output 2",
		"team/*/chat input 1 output 2",
		"mistral-* input 1 output 2",
		"llama-?-* input 1 output 2",
	)
	for _, bm := range []struct{ name, model string }{
		{"exact built-in", "gpt-4o-mini"},
		{"exact built-in mixed case", "GPT-4o-Mini"},
		{"exact config", "byo-model"},
		{"provider prefix", "openai/gpt-4o-mini"},
		{"dated suffix", "claude-3-5-sonnet-20241022"},
		{"config glob", "acme-large-v2"},
		{"built-in glob", "gemini-1.5-flash-002"},
		{"miss", "no-such-model-v1"},
	} {
		b.Run(bm.name, func(b *testing.B) {
			if _, ok := tbl.Lookup(bm.model); !ok && bm.name != "miss" {
				b.Fatalf("%s not found", bm.model)
			}
			b.ReportAllocs()
			for b.Loop() {
				tbl.Lookup(bm.model)
			}
		})
	}
}

func BenchmarkPriceCost(b *testing.B) {
	p, _ := Builtin().Lookup("claude-sonnet-4")
	tokens := Tokens{Input: 12_345, CachedInput: 8_000, CacheWrite: 1_000, Output: 789}
	b.ReportAllocs()
	for b.Loop() {
		p.Cost(tokens)
	}
}
