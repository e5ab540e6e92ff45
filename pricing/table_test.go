package pricing

import (
	"strings"
	"sync"
	"testing"
)

// fixture is a small built-in table whose prices say which entry answered: the whole-dollar
// input price identifies it.
const fixture = `{
  "as_of": "2025-01-02", "currency": "USD", "unit": "", "note": "",
  "models": [
    {"model": "gem-*", "input": "9", "output": "9"},
    {"model": "gpt-4o", "input": "2.5", "output": "10", "cached_input": "1.25"},
    {"model": "gpt-4o-2024-05-13", "input": "5", "output": "15"},
    {"model": "claude-3-5-sonnet", "input": "3", "output": "15", "cached_input": "0.3", "cache_write": "3.75"},
    {"model": "gem-1.5-flash", "aliases": ["gem-1.5-flash-0??"], "input": "0.075", "output": "0.3"}
  ]
}`

func fixtureTable(t testing.TB) *Table {
	t.Helper()
	tbl, err := parseBuiltin([]byte(fixture))
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// withLines is tbl.With the Caddyfile `price` lines given (without the directive name).
func withLines(t testing.TB, tbl *Table, lines ...string) *Table {
	t.Helper()
	var os []Override
	for _, l := range lines {
		o, err := ParseOverride(strings.Fields(l))
		if err != nil {
			t.Fatal(err)
		}
		os = append(os, o)
	}
	nt, err := tbl.With(os)
	if err != nil {
		t.Fatal(err)
	}
	return nt
}

func rate(t testing.TB, s string) Rate {
	t.Helper()
	r, err := ParseRate(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLookupPrecedence(t *testing.T) {
	long := strings.Repeat("x", 200)
	tests := []struct {
		name  string
		lines []string // config price lines
		model string
		want  string // Input rate of the entry that must answer; "" for not found
		src   string // "config" or "builtin"
	}{
		{"built-in exact", nil, "gpt-4o", "2.5", "builtin"},
		{"config exact beats built-in exact", []string{"gpt-4o input 3 output 12"}, "gpt-4o", "3", "config"},
		{"config exact beats config glob", []string{"gpt-* input 7 output 7", "gpt-4o input 3 output 12"}, "gpt-4o", "3", "config"},
		{"config glob beats built-in exact", []string{"gpt-* input 7 output 7"}, "gpt-4o", "7", "config"},
		{"catch-all config glob replaces built-in prices", []string{"* input 7 output 7"}, "claude-3-5-sonnet", "7", "config"},
		{"longest literal prefix first", []string{"claude-* input 1 output 1", "claude-3-* input 2 output 2"}, "claude-3-5-sonnet", "2", "config"},
		{"longest literal prefix first, declared last", []string{"claude-3-* input 2 output 2", "claude-* input 1 output 1"}, "claude-3-5-sonnet", "2", "config"},
		{"literal prefix beats fewer wildcards", []string{"c* input 1 output 1", "cl?ude-* input 2 output 2"}, "claude-x", "2", "config"},
		{"fewest wildcards on equal prefix", []string{"x*y* input 1 output 1", "x* input 2 output 2"}, "xay", "2", "config"},
		{"fewest wildcards on equal prefix, declared last", []string{"x* input 2 output 2", "x*y* input 1 output 1"}, "xay", "2", "config"},
		{"declaration order on equal specificity", []string{"q* input 1 output 1", "q? input 2 output 2"}, "qa", "1", "config"},
		{"declaration order on equal specificity, swapped", []string{"q? input 2 output 2", "q* input 1 output 1"}, "qa", "2", "config"},
		{"name is case-insensitive", nil, "GPT-4o", "2.5", "builtin"},
		{"pattern is case-insensitive", []string{"GPT-4O input 3 output 12"}, "gpt-4o", "3", "config"},
		{"glob is case-insensitive", []string{"CLAUDE-* input 1 output 1"}, "Claude-X", "1", "config"},
		{"non-ASCII case folding", []string{"ÄI-model input 1 output 1"}, "äI-MODEL", "1", "config"},
		{"names longer than the stack buffer", []string{long + " input 1 output 1"}, strings.ToUpper(long), "1", "config"},
		{"dated suffix -YYYY-MM-DD stripped", nil, "gpt-4o-2024-08-06", "2.5", "builtin"},
		{"dated suffix -YYYYMMDD stripped", nil, "claude-3-5-sonnet-20241022", "3", "builtin"},
		{"-latest stripped", nil, "claude-3-5-sonnet-latest", "3", "builtin"},
		{"dated suffix stripped, mixed case", nil, "Claude-3-5-Sonnet-LATEST", "3", "builtin"},
		{"listed dated name beats stripping", nil, "gpt-4o-2024-05-13", "5", "builtin"},
		{"not a date: not stripped", nil, "gpt-4o-2024-13-06", "", ""},
		{"built-in stripping beats built-in glob", nil, "gem-1.5-flash-latest", "0.075", "builtin"},
		{"built-in glob", nil, "gem-2.0-pro", "9", "builtin"},
		{"built-in glob specificity beats file order", nil, "gem-1.5-flash-002", "0.075", "builtin"},
		{"config applies to dated names of its model", []string{"gpt-4o input 3 output 12"}, "gpt-4o-2024-08-06", "3", "config"},
		{"config dated stripping beats built-in exact", []string{"gpt-4o input 3 output 12"}, "gpt-4o-2024-05-13", "3", "config"},
		{"config dated stripping before config globs", []string{"gpt-4o-* input 7 output 7", "gpt-4o input 3 output 12"}, "gpt-4o-2024-08-06", "3", "config"},
		{"provider prefix stripped", nil, "openai/gpt-4o", "2.5", "builtin"},
		{"provider prefix and date stripped", nil, "anthropic/claude-3-5-sonnet-20241022", "3", "builtin"},
		{"provider prefix stripped for globs", nil, "models/gem-1.5-flash-001", "0.075", "builtin"},
		{"config glob matches the name without provider", []string{"claude-* input 1 output 1"}, "anthropic/claude-x", "1", "config"},
		{"full name before name without provider", []string{"openai/gpt-4o input 4 output 4", "gpt-4o input 3 output 3"}, "openai/gpt-4o", "4", "config"},
		{"prefixed pattern does not match the bare name", []string{"openai/gpt-4o input 4 output 4"}, "gpt-4o", "2.5", "builtin"},
		{"config glob over a provider beats built-in", []string{"openai/* input 6 output 6"}, "openai/gpt-4o", "6", "config"},
		{"'*' crosses '/'", []string{"acme/* input 6 output 6"}, "acme/team/model", "6", "config"},
		{"unknown model", nil, "llama-3", "", ""},
		{"empty name", []string{"* input 1 output 1"}, "", "", ""},
	}
	base := fixtureTable(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl := withLines(t, base, tt.lines...)
			p, ok := tbl.Lookup(tt.model)
			if tt.want == "" {
				if ok {
					t.Fatalf("Lookup(%q) = %+v, want not found", tt.model, p)
				}
				return
			}
			if !ok {
				t.Fatalf("Lookup(%q) not found, want input %s", tt.model, tt.want)
			}
			if p.Input != rate(t, tt.want) {
				t.Fatalf("Lookup(%q) = %+v, want input %s", tt.model, p, tt.want)
			}
			wantSrc := "config"
			if tt.src == "builtin" {
				wantSrc = "builtin:2025-01-02"
			}
			if p.Source != wantSrc {
				t.Fatalf("Lookup(%q).Source = %q, want %q", tt.model, p.Source, wantSrc)
			}
		})
	}
}

func TestLookupAllocatesNothing(t *testing.T) {
	tbl := withLines(t, Builtin(), "acme-* input 1 output 2", "byo-model input 1 output 2")
	for _, model := range []string{
		"gpt-4o-mini", "GPT-4o-Mini", "byo-model", "openai/gpt-4o-mini", "gpt-4o-mini-2024-07-18",
		"claude-3-5-sonnet-20241022", "acme-large", "gemini-1.5-flash-002", "no-such-model",
	} {
		if n := testing.AllocsPerRun(100, func() { tbl.Lookup(model) }); n != 0 {
			t.Errorf("Lookup(%q): %v allocations, want 0", model, n)
		}
	}
}

func TestTableConcurrentUse(t *testing.T) {
	tbl := withLines(t, Builtin(), "acme-* input 1 output 2")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 500 {
				if p, ok := tbl.Lookup("gpt-4o-mini"); !ok || p.Input != 150_000 {
					t.Errorf("Lookup = %+v, %v", p, ok)
					return
				}
				if j%100 == 0 {
					if _, err := tbl.With([]Override{{Pattern: "x", Input: new(Rate(i)), Output: new(Rate(j))}}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
