package usage

import "strings"

// Source says where a Usage's token counts come from.
type Source uint8

const (
	// None: the response reported no usage and carried no generated text (an error, an empty or
	// unreadable body). Nothing in it is billable output.
	None Source = iota
	// Estimated: no final usage arrived (a stream without include_usage, or one cut short); OutputTokens
	// is estimated from the generated text (see the package documentation), and input counts are those
	// reported before the end, if any.
	Estimated
	// Reported: the provider reported the call's usage.
	Reported
)

func (s Source) String() string {
	switch s {
	case Estimated:
		return "estimated"
	case Reported:
		return "reported"
	}
	return "none"
}

// Usage is what a call cost, in tokens, as far as its response tells.
type Usage struct {
	Model             string // as reported by the response; empty if it said none (the caller falls back to the request's)
	InputTokens       int64  // all input tokens, cached ones included (Anthropic: input + cache read + cache write); 0 if not reported
	CachedInputTokens int64  // input tokens read from the provider's prompt cache
	CacheWriteTokens  int64  // input tokens written to the prompt cache (Anthropic cache_creation_input_tokens)
	OutputTokens      int64  // generated tokens, reasoning included
	ReasoningTokens   int64  // of OutputTokens, the reasoning ones
	Source            Source
	Complete          bool  // the response ended properly: [DONE], message_stop, response.completed (or .incomplete, .failed), or a whole JSON body
	OutputChars       int64 // characters of generated text seen
}

// EstimateTokens estimates the tokens of chars characters of text: ceil(chars/4), so at least 1 for any
// text, and 0 for none.
func EstimateTokens(chars int64) int64 {
	if chars <= 0 {
		return 0
	}
	return (chars + 3) / 4
}

// totals is what the events dispatched so far said.
type totals struct {
	fields   [nFields]int64
	mask     uint16
	final    bool // a usage object that reports the whole call arrived
	complete bool
	chars    int64
}

// Meter reads a response body as it streams through, and tells what the call cost. Write it every byte of
// the body as the client gets it, in pieces of any size, then call Usage. The bytes must be the decoded
// body: a compressed one (Content-Encoding) meters as unreadable. A Meter is not safe for concurrent use;
// Usage may be called at any time, and again.
type Meter struct {
	format Format
	stream bool
	bom    uint8 // how much of a leading byte order mark has been skipped; bomDone when past it
	scan   scanner
	acc    totals
	events eventStream
	fresh  bool // the scanner was reset for an event's data, and fed nothing since
	memo   memo
}

// NewMeter returns a meter for a response in format f. stream says the response is an event stream
// (Content-Type text/event-stream); otherwise it is one JSON document.
func NewMeter(f Format, stream bool) *Meter {
	m := new(Meter)
	m.Reset(f, stream)
	return m
}

// Reset makes m a new meter for another response, as NewMeter does, so that meters can be pooled.
func (m *Meter) Reset(f Format, stream bool) {
	if int(f) >= len(tries) {
		f = Unknown
	}
	*m = Meter{format: f, stream: stream}
	m.scan.t = tries[f]
	m.scan.reset()
}

const bomDone = 3

var bom = [3]byte{0xEF, 0xBB, 0xBF}

// Write meters p. It never fails, and never keeps p.
func (m *Meter) Write(p []byte) (int, error) {
	n := len(p)
	for m.bom < bomDone && len(p) > 0 {
		if p[0] != bom[m.bom] {
			if m.bom > 0 && m.stream {
				m.events.junkLine() // the line began with part of a BOM: not a field we know
			}
			m.bom = bomDone
			break
		}
		m.bom++
		p = p[1:]
	}
	if m.stream {
		m.sse(p)
	} else {
		m.scan.write(p)
	}
	return n, nil
}

// buffered is how many bytes of the input m holds, at most maxBuffered whatever it is fed.
func (m *Meter) buffered() int { return m.scan.buffered() + m.events.buffered() }

const maxBuffered = maxKey + maxCapture + maxField + maxName + maxHead

// Usage returns what the response said so far. Call it once the body has ended or was cut: an event or
// JSON document still in progress counts for what was read of it.
func (m *Meter) Usage() Usage {
	t := m.acc
	if !m.stream || m.events.hasData {
		m.apply(&t, false)
	}
	u := Usage{Model: m.scan.model, Complete: t.complete, OutputChars: t.chars}
	has := func(f int) bool { return t.mask&(1<<f) != 0 }
	in := t.fields[fInput]
	if has(fPrompt) {
		in = t.fields[fPrompt]
	}
	out := t.fields[fOutput]
	if has(fCompletion) {
		out = t.fields[fCompletion]
	}
	// Anthropic's input_tokens leaves out the cache; OpenAI's prompt_tokens and input_tokens include it.
	if m.format == AnthropicMessages ||
		m.format == Unknown && (has(fCacheRead) || has(fCacheWrite)) && !has(fPrompt) {
		u.InputTokens = in + t.fields[fCacheRead] + t.fields[fCacheWrite]
		u.CachedInputTokens = t.fields[fCacheRead]
	} else {
		u.InputTokens = in
		switch {
		case has(fCached):
			u.CachedInputTokens = t.fields[fCached]
		case has(fCacheHit):
			u.CachedInputTokens = t.fields[fCacheHit]
		default:
			u.CachedInputTokens = t.fields[fCacheRead]
		}
	}
	u.CacheWriteTokens = t.fields[fCacheWrite]
	u.ReasoningTokens = t.fields[fReasoning]
	switch {
	case t.final:
		u.Source, u.OutputTokens = Reported, out
	case t.mask != 0 || t.chars > 0:
		u.Source, u.OutputTokens = Estimated, max(out, EstimateTokens(t.chars))
	}
	return u
}

// apply adds what the document in progress said to t. dispatched says the document is whole: an event
// ended by its blank line. A JSON body or an event cut short still counts its text and the usage numbers
// read to their end.
func (m *Meter) apply(t *totals, dispatched bool) {
	r := &m.scan.rec
	typ := r.typ[:r.typLen]
	if m.stream && m.events.nameLen > 0 && !m.events.nameBad {
		typ = m.events.name[:m.events.nameLen]
	}
	for f := range nFields {
		if r.mask&(1<<f) != 0 {
			t.fields[f] = r.fields[f]
		}
	}
	t.mask |= r.mask
	t.chars += r.chars
	if r.deltaChars > 0 && isTextDelta(typ) {
		t.chars += r.deltaChars
	}
	// Anthropic's message_start reports the input and a placeholder output; the final counts come later.
	if r.usageDone && string(typ) != "message_start" {
		t.final = true
	}
	ended := m.scan.state == sDone
	if m.stream {
		ended = dispatched || m.events.lineEnded && (ended || m.events.isDone())
		if ended && (m.events.isDone() || isTerminal(typ)) {
			t.complete = true
		}
	} else if ended {
		t.complete = true
	}
}

// isTerminal reports whether an event of type typ ends its stream properly.
func isTerminal(typ []byte) bool {
	switch string(typ) {
	case "message_stop", "response.completed", "response.incomplete", "response.failed":
		return true
	}
	return false
}

// isTextDelta reports whether a Responses event of type typ carries generated text in its delta: output
// text, refusals, reasoning, tool call arguments, audio transcripts — but not audio itself (base64).
func isTextDelta(typ []byte) bool {
	const prefix, suffix = "response.", ".delta"
	s := string(typ)
	if len(s) < len(prefix)+len(suffix) || s[:len(prefix)] != prefix || s[len(s)-len(suffix):] != suffix {
		return false
	}
	return !strings.Contains(s, "audio") || strings.Contains(s, "transcript")
}
