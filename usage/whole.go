package usage

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// Whole meters a whole body at once, fed to a fresh meter (NewMeter or Reset), and returns its usage: the
// Usage that Write of every byte and then Usage would return, except that it may leave the middle of an
// event stream unread. The events between a stream's first and its last few can change nothing but the
// count of generated text when
//
//   - the first event names the model (the first model reported is the one kept);
//   - the last events report the call's whole usage and end the stream properly: the result is Reported
//     and Complete whatever came between;
//   - the events between carry no usage object: every "usage" among them is "usage":null, as OpenAI sends
//     in every chunk but the last. Usage fields live only in objects named usage, and a member name
//     written with escapes is never read as one, so nothing else among them sets a count.
//
// Whole then reads the first event and the last ones only. The result is the whole reading's but for
// OutputChars, which counts the generated text of the events read; it is used only for an estimate, and a
// Reported call needs none. Any other body is read whole. skipped is how many bytes were left unread.
func (m *Meter) Whole(body []byte) (u Usage, skipped int) {
	if m.stream {
		if head, tail, ok := streamEnds(body); ok {
			m.Write(head)
			if m.scan.model != "" {
				m.Write(tail)
				if u = m.Usage(); u.Source == Reported && u.Complete {
					return u, len(body) - len(head) - len(tail)
				}
			}
			m.Reset(m.format, m.stream)
		}
	}
	m.Write(body)
	return m.Usage(), 0
}

// streamEnds cuts an event stream into its first event (head), the events from the last usage object's
// on (tail), and the events between, which carry no usage object. An event boundary is a line feed after
// a line end: whatever line ends the stream uses, the second line feed is a blank line, and the event
// before it has been dispatched. ok is false if there is nothing to leave out.
func streamEnds(body []byte) (head, tail []byte, ok bool) {
	i := bytes.Index(body, blankLine)
	if i < 0 {
		return nil, nil, false
	}
	head = body[:i+len(blankLine)]
	last, firstObject := -1, -1 // after the head: the last "usage", and the first one not null
	for at := len(head); ; {
		j := indexUsage(body[at:])
		if j < 0 {
			break
		}
		last, at = at+j, at+j+len(usageKey)
		if firstObject < 0 && !isNull(body[at:]) {
			firstObject = last
		}
	}
	if last < 0 {
		return nil, nil, false
	}
	start := lastBlankLine(body[:last]) + len(blankLine)
	if start <= len(head) || firstObject >= 0 && firstObject < start {
		return nil, nil, false
	}
	return head, body[start:], true
}

var (
	blankLine = []byte("\n\n")
	usageKey  = []byte(`"usage"`)
	null      = []byte("null")
)

// lastBlankLine is bytes.LastIndex(b, blankLine), without its rolling hash.
func lastBlankLine(b []byte) int {
	for {
		i := bytes.LastIndexByte(b, '\n')
		if i <= 0 {
			return -1
		}
		if b[i-1] == '\n' {
			return i - 1
		}
		b = b[:i-1]
	}
}

// isNull reports whether rest, what follows a "usage", makes it a member whose value is null. Anything
// else (an object, a string "usage") makes it false.
func isNull(rest []byte) bool {
	rest = skipBlanks(rest)
	if len(rest) == 0 || rest[0] != ':' {
		return false
	}
	return bytes.HasPrefix(skipBlanks(rest[1:]), null)
}

// skipBlanks drops the spaces and tabs b begins with.
func skipBlanks(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// indexUsage returns the index of the first "usage" (with its quotes) in b, or -1. It looks for a u with a
// g three bytes on, eight positions at a time (SWAR): bytes.Index would stop at every quote, and JSON is
// full of them.
func indexUsage(b []byte) int {
	i := 0
	for ; i+11 <= len(b); i += 8 {
		m := zeroBytes(binary.LittleEndian.Uint64(b[i:])^('u'*ones)) &
			zeroBytes(binary.LittleEndian.Uint64(b[i+3:])^('g'*ones))
		for ; m != 0; m &= m - 1 { // the first mark of each is exact, later ones maybe not: each is checked
			j := i + bits.TrailingZeros64(m)/8
			if j > 0 && bytes.HasPrefix(b[j-1:], usageKey) {
				return j - 1
			}
		}
	}
	// The last bytes, and a match that begins in them: from i-1, for the quote before a "u" at i.
	if i = max(i-1, 0); i < len(b) {
		if j := bytes.Index(b[i:], usageKey); j >= 0 {
			return i + j
		}
	}
	return -1
}
