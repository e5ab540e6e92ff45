package usage

import "strings"

// Format is the API shape of a call: it decides what a request body carries and how a response reports
// usage. The zero value is Unknown, which is metered generically (any of the shapes below).
type Format uint8

const (
	Unknown           Format = iota // any other path: metered as whichever of the shapes below it turns out to be
	OpenAIChat                      // POST /v1/chat/completions
	OpenAICompletion                // POST /v1/completions (legacy text completions)
	OpenAIEmbedding                 // POST /v1/embeddings
	OpenAIResponses                 // POST /v1/responses
	AnthropicMessages               // POST /v1/messages
)

var formatNames = [...]string{
	Unknown:           "unknown",
	OpenAIChat:        "openai_chat",
	OpenAICompletion:  "openai_completion",
	OpenAIEmbedding:   "openai_embedding",
	OpenAIResponses:   "openai_responses",
	AnthropicMessages: "anthropic_messages",
}

func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "unknown"
}

// endpoints maps a path suffix to its format. Anything may precede the suffix ("/openai/v1/chat/completions",
// "/proxy/v1/messages"), so a gateway can mount providers under prefixes.
var endpoints = [...]struct {
	suffix string
	format Format
}{
	{"/v1/chat/completions", OpenAIChat},
	{"/v1/completions", OpenAICompletion},
	{"/v1/embeddings", OpenAIEmbedding},
	{"/v1/responses", OpenAIResponses},
	{"/v1/messages", AnthropicMessages},
}

// FormatFor returns the format of a call to path at a provider: "openai", "anthropic", or "auto" (any
// other value means auto too). The path decides; the provider only rules out the endpoints it does not
// have:
//
//   - auto: all five endpoints.
//   - openai: the four OpenAI endpoints; /v1/messages is Unknown.
//   - anthropic: /v1/messages, and /v1/chat/completions (Anthropic's OpenAI-compatible endpoint); the
//     rest are Unknown.
//
// A query string and a trailing slash are ignored. Unknown paths are Unknown, which a Meter still meters
// generically.
func FormatFor(path string, provider string) Format {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	path = strings.TrimSuffix(path, "/")
	f := Unknown
	for _, e := range endpoints {
		if strings.HasSuffix(path, e.suffix) {
			f = e.format
			break
		}
	}
	switch provider {
	case "openai":
		if f == AnthropicMessages {
			return Unknown
		}
	case "anthropic":
		if f != AnthropicMessages && f != OpenAIChat {
			return Unknown
		}
	}
	return f
}
