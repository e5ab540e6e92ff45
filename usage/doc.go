// Package usage knows the wire formats of the AI APIs the gateway proxies well enough to tell what a call
// cost: [ParseRequest] reads what the gateway needs from a request body, [WithStreamUsage] asks an OpenAI
// stream to report its usage, and a [Meter] reads the response as it streams through and reports the
// tokens the provider counted. [Meter.Whole] meters an answer held whole, and reads only the ends of a stream
// whose last events report its usage.
//
// # Formats
//
// A [Format] is an API shape, chosen from the request path by [FormatFor]: OpenAI chat completions,
// legacy completions, embeddings and Responses, and Anthropic Messages. Each is metered as a JSON body
// or as a server-sent event stream, as the real APIs send them (the mock upstream in package mock sends
// the same shapes). OpenAI-compatible providers that send usage in every chunk, or "usage": null until
// the last, are metered too: the last usage object wins, field by field.
//
// # Bounded memory, any chunking
//
// A Meter never holds back the bytes it meters. It is a byte-at-a-time state machine — SSE framing
// (WHATWG rules: \n, \r\n or \r line ends, comments, multi-line data, event names) over an incremental
// JSON scanner that keeps only the few values it needs (the usage numbers, the model, the event type)
// and counts generated text as it passes. Its whole state is a fixed-size struct of under 2 KiB: a 10 MB
// line, a 1 GB embeddings body or binary garbage cost no more. Because the machine consumes one byte at
// a time, where the chunk boundaries fall (inside "data:", inside a UTF-8 rune, between \r and \n) never
// changes the result. The one copy it makes is of an event's first 256 bytes at most, with the state the
// scanner reached over the start the event shared with the one before: the next event that begins the
// same starts from that state (see memo), which halves the work of a typical chat stream.
//
// # The estimate rule
//
// When a response carries no final usage — an OpenAI stream without stream_options.include_usage, a
// stream cut before its last events, a body cut before "usage" — the Meter reports Source [Estimated]
// and estimates the output as [EstimateTokens] of the generated characters it saw: ceil(chars / 4),
// the usual rule of thumb for English text with OpenAI's and Anthropic's tokenizers. A character is a
// Unicode code point of the decoded text (an escape such as \n or \u00e9 is one character). What counts
// as generated text: message content and text deltas, refusals, reasoning text and summaries, and tool
// call arguments. If the provider reported an output count before the cut (Anthropic's message_start
// reports 1), the larger of the two is used. Reported input tokens (Anthropic's message_start) are kept;
// when none were reported, InputTokens is 0 and the caller estimates it from [Request].InputChars with
// the same rule.
package usage
