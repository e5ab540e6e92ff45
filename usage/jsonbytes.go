package usage

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Helpers for a whole JSON document in memory (a request body): find the members of an object without
// decoding it, so that a body can be read, or edited in place, at the cost of one pass and no copies.

var errNotObject = errors.New("not a JSON object")

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// stringEnd returns the index just past the string that starts at b[i] (a quote), or -1.
func stringEnd(b []byte, i int) int {
	for j := i + 1; ; j += 2 { // past a backslash and the byte it escapes
		if j = plainRun(b, j, false); j >= len(b) {
			return -1
		}
		if b[j] == '"' {
			return j + 1
		}
	}
}

// valueEnd returns the index just past the value that starts at b[i], or -1 if b ends inside it. It does
// not validate what it skips.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				j := stringEnd(b, i)
				if j < 0 {
					return -1
				}
				i = j - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	case '}', ']', ',', ':':
		return -1
	}
	j := i
	for j < len(b) && !isSpace(b[j]) && b[j] != ',' && b[j] != '}' && b[j] != ']' {
		j++
	}
	return j
}

// members calls fn with each member of the object at b[i:]: its name as written, without the quotes, and
// where its value starts. fn reads the value and returns the index just past it (valueEnd, when it only
// wants to skip it), or -1 if no value starts there or b ends inside it. members returns the index just
// past the object.
func members(b []byte, i int, fn func(name []byte, start int) (end int)) (int, error) {
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != '{' {
		return -1, errNotObject
	}
	if i = skipSpace(b, i+1); i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return -1, errNotObject
		}
		ke := stringEnd(b, i)
		if ke < 0 {
			return -1, errNotObject
		}
		name := b[i+1 : ke-1]
		if i = skipSpace(b, ke); i >= len(b) || b[i] != ':' {
			return -1, errNotObject
		}
		ve := fn(name, skipSpace(b, i+1))
		if ve < 0 {
			return -1, errNotObject
		}
		if i = skipSpace(b, ve); i >= len(b) {
			return -1, errNotObject
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return -1, errNotObject
		}
	}
}

// valueOf returns the value at b[start:] whole, and its end: -1, and no value, if b ends inside it.
func valueOf(b []byte, start int) (v []byte, end int) {
	if end = valueEnd(b, start); end < 0 {
		return nil, -1
	}
	return b[start:end], end
}

// nameIs reports whether a member name, as written, is want. The APIs' names need no escapes, but a
// client may escape them anyway.
func nameIs(name []byte, want string) bool {
	if bytes.IndexByte(name, '\\') < 0 {
		return string(name) == want
	}
	return jsonString(append(append([]byte{'"'}, name...), '"')) == want
}

// jsonString decodes a JSON string value, or returns "" if v is not one.
func jsonString(v []byte) string {
	if len(v) >= 2 && v[0] == '"' && bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1])
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return ""
	}
	return s
}

// jsonInt reads a JSON number as a non-negative integer (fractions truncated); ok is false if v is not a
// number (null, say).
func jsonInt(v []byte) (n int64, ok bool) {
	var num number
	for _, c := range v {
		num.feed(c)
	}
	return num.value()
}

// stringSpan returns the index just past the string that starts at b[i] (a quote), or -1 if b ends inside
// it, and the characters of its content (of as much as there is), escapes decoded: an escape is one
// character, a surrogate pair too. One pass: a prompt's text is read once.
func stringSpan(b []byte, i int) (end int, chars int64) {
	for j := i + 1; j < len(b); {
		k := plainRun(b, j, false)
		chars += runeStarts(b[j:k])
		switch {
		case k == len(b):
			return -1, chars
		case b[k] == '"':
			return k + 1, chars
		case k+1 < len(b) && b[k+1] == 'u':
			var r rune
			for _, h := range b[k+2 : min(k+6, len(b))] {
				r = r<<4 | rune(unhex(h))
			}
			j = k + 6
			if r >= 0xDC00 && r <= 0xDFFF { // a surrogate pair's second half: the first counted
				continue
			}
		default:
			j = k + 2
		}
		chars++
	}
	return -1, chars
}
