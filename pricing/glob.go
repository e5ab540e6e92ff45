package pricing

import (
	"strings"
	"unicode/utf8"
)

// Globs are path.Match without its path rules: model names such as "openai/gpt-4o" contain '/',
// which path.Match's '*' refuses to cross. Here '*' matches any run of characters, '/' included,
// '?' exactly one character, and every other character (including '[' and '\') only itself.

func isGlob(pattern string) bool { return strings.ContainsAny(pattern, "*?") }

// globMatch reports whether name matches pattern. It backtracks only to the last '*', so it is
// linear in practice and never worse than len(pattern)*len(name).
func globMatch(pattern string, name []byte) bool {
	p, n := 0, 0
	star, mark := -1, 0 // position of the last '*' and where its match currently ends
	for n < len(name) {
		if p < len(pattern) {
			switch c := pattern[p]; {
			case c == '*':
				star, mark = p, n
				p++
				continue
			case c == '?':
				p++
				n += charLen(name[n:])
				continue
			case c == name[n]:
				p++
				n++
				continue
			}
		}
		if star < 0 {
			return false
		}
		// Let the last '*' swallow one more character and retry from there.
		mark += charLen(name[mark:])
		p, n = star+1, mark
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// charLen is the length of the first UTF-8 character of b (1 for ASCII, the common case).
func charLen(b []byte) int {
	if b[0] < utf8.RuneSelf {
		return 1
	}
	_, size := utf8.DecodeRune(b)
	return size
}

// globSpecificity orders globs for lookup: a longer literal prefix first, then fewer wildcards.
func globSpecificity(pattern string) (literalPrefix, wildcards int) {
	literalPrefix = strings.IndexAny(pattern, "*?")
	if literalPrefix < 0 {
		literalPrefix = len(pattern)
	}
	return literalPrefix, strings.Count(pattern, "*") + strings.Count(pattern, "?")
}
