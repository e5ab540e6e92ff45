package usage

import "fmt"

const (
	includeUsageMember = `"include_usage":true`
	streamOptionsValue = `{` + includeUsageMember + `}`
)

// WithStreamUsage returns body with stream_options.include_usage set to true, so that an OpenAI chat or
// completions stream ends with a usage chunk. It applies only to those two formats, and only when the body
// sets "stream": true: the API refuses stream_options on a request that does not stream.
//
// The body is edited in place, not re-encoded: every byte outside the edit survives, so key order,
// number formatting and whitespace stay as the client sent them. The edit is one of:
//
//   - no stream_options: `,"stream_options":{"include_usage":true}` after the last member;
//   - stream_options an object without include_usage: `"include_usage":true` added as its last member;
//   - include_usage anything but true (false, null): that value replaced by true;
//   - stream_options anything but an object (null): that value replaced by {"include_usage":true}.
//
// changed is false, and out is body, when there is nothing to do. The error says the body is not a JSON
// object.
func WithStreamUsage(f Format, body []byte) (out []byte, changed bool, err error) {
	return withStreamUsage(f, body, false)
}

// AddStreamUsage is WithStreamUsage editing body's own bytes, when its capacity has room for the edit (40
// bytes at most), instead of making a new body: for a caller whose buffer is its own to change.
func AddStreamUsage(f Format, body []byte) (out []byte, changed bool, err error) {
	return withStreamUsage(f, body, true)
}

func withStreamUsage(f Format, body []byte, inPlace bool) (out []byte, changed bool, err error) {
	if f != OpenAIChat && f != OpenAICompletion {
		return body, false, nil
	}
	stream := false
	optStart, optEnd, lastEnd := -1, -1, -1
	_, err = members(body, 0, func(name []byte, start int) int {
		v, end := valueOf(body, start)
		switch {
		case nameIs(name, "stream"):
			stream = string(v) == "true"
		case nameIs(name, "stream_options"):
			optStart, optEnd = start, end
		}
		lastEnd = end
		return end
	})
	if err != nil {
		return body, false, fmt.Errorf("adding stream usage to request body: %w", err)
	}
	if !stream {
		return body, false, nil
	}
	if optStart < 0 {
		return splice(body, lastEnd, lastEnd, `,"stream_options":`+streamOptionsValue, inPlace), true, nil
	}
	if body[optStart] != '{' {
		return splice(body, optStart, optEnd, streamOptionsValue, inPlace), true, nil
	}
	incStart, incEnd, last := -1, -1, -1
	if _, err := members(body, optStart, func(name []byte, start int) int {
		end := valueEnd(body, start)
		if nameIs(name, "include_usage") {
			incStart, incEnd = start, end
		}
		last = end
		return end
	}); err != nil {
		return body, false, fmt.Errorf("adding stream usage to request body: stream_options: %w", err)
	}
	switch {
	case incStart >= 0 && string(body[incStart:incEnd]) == "true":
		return body, false, nil
	case incStart >= 0:
		return splice(body, incStart, incEnd, "true", inPlace), true, nil
	case last < 0: // an empty object
		return splice(body, optStart+1, optStart+1, includeUsageMember, inPlace), true, nil
	}
	return splice(body, last, last, ","+includeUsageMember, inPlace), true, nil
}

// splice returns b with b[start:end] replaced by s: in b's own bytes if inPlace and its capacity allows,
// else in a new slice.
func splice(b []byte, start, end int, s string, inPlace bool) []byte {
	n := len(b) - (end - start) + len(s)
	if inPlace && n <= cap(b) {
		out := b[:n]
		copy(out[start+len(s):], b[end:])
		copy(out[start:], s)
		return out
	}
	out := make([]byte, 0, n)
	out = append(out, b[:start]...)
	out = append(out, s...)
	return append(out, b[end:]...)
}
