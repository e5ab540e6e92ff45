package usage

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// refTextChars is the two-pass text count textSpan replaced: the value already cut out by valueEnd, each
// string found by refEnd and counted by refChars.
func refTextChars(b []byte) int64 {
	var n int64
	prev := byte(0)
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '"':
			end := refEnd(b, i)
			if end < 0 {
				return n + refChars(b[i+1:])
			}
			if j := skipSpace(b, end); j < len(b) && b[j] == ':' {
				if excludedKeys[string(b[i+1:end-1])] {
					ve := valueEnd(b, skipSpace(b, j+1))
					if ve < 0 {
						return n
					}
					i, prev = ve, 'v'
					continue
				}
				i, prev = j+1, ':'
				continue
			}
			n += refChars(b[i+1 : end-1])
			i, prev = end, 'v'
		case c == '-' || c >= '0' && c <= '9':
			if prev == '[' || prev == ',' {
				n += 4
			}
			end := valueEnd(b, i)
			if end < 0 {
				return n
			}
			i, prev = end, 'v'
		case c == '{' || c == '[' || c == ',' || c == ':' || c == '}' || c == ']':
			i, prev = i+1, c
		case isSpace(c):
			i++
		default:
			i, prev = i+1, 'v'
		}
	}
	return n
}

// refInputChars is InputChars as encoding/json finds the members and refTextChars counts them; ok is false
// where the two cannot be compared (not a JSON object, or invalid UTF-8, which encoding/json replaces).
func refInputChars(body []byte) (n int64, ok bool) {
	var m map[string]json.RawMessage
	if !isJSONObject(body) || !utf8.Valid(body) || json.Unmarshal(body, &m) != nil {
		return 0, false
	}
	for _, in := range inputMembers {
		if v, found := m[in]; found {
			n += refTextChars(v)
		}
	}
	return n, true
}

// TestInputCharsMatchesTheReference mutates request bodies and wants, on every one that is still a JSON
// object, the count of the two-pass reference.
func TestInputCharsMatchesTheReference(t *testing.T) {
	t.Parallel()
	var seeds [][]byte
	for _, s := range []string{
		`{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"hé \"q\" \ud83d\ude00"},{"type":"image_url","image_url":{"url":"data:x"}}]}],"max_tokens":5}`,
		`{"prompt":[[1,2,-3],"four five",[6]],"input":["a",{"text":"b","id":"z"}],"system":"sys","instructions":7}`,
		`{"input":[{"role":"user","content":[{"type":"input_text","text":"x\\y\/z"}]},{"type":"function_call_output","call_id":"c","output":"{\"ok\":true}"}]}`,
		`{"messages":"a string","prompt":null,"input":true,"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}]}`,
	} {
		seeds = append(seeds, []byte(s))
	}
	const odd = "\"\\{}[],:0123456789-eu aé\n"
	rng := rand.New(rand.NewPCG(14, 15))
	compared := 0
	for i := range 100_000 {
		d := bytes.Clone(seeds[rng.IntN(len(seeds))])
		for range rng.IntN(3) {
			at := rng.IntN(len(d) + 1)
			if rng.IntN(2) == 0 {
				d = append(d[:at], d[min(len(d), at+1+rng.IntN(4)):]...)
			} else {
				d = append(d[:at], append([]byte{odd[rng.IntN(len(odd))]}, d[at:]...)...)
			}
		}
		want, ok := refInputChars(d)
		if !ok {
			continue
		}
		compared++
		if r, err := ParseRequest(Unknown, d); err != nil || r.InputChars != want {
			t.Fatalf("case %d: ParseRequest(%s) = %+v, %v; want InputChars %d", i, d, r, err, want)
		}
	}
	if compared < 20_000 {
		t.Errorf("only %d bodies were JSON objects to compare", compared)
	}
}
