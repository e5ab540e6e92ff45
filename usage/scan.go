package usage

import "unicode/utf8"

// The bounds of a scanner's state. Nothing else it holds grows with the input.
const (
	maxDepth   = 16  // containers on a path of interest; the paths are at most 6 deep
	maxKey     = 32  // longer member names are of no interest
	maxCapture = 256 // longer model names or event types are dropped
	maxType    = 64
)

type scanState uint8

const (
	sValue    scanState = iota // before a value
	sKeyOrEnd                  // in an object, before a member name or '}'
	sKey                       // in a member name
	sColon                     // after a member name
	sAfter                     // after a value in a container: ',' or the container's end
	sString                    // in a string value
	sScalar                    // in a number or a literal
	sSkip                      // in a container of no interest
	sDone                      // the document's value ended; the rest is ignored
	sDead                      // not JSON; the rest is ignored
)

type frame struct {
	node uint16
	arr  bool
}

// record is what one document (a JSON body, or one event's data) said.
type record struct {
	fields     [nFields]int64
	mask       uint16 // which fields were reported
	usageDone  bool   // a usage object ended
	chars      int64  // generated text, in characters
	deltaChars int64  // text of a top-level "delta" (Responses), counted if the event type says it is text
	typLen     uint8
	typ        [maxType]byte // the "type" member, if it fit
}

// scanner is an incremental JSON scanner: fed a document in pieces of any size, it follows the paths of
// its trie and records what the values there say, and skips everything else without looking inside. It
// is lenient: it does not validate what it skips, and on what cannot be JSON it stops (sDead).
type scanner struct {
	t     *trie
	model string // the first model reported; kept across documents
	rec   record

	state scanState
	depth int
	stack [maxDepth]frame
	cur   uint16 // the node of the value to come (sValue) or in progress (sString, sScalar)

	act act   // of the string or number in progress
	esc uint8 // in a string: 1 after '\', 2-5 in the hex digits of \u
	hex rune
	num number

	skipDepth int // in sSkip, how many containers are open
	skipStr   bool
	skipEsc   bool

	keyLen uint8
	keyBad bool // the member name is too long, or escaped: of no interest
	keyEsc bool
	key    [maxKey]byte

	capLen int
	capBad bool
	capBuf [maxCapture]byte
}

// reset prepares s for a new document.
func (s *scanner) reset() {
	s.rec = record{}
	s.state, s.depth, s.cur = sValue, 0, 1
	s.esc, s.skipDepth, s.skipStr, s.skipEsc, s.keyEsc = 0, 0, false, false, false
}

// buffered is how many bytes of the input s holds: at most maxKey+maxCapture.
func (s *scanner) buffered() int { return int(s.keyLen) + s.capLen }

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

func (s *scanner) write(p []byte) {
	for i := 0; i < len(p); {
		switch s.state {
		case sDone, sDead:
			return
		case sValue:
			c := p[i]
			i++
			if !isSpace(c) {
				s.startValue(c)
			}
		case sKeyOrEnd:
			c := p[i]
			i++
			switch {
			case isSpace(c):
			case c == '"':
				s.state, s.keyLen, s.keyBad, s.keyEsc = sKey, 0, false, false
			case c == '}':
				s.close(false)
			default:
				s.state = sDead
			}
		case sKey:
			i = s.keyBytes(p, i)
		case sColon:
			c := p[i]
			i++
			switch {
			case isSpace(c):
			case c == ':':
				s.cur = 0
				if !s.keyBad {
					s.cur = s.t.child(s.stack[s.depth-1].node, s.key[:s.keyLen])
				}
				s.keyLen = 0
				s.state = sValue
			default:
				s.state = sDead
			}
		case sAfter:
			c := p[i]
			i++
			top := s.stack[s.depth-1]
			switch {
			case isSpace(c):
			case c == ',':
				if top.arr {
					s.state, s.cur = sValue, s.t.nodes[top.node].elem
				} else {
					s.state = sKeyOrEnd
				}
			case c == ']' && top.arr, c == '}' && !top.arr:
				s.close(top.arr)
			default:
				s.state = sDead
			}
		case sString:
			i = s.str(p, i)
		case sScalar:
			i = s.scalar(p, i)
		case sSkip:
			i = s.skip(p, i)
		}
	}
}

// startValue begins the value whose first byte is c, at node s.cur.
func (s *scanner) startValue(c byte) {
	nd := &s.t.nodes[s.cur]
	switch c {
	case '{':
		if len(nd.kids) == 0 || s.depth == maxDepth {
			s.state, s.skipDepth = sSkip, 1
			return
		}
		s.stack[s.depth] = frame{node: s.cur}
		s.depth++
		s.state = sKeyOrEnd
	case '[':
		if nd.elem == 0 || s.depth == maxDepth {
			s.state, s.skipDepth = sSkip, 1
			return
		}
		s.stack[s.depth] = frame{node: s.cur, arr: true}
		s.depth++
		s.state, s.cur = sValue, nd.elem
	case ']': // an empty array, or a trailing comma
		if s.depth > 0 && s.stack[s.depth-1].arr {
			s.close(true)
			return
		}
		s.state = sDead
	case '"':
		s.act = nd.act
		if s.act == actField || s.act == actModel && s.model != "" {
			s.act = actNone
		}
		s.state, s.esc, s.capLen, s.capBad = sString, 0, 0, false
	case '}', ',', ':':
		s.state = sDead
	default:
		s.act = actNone
		if nd.act == actField {
			s.act = actField
		}
		s.num = number{}
		s.num.feed(c)
		s.state = sScalar
	}
}

// close ends the innermost container, which the caller knows to be an array or an object.
func (s *scanner) close(arr bool) {
	s.depth--
	if !arr && s.t.nodes[s.stack[s.depth].node].usage {
		s.rec.usageDone = true
	}
	s.valueDone()
}

func (s *scanner) valueDone() {
	if s.depth == 0 {
		s.state = sDone
	} else {
		s.state = sAfter
	}
}

func (s *scanner) keyBytes(p []byte, i int) int {
	for i < len(p) {
		if s.keyEsc {
			s.keyEsc = false
			i++
			continue
		}
		j := plainEnd(p, i)
		if !s.keyBad {
			if int(s.keyLen)+j-i > maxKey {
				s.keyBad = true
			} else {
				s.keyLen += uint8(copy(s.key[s.keyLen:], p[i:j]))
			}
		}
		if j == len(p) {
			return j
		}
		if p[j] == '\\' {
			s.keyBad, s.keyEsc = true, true // the APIs never escape the names we look for
			i = j + 1
			continue
		}
		s.state = sColon
		return j + 1
	}
	return i
}

// special marks the bytes that end a run of plain string content.
var special = [256]bool{'"': true, '\\': true}

// plainEnd returns the index of the first quote or backslash in p[i:], or len(p).
func plainEnd(p []byte, i int) int {
	for i < len(p) && !special[p[i]] {
		i++
	}
	return i
}

// str consumes string bytes from p[i:] and returns where it stopped: at the end of p, or past the
// closing quote.
func (s *scanner) str(p []byte, i int) int {
	for i < len(p) {
		if s.esc != 0 {
			s.escape(p[i])
			i++
			continue
		}
		j := plainEnd(p, i)
		if s.act != actNone {
			s.plain(p[i:j])
		}
		if j == len(p) {
			return j
		}
		if p[j] == '\\' {
			s.esc = 1
			i = j + 1
			continue
		}
		s.endString()
		return j + 1
	}
	return i
}

// chars counts the characters of UTF-8 text: the bytes that start a rune. Counting bytes rather than
// decoding makes the count the same wherever a chunk boundary cuts a rune.
func chars(b []byte) int64 {
	n := int64(len(b))
	for _, c := range b {
		if c&0xC0 == 0x80 {
			n--
		}
	}
	return n
}

func (s *scanner) plain(b []byte) {
	switch s.act {
	case actText:
		s.rec.chars += chars(b)
	case actDelta:
		s.rec.deltaChars += chars(b)
	case actModel, actType:
		if s.capLen+len(b) > maxCapture {
			s.capBad = true
			return
		}
		s.capLen += copy(s.capBuf[s.capLen:], b)
	}
}

// escape consumes one byte of an escape sequence.
func (s *scanner) escape(c byte) {
	if s.esc == 1 {
		if c == 'u' {
			s.esc, s.hex = 2, 0
			return
		}
		s.esc = 0
		switch c {
		case 'n':
			c = '\n'
		case 't':
			c = '\t'
		case 'r':
			c = '\r'
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		}
		s.char(rune(c))
		return
	}
	s.hex = s.hex<<4 | rune(unhex(c))
	if s.esc++; s.esc == 6 {
		s.esc = 0
		if s.hex >= 0xDC00 && s.hex <= 0xDFFF && (s.act == actText || s.act == actDelta) {
			return // the second half of a surrogate pair: the first counted the character
		}
		s.char(s.hex)
	}
}

// char adds one escaped character to the string in progress.
func (s *scanner) char(r rune) {
	switch s.act {
	case actText:
		s.rec.chars++
	case actDelta:
		s.rec.deltaChars++
	case actModel, actType:
		var buf [utf8.UTFMax]byte
		s.plain(utf8.AppendRune(buf[:0], r))
	}
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}

func (s *scanner) endString() {
	switch s.act {
	case actModel:
		if !s.capBad && s.capLen > 0 {
			s.model = string(s.capBuf[:s.capLen])
		}
	case actType:
		if !s.capBad && s.capLen <= maxType {
			s.rec.typLen = uint8(copy(s.rec.typ[:], s.capBuf[:s.capLen]))
		}
	}
	s.capLen = 0
	s.scalarDone()
}

// scalarDone ends a string, number or literal. A document that is one of these is no response of an
// API: it is not "whole" the way an object is.
func (s *scanner) scalarDone() {
	if s.depth == 0 {
		s.state = sDead
		return
	}
	s.state = sAfter
}

// scalar consumes a number or literal up to its delimiter, which it leaves for sAfter.
func (s *scanner) scalar(p []byte, i int) int {
	for ; i < len(p); i++ {
		c := p[i]
		if c == ',' || c == '}' || c == ']' || isSpace(c) {
			if s.act == actField {
				if v, ok := s.num.value(); ok {
					f := s.t.nodes[s.cur].field
					s.rec.fields[f] = v
					s.rec.mask |= 1 << f
				}
			}
			s.scalarDone()
			return i
		}
		if s.act == actField {
			s.num.feed(c)
		}
	}
	return i
}

// skip consumes a container of no interest, tracking only strings and nesting.
func (s *scanner) skip(p []byte, i int) int {
	for i < len(p) {
		if s.skipStr {
			if s.skipEsc {
				s.skipEsc = false
				i++
			}
			for i < len(p) {
				c := p[i]
				i++
				if c == '"' {
					s.skipStr = false
					break
				}
				if c == '\\' {
					s.skipEsc = true
					break
				}
			}
			continue
		}
		c := p[i]
		i++
		switch c {
		case '"':
			s.skipStr = true
		case '{', '[':
			s.skipDepth++
		case '}', ']':
			if s.skipDepth--; s.skipDepth == 0 {
				s.valueDone()
				return i
			}
		}
	}
	return i
}
