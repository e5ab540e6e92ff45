package usage

import "fmt"

// Request is what the gateway needs from a request body before forwarding it.
type Request struct {
	Model           string
	Stream          bool
	IncludeUsage    bool  // stream_options.include_usage is already true
	MaxOutputTokens int64 // max_completion_tokens or max_tokens (chat), max_tokens (completions, Anthropic), max_output_tokens (Responses); 0 if absent
	InputChars      int64 // characters of text the request carries, for estimates (see textChars)
}

// The members whose text is the request's input: messages (chat, Anthropic), prompt (completions), input
// (embeddings, Responses), system (Anthropic), instructions (Responses).
var inputMembers = [...]string{"messages", "prompt", "input", "system", "instructions"}

// ParseRequest reads a request body in format f. Members of the wrong type are ignored, as absent; a
// duplicated member counts for its last value, as encoding/json decides. The error says the body is not
// a JSON object.
func ParseRequest(f Format, body []byte) (Request, error) {
	var (
		r                                Request
		maxTokens, maxCompletion, maxOut = int64(-1), int64(-1), int64(-1)
		inputs                           [len(inputMembers)]int64
	)
	_, err := members(body, 0, func(name []byte, start int) int {
		for i, in := range inputMembers {
			if nameIs(name, in) {
				end, n := textSpan(body, start) // the prompt: read once, as its text is counted
				inputs[i] = n
				return end
			}
		}
		v, end := valueOf(body, start)
		switch {
		case nameIs(name, "model"):
			r.Model = jsonString(v)
		case nameIs(name, "stream"):
			r.Stream = string(v) == "true"
		case nameIs(name, "stream_options"):
			r.IncludeUsage = includeUsage(v)
		case nameIs(name, "max_tokens"):
			maxTokens = intOr(v, -1)
		case nameIs(name, "max_completion_tokens"):
			maxCompletion = intOr(v, -1)
		case nameIs(name, "max_output_tokens"):
			maxOut = intOr(v, -1)
		}
		return end
	})
	if err != nil {
		return Request{}, fmt.Errorf("parsing request body: %w", err)
	}
	for _, n := range inputs {
		r.InputChars += n
	}
	var limits []int64
	switch f {
	case OpenAIChat:
		limits = []int64{maxCompletion, maxTokens} // the newer name wins, as the API decides
	case OpenAICompletion, AnthropicMessages:
		limits = []int64{maxTokens}
	case OpenAIResponses:
		limits = []int64{maxOut}
	case Unknown:
		limits = []int64{maxCompletion, maxOut, maxTokens}
	}
	for _, l := range limits {
		if l >= 0 {
			r.MaxOutputTokens = l
			break
		}
	}
	return r, nil
}

func intOr(v []byte, absent int64) int64 {
	if n, ok := jsonInt(v); ok {
		return n
	}
	return absent
}

// includeUsage reports whether a stream_options value sets include_usage to true.
func includeUsage(v []byte) bool {
	on := false
	_, _ = members(v, 0, func(name []byte, start int) int {
		val, end := valueOf(v, start)
		if nameIs(name, "include_usage") {
			on = string(val) == "true"
		}
		return end
	})
	return on
}

// excludedKeys are members whose values are not text a model reads as tokens of its input, or whose
// tokens cannot be told from their characters: roles and types, ids, images, audio and files (base64 or
// URLs), opaque signatures and encrypted reasoning, cache hints.
var excludedKeys = map[string]bool{
	"type": true, "role": true, "id": true, "tool_call_id": true, "tool_use_id": true, "call_id": true,
	"image_url": true, "url": true, "file_url": true, "file_id": true, "file_data": true, "data": true,
	"media_type": true, "mime_type": true, "detail": true, "format": true, "signature": true,
	"encrypted_content": true, "cache_control": true, "status": true, "annotations": true, "logprobs": true,
}

// textSpan returns the index just past the value that starts at b[i] (-1 if b ends inside it) and the text
// in it: the characters of every string, except the values of excludedKeys, and 4 characters (one token)
// for each number in an array — prompts and embedding inputs may be given as token ids. It walks the value
// without recursion, so depth costs nothing.
func textSpan(b []byte, i int) (end int, n int64) {
	depth := 0
	prev := byte(0) // the last structural byte, to tell an array's numbers from members' values
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			end, chars := stringSpan(b, i)
			switch {
			case end < 0:
				return -1, n + chars
			case depth == 0:
				return end, chars
			}
			if j := skipSpace(b, end); j < len(b) && b[j] == ':' { // a member name
				if excludedKeys[string(b[i+1:end-1])] {
					if i = valueEnd(b, skipSpace(b, j+1)); i < 0 {
						return -1, n
					}
					prev = 'v'
					continue
				}
				i, prev = j+1, ':'
				continue
			}
			n += chars
			i, prev = end, 'v'
		case c == '{' || c == '[':
			depth++
			i, prev = i+1, c
		case c == '}' || c == ']':
			if depth--; depth < 0 {
				return -1, n
			}
			i, prev = i+1, c
			if depth == 0 {
				return i, n
			}
		case c == ',' || c == ':':
			if depth == 0 {
				return -1, n
			}
			i, prev = i+1, c
		case isSpace(c):
			i++
		default: // a number, true, false or null
			if (c == '-' || c >= '0' && c <= '9') && (prev == '[' || prev == ',') {
				n += 4
			}
			if i = valueEnd(b, i); i < 0 || depth == 0 {
				return i, n
			}
			prev = 'v'
		}
	}
	return -1, n
}
