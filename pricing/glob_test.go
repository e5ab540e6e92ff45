package pricing

import "testing"

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "", true},
		{"*", "openai/gpt-4o", true}, // '*' crosses '/', unlike path.Match
		{"openai/*", "openai/gpt-4o", true},
		{"openai/*", "openai/team/gpt-4o", true},
		{"claude-*", "claude-3-5-sonnet", true},
		{"claude-*", "claude", false},
		{"*-mini", "gpt-4o-mini", true},
		{"*-mini", "gpt-4o-mini-2024-07-18", false},
		{"a?c", "abc", true},
		{"a?c", "a/c", true}, // '?' matches '/' too
		{"a?c", "ac", false},
		{"a?c", "abbc", false},
		{"a?c", "aéc", true}, // '?' is one character, not one byte
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "acb", false},
		{"*ab", "aab", true}, // needs backtracking
		{"a*a", "a", false},
		{"a**", "a", true},
		{"[a]", "[a]", true}, // no character classes
		{"[a]", "a", false},
		{`a\*`, `a\xyz`, true}, // no escapes: '\' is literal, '*' still a wildcard
		{"gemini-1.5-flash-0??", "gemini-1.5-flash-002", true},
		{"gemini-1.5-flash-0??", "gemini-1.5-flash-8b-001", false},
		{"", "", true},
		{"", "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.name, func(t *testing.T) {
			if got := globMatch(tt.pattern, []byte(tt.name)); got != tt.want {
				t.Fatalf("globMatch(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
			}
		})
	}
}

func TestNameVariants(t *testing.T) {
	version := []struct{ in, want string }{ // "" for no suffix
		{"gpt-4o-mini-2024-07-18", "gpt-4o-mini"},
		{"claude-3-5-sonnet-20241022", "claude-3-5-sonnet"},
		{"claude-3-5-sonnet-latest", "claude-3-5-sonnet"},
		{"a-2024-07-18", "a"},
		{"gpt-4o", ""},
		{"latest", ""},
		{"-latest", ""},
		{"2024-07-18", ""},
		{"gpt-4o-2024-13-01", ""},  // month 13
		{"gpt-4o-2024-12-32", ""},  // day 32
		{"gpt-4o-2024-00-10", ""},  // month 0
		{"gpt-4o-20241301", ""},    // month 13
		{"model-12345678", ""},     // not a date
		{"gpt-3.5-turbo-0125", ""}, // MMDD only: listed as an alias instead
		{"gemini-2.5-flash-preview-05-20", ""},
		{"gpt-4o-2024-08-06-latest", "gpt-4o-2024-08-06"}, // one suffix only
	}
	for _, tt := range version {
		t.Run(tt.in, func(t *testing.T) {
			if got := string(withoutVersion([]byte(tt.in))); got != tt.want {
				t.Fatalf("withoutVersion(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	provider := []struct{ in, want string }{
		{"openai/gpt-4o", "gpt-4o"},
		{"models/gemini-2.5-pro", "gemini-2.5-pro"},
		{"accounts/acme/models/llama", "llama"},
		{"gpt-4o", ""},
		{"openai/", ""},
	}
	for _, tt := range provider {
		t.Run(tt.in, func(t *testing.T) {
			if got := string(withoutProvider([]byte(tt.in))); got != tt.want {
				t.Fatalf("withoutProvider(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
