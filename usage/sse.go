package usage

import "bytes"

// The bounds of the event stream's state.
const (
	maxField = 8  // longer field names are none of data, event
	maxName  = 64 // longer event names are of no interest
	maxHead  = 16 // of an event's data, enough to recognise [DONE]
)

type lineState uint8

const (
	lineStart      lineState = iota // at the start of a line
	lineField                       // in a field name
	lineValueStart                  // after the colon: an optional space
	lineValue                       // in a field value
	lineSkip                        // in a comment or a line of no interest
)

type fieldKind uint8

const (
	fieldOther fieldKind = iota
	fieldData
	fieldEvent
)

// eventStream is the framing state of a server-sent event stream, as the WHATWG HTML standard
// ("Interpreting an event stream") defines it. Only the data and event fields matter here; id and retry
// are ignored like unknown fields.
type eventStream struct {
	line     lineState
	afterCR  bool // the last byte was \r: a \n right after it ends no line
	kind     fieldKind
	fieldLen uint8
	fieldBad bool
	field    [maxField]byte

	// The event in progress.
	hasData   bool // a data line was seen: the blank line dispatches the event
	lineEnded bool // the last data line ended
	nameLen   uint8
	nameBad   bool
	name      [maxName]byte
	headLen   uint8
	head      [maxHead]byte
	dataLen   int64
}

func (e *eventStream) buffered() int {
	return int(e.fieldLen) + int(e.nameLen) + int(e.headLen)
}

// junkLine makes the line in progress one of no interest.
func (e *eventStream) junkLine() {
	e.line, e.fieldLen, e.fieldBad = lineField, 0, true
}

// isDone reports whether the event's data is the OpenAI stream's last, [DONE].
func (e *eventStream) isDone() bool {
	return e.dataLen <= maxHead && string(bytes.TrimSpace(e.head[:e.headLen])) == "[DONE]"
}

var newline = []byte{'\n'}

// sse meters p, a piece of an event stream.
func (m *Meter) sse(p []byte) {
	e := &m.events
	eol := eolFinder{lf: -1}
	for len(p) > 0 {
		if e.afterCR {
			e.afterCR = false
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		switch e.line {
		case lineStart:
			switch c := p[0]; c {
			case '\n', '\r':
				e.afterCR = c == '\r'
				p = p[1:]
				m.dispatch()
			case ':':
				e.line = lineSkip
				p = p[1:]
			default:
				e.line, e.fieldLen, e.fieldBad = lineField, 0, false
			}
		case lineField:
			i := 0
			for ; i < len(p); i++ {
				c := p[i]
				if c == ':' || c == '\n' || c == '\r' {
					break
				}
				if int(e.fieldLen) < maxField {
					e.field[e.fieldLen] = c
					e.fieldLen++
				} else {
					e.fieldBad = true
				}
			}
			p = p[i:]
			if len(p) == 0 {
				return
			}
			e.kind = fieldOther
			if !e.fieldBad {
				switch string(e.field[:e.fieldLen]) {
				case "data":
					e.kind = fieldData
				case "event":
					e.kind = fieldEvent
				}
			}
			e.fieldLen = 0
			m.startValue()
			if c := p[0]; c == ':' {
				e.line = lineValueStart
			} else { // a line without a colon is a field with an empty value
				e.afterCR = c == '\r'
				m.endLine()
			}
			p = p[1:]
		case lineValueStart:
			if p[0] == ' ' {
				p = p[1:]
			}
			e.line = lineValue
		case lineValue:
			i := eol.index(p)
			v := p
			if i >= 0 {
				v = p[:i]
			}
			switch e.kind {
			case fieldData:
				m.data(v)
			case fieldEvent:
				if int(e.nameLen)+len(v) > maxName {
					e.nameBad = true
				} else {
					e.nameLen += uint8(copy(e.name[e.nameLen:], v))
				}
			}
			if i < 0 {
				return
			}
			e.afterCR = p[i] == '\r'
			p = p[i+1:]
			m.endLine()
		case lineSkip:
			i := eol.index(p)
			if i < 0 {
				return
			}
			e.afterCR = p[i] == '\r'
			p = p[i+1:]
			e.line = lineStart
		}
	}
}

// eolFinder finds line ends in the piece of stream one sse call meters. It remembers where the next \n
// is, so that a stream whose lines end in \r is not searched to its next \n (maybe far, maybe absent)
// once per line: each byte of a piece is searched at most twice.
type eolFinder struct {
	lf int // where the next \n is, counted back from the end of the piece; 0: none; -1: not searched
}

// index returns the index of the first \n or \r in p, or -1. p is the rest of the piece: each call's p
// is a suffix of the last one's.
func (f *eolFinder) index(p []byte) int {
	if f.lf < 0 || f.lf > len(p) { // not searched yet, or that \n was consumed
		f.lf = 0
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			f.lf = len(p) - i
		}
	}
	i, q := -1, p
	if f.lf > 0 {
		i = len(p) - f.lf
		q = p[:i]
	}
	if j := bytes.IndexByte(q, '\r'); j >= 0 {
		return j
	}
	return i
}

// startValue begins the value of a data or event field.
func (m *Meter) startValue() {
	e := &m.events
	switch e.kind {
	case fieldEvent:
		e.nameLen, e.nameBad = 0, false
	case fieldData:
		switch {
		case !e.hasData:
			e.hasData = true
			m.scan.reset()
			m.fresh = true
		case m.scan.state == sDone:
			// The last data line held a whole JSON value: a provider that ends events with one line
			// break instead of two. Splitting here cannot mistake a spec-conforming stream, whose JSON
			// data never spans lines after a complete value, and keeps the later events' usage.
			m.dispatch()
			e.hasData = true
			m.scan.reset()
			m.fresh = true
		default:
			m.data(newline) // data lines join with a line feed
		}
		e.lineEnded = false
	}
}

func (m *Meter) endLine() {
	e := &m.events
	e.line = lineStart
	if e.kind == fieldData {
		e.lineEnded = true
	}
}

// data feeds a piece of the event's data to the JSON scanner.
func (m *Meter) data(v []byte) {
	e := &m.events
	if int(e.headLen) < maxHead {
		e.headLen += uint8(copy(e.head[e.headLen:], v))
	}
	e.dataLen += int64(len(v))
	if m.fresh {
		m.fresh = false
		v = m.memo.skip(&m.scan, v)
	}
	m.scan.write(v)
}

// dispatch ends the event in progress, at a blank line.
func (m *Meter) dispatch() {
	e := &m.events
	if e.hasData {
		m.apply(&m.acc, true)
	}
	e.hasData, e.lineEnded, e.nameLen, e.nameBad, e.headLen, e.dataLen = false, false, 0, false, 0, 0
}
