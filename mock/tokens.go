package mock

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// CountTokens is the mock's tokenizer: it returns the number of whitespace-separated words in text,
// exactly len(strings.Fields(text)). Crude on purpose: a test can predict it by eye, and since the
// mock's answers are words, their output tokens count the same way.
func CountTokens(text string) int { return countWords(text) }

// countWords is CountTokens for text still in a request body, so that counting it needs no copy.
func countWords[T string | []byte](text T) int {
	n := 0
	inWord := false
	for i := 0; i < len(text); {
		var space bool
		if c := text[i]; c < utf8.RuneSelf {
			space = asciiSpace[c] != 0
			i++
		} else {
			r, size := decodeRune(text[i:])
			space = unicode.IsSpace(r)
			i += size
		}
		switch {
		case space:
			inWord = false
		case !inWord:
			inWord = true
			n++
		}
	}
	return n
}

func decodeRune[T string | []byte](text T) (rune, int) {
	switch v := any(text).(type) {
	case string:
		return utf8.DecodeRuneInString(v)
	case []byte:
		return utf8.DecodeRune(v)
	}
	panic("unreachable")
}

// asciiSpace is the ASCII white space strings.Fields splits on.
var asciiSpace = [utf8.RuneSelf]uint8{'\t': 1, '\n': 1, '\v': 1, '\f': 1, '\r': 1, ' ': 1}

// vocabulary is what every answer is made of: an answer of n tokens is the first n words of this list,
// repeated as often as needed, joined by single spaces.
var vocabulary = strings.Fields(`lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod
	tempor incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation
	ullamco laboris nisi aliquip ex ea commodo consequat`)

// transcript is the longest answer an Upstream gives, with its word boundaries, so that every answer and
// every stream chunk is a substring of it rather than a new string.
type transcript struct {
	text string
	ends []int32 // ends[i] is the length of the first i words, with the spaces between them
}

func newTranscript(words int) transcript {
	var sb strings.Builder
	ends := make([]int32, words+1)
	for i := range words {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(vocabulary[i%len(vocabulary)])
		ends[i+1] = int32(sb.Len())
	}
	return transcript{text: sb.String(), ends: ends}
}

// words returns an answer of n words.
func (t transcript) words(n int) string { return t.text[:t.ends[n]] }

// span returns words from up to to, with the space before them if from > 0: the spans of consecutive
// chunks concatenate to the whole answer.
func (t transcript) span(from, to int) string { return t.text[t.ends[from]:t.ends[to]] }
