package usage

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

var validSeeds = []string{
	`{}`, `[]`, ` {"a" : [1, -2.5e+3, 0, true, false, null, "x\"\\\/\b\f\n\r\t\u00e9"]} `, `"s"`, `0`, `-0`, `1E9`,
	`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"héllo \ud83d\ude00"}],"stream":true}`,
	`[[[]],{},{"":""}]`, "\t\r\n 7 \n",
	// Not valid:
	``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a"}`, `{"a":}`, `{,}`, `[1 2]`, `{"a":1 "b":2}`, `01`, `1.`, `.5`, `1e`, `-`,
	`+1`, `tru`, `nul`, `truex`, `"unterminated`, `"bad \x escape"`, `"\u12"`, `"\u12G4"`, "\"tab\tinside\"", "\"nul\x00\"",
	`{"a":1}}`, `[1]]`, `{} {}`, `{"a":1]`, `[1}`, "\"\xff\xfe invalid UTF-8 is valid JSON to encoding/json\"",
	`{"a":"\`, `"\`, `[`, `["a",`, `{"a":[{"b":`,
}

func TestValid(t *testing.T) {
	for _, s := range validSeeds {
		if got, want := Valid([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("Valid(%q) = %v, encoding/json says %v", s, got, want)
		}
	}
}

// TestValidDepth: 10,000 nested containers are valid, 10,001 are not, as for encoding/json.
func TestValidDepth(t *testing.T) {
	for _, n := range []int{64, 65, 10000, 10001} {
		for _, pair := range [][2]string{{"[", "]"}, {`{"a":`, "}"}} {
			doc := []byte(strings.Repeat(pair[0], n) + "1" + strings.Repeat(pair[1], n))
			if got, want := Valid(doc), json.Valid(doc); got != want {
				t.Errorf("%d levels of %s: Valid = %v, encoding/json says %v", n, pair[0], got, want)
			}
		}
	}
	mixed := []byte(strings.Repeat(`[{"a":`, 100) + "1" + strings.Repeat("}]", 100))
	if !Valid(mixed) {
		t.Error("200 levels of arrays and objects, alternating: not valid")
	}
}

// TestValidMatchesEncodingJSON mutates valid documents (the request bodies of the fuzz corpus and the
// golden answers) a byte or a few at a time, and wants encoding/json's verdict on every one.
func TestValidMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	docs := [][]byte{}
	for _, s := range validSeeds {
		docs = append(docs, []byte(s))
	}
	for _, g := range goldens {
		if !strings.HasSuffix(g.file, ".sse") {
			docs = append(docs, readTestdata(t, g.file))
		}
	}
	const odd = "\"\\{}[],:0123456789.-+eEu aZtrufalsn\x00\x1f\x7f\xc3\xa9\xff\n/bfnrt"
	rng := rand.New(rand.NewPCG(10, 11))
	for i := range 200_000 {
		d := bytes.Clone(docs[rng.IntN(len(docs))])
		for range 1 + rng.IntN(3) {
			at := rng.IntN(len(d) + 1)
			switch rng.IntN(3) {
			case 0:
				if at < len(d) {
					d[at] = odd[rng.IntN(len(odd))]
				}
			case 1:
				d = append(d[:at], d[min(len(d), at+1+rng.IntN(8)):]...)
			case 2:
				d = append(d[:at], append([]byte{odd[rng.IntN(len(odd))]}, d[at:]...)...)
			}
		}
		if got, want := Valid(d), json.Valid(d); got != want {
			t.Fatalf("case %d: Valid(%q) = %v, encoding/json says %v", i, d, got, want)
		}
	}
}

// FuzzValid checks Valid against encoding/json.Valid on any input.
func FuzzValid(f *testing.F) {
	for _, s := range validSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}

// TestStringScans checks the word-at-a-time string scans against byte-at-a-time ones (the code they
// replaced), on random strings of quotes, backslashes, escapes, control characters and UTF-8, at every
// alignment.
func TestStringScans(t *testing.T) {
	refRun := func(b []byte, i int, ctl bool) int {
		for ; i < len(b); i++ {
			if c := b[i]; c == '"' || c == '\\' || ctl && c < 0x20 {
				return i
			}
		}
		return i
	}
	for s, want := range map[string]int64{`"\ud83d\ude00"`: 1, `"\udc00"`: 0, `"\udbff"`: 1, `"\uDFFF\uE000"`: 1, `"a\"b\\c\/"`: 6,
		`"caf\u00e9 é"`: 6, "\"\xf0\x9f\x98\x80\"": 1} {
		if end, chars := stringSpan([]byte(s), 0); end != len(s) || chars != want {
			t.Errorf("stringSpan(%s) = %d, %d; want %d, %d", s, end, chars, len(s), want)
		}
	}
	const alphabet = "abcdefgh\"\\u0DcdE1\x00\x1f \x7f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff\x80"
	rng := rand.New(rand.NewPCG(12, 13))
	for range 100_000 {
		b := make([]byte, rng.IntN(48))
		for j := range b {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		i := rng.IntN(len(b) + 1)
		for _, ctl := range []bool{false, true} {
			if got, want := plainRun(b, i, ctl), refRun(b, i, ctl); got != want {
				t.Fatalf("plainRun(%q, %d, %v) = %d, want %d", b, i, ctl, got, want)
			}
		}
		if got, want := runeStarts(b[i:]), int64(len(b[i:]))-continuation(b[i:]); got != want {
			t.Fatalf("runeStarts(%q) = %d, want %d", b[i:], got, want)
		}
		q := append([]byte{'"'}, b[i:]...)
		if got, want := stringEnd(q, 0), refEnd(q, 0); got != want {
			t.Fatalf("stringEnd(%q, 0) = %d, want %d", q, got, want)
		}
		// stringSpan reads a string once: on a well-formed one it ends where stringEnd does and counts what
		// the reference does; on any other it must stay within the bytes.
		end, chars := stringSpan(q, 0)
		if refEnd(q, 0) > 0 && Valid(q[:refEnd(q, 0)]) {
			if e := refEnd(q, 0); end != e || chars != refChars(q[1:e-1]) {
				t.Fatalf("stringSpan(%q) = %d, %d; want %d, %d", q, end, chars, e, refChars(q[1:e-1]))
			}
		} else if end > len(q) || chars > int64(len(q)) || chars < 0 {
			t.Fatalf("stringSpan(%q) = %d, %d", q, end, chars)
		}
		if end < 0 && !bytes.ContainsAny(q[1:], "\\\"") && chars != refChars(q[1:]) { // unterminated, plain
			t.Fatalf("stringSpan(%q) counts %d, want %d", q, chars, refChars(q[1:]))
		}
	}
}

// refEnd and refChars are the byte-at-a-time string scans that plainRun, stringEnd and stringSpan replaced.
func refEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

func refChars(s []byte) int64 {
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 < len(s) && s[i+1] == 'u' {
				var r rune
				for _, h := range s[i+2 : min(i+6, len(s))] {
					r = r<<4 | rune(unhex(h))
				}
				i += 5
				if r >= 0xDC00 && r <= 0xDFFF {
					continue
				}
			} else {
				i++
			}
			n++
		case c&0xC0 != 0x80:
			n++
		}
	}
	return n
}

func continuation(b []byte) int64 {
	var n int64
	for _, c := range b {
		if c&0xC0 == 0x80 {
			n++
		}
	}
	return n
}
