package pricing

import (
	"bytes"
	"strings"
)

// maxStackName is the longest model name Lookup lowercases without allocating.
const maxStackName = 128

// normalizeName lowercases model into buf when it is short ASCII (every real model name), so
// that Lookup allocates nothing; anything else goes through strings.ToLower, which is what
// patterns went through when the table was built.
func normalizeName(buf []byte, model string) []byte {
	if len(model) > cap(buf) {
		return []byte(strings.ToLower(model))
	}
	b := buf[:len(model)]
	for i := 0; i < len(model); i++ {
		c := model[i]
		switch {
		case c >= 0x80:
			return []byte(strings.ToLower(model))
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return b
}

// withoutProvider is name after its last '/' ("openai/gpt-4o" -> "gpt-4o", "models/gemini-2.5-pro"
// -> "gemini-2.5-pro"), or nil when name has no provider prefix.
func withoutProvider(name []byte) []byte {
	i := bytes.LastIndexByte(name, '/')
	if i < 0 || i == len(name)-1 {
		return nil
	}
	return name[i+1:]
}

// withoutVersion is name without one trailing version suffix: "-latest", "-YYYY-MM-DD" or
// "-YYYYMMDD" with a real month and day ("gpt-4o-mini-2024-07-18" -> "gpt-4o-mini",
// "claude-3-5-sonnet-20241022" -> "claude-3-5-sonnet"), or nil when it has none.
func withoutVersion(name []byte) []byte {
	n := len(name)
	switch {
	case n > len("-latest") && string(name[n-len("-latest"):]) == "-latest":
		return name[:n-len("-latest")]
	case n > 11 && name[n-11] == '-' && name[n-6] == '-' && name[n-3] == '-' &&
		isDate(name[n-10:n-6], name[n-5:n-3], name[n-2:]):
		return name[:n-11]
	case n > 9 && name[n-9] == '-' && isDate(name[n-8:n-4], name[n-4:n-2], name[n-2:]):
		return name[:n-9]
	}
	return nil
}

func isDate(year, month, day []byte) bool {
	for _, part := range [...][]byte{year, month, day} {
		for _, c := range part {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	m := int(month[0]-'0')*10 + int(month[1]-'0')
	d := int(day[0]-'0')*10 + int(day[1]-'0')
	return 1 <= m && m <= 12 && 1 <= d && d <= 31
}
