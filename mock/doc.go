// Package mock provides the Caddy module http.handlers.ai_mock: a deterministic upstream that speaks
// enough of the OpenAI and Anthropic HTTP APIs for the gateway's tests and benchmarks, and for a first
// run without a provider key. Its answers carry usage the way the real APIs report it, so a usage meter
// written against the real APIs meters the mock unchanged.
//
// # Endpoints
//
// All take POST with a JSON body; any other method gets 405, any other path 404.
//
//   - /v1/chat/completions (OpenAI chat), JSON or stream
//   - /v1/completions (OpenAI legacy completions), JSON or stream
//   - /v1/embeddings (OpenAI), JSON; encoding_format "float" (default) or "base64"
//   - /v1/responses (OpenAI Responses), JSON or stream
//   - /v1/messages (Anthropic Messages), JSON or stream
//
// OpenAI streams end with a usage chunk only when the request sets stream_options.include_usage, as the
// real API does; Responses and Anthropic streams always report usage. Errors are shaped like the real
// API's: {"error":{"message","type","param","code"}} on the OpenAI paths and
// {"type":"error","error":{"type","message"}} on /v1/messages.
//
// # Tokens
//
// The mock's tokenizer is [CountTokens]: a token is a whitespace-separated word. A request's input tokens
// are the sum of CountTokens over every text it carries, and at least 1:
//
//   - chat: each message's content (a string, or parts of type "text");
//   - completions: prompt (a string or an array of strings);
//   - embeddings: input (a string or an array of strings);
//   - responses: instructions, and input (a string, or items whose content is a string or parts of type
//     "input_text" or "output_text");
//   - messages: system (a string or text blocks), and each message's content (a string or blocks of
//     type "text").
//
// Roles, names, tool definitions and non-text parts (images, tool calls) count nothing.
// [PromptTokens] computes this for a request body, so a test can predict what the mock will report.
//
// The answer is n words from a fixed word list, so its output tokens are exactly n. Without a limit in
// the request (max_tokens, max_completion_tokens, max_output_tokens) n is output_tokens (default 16);
// with one, n is that limit, but at most output_tokens_cap (default 4096). When the request's limit
// decides n, the answer says so: finish_reason "length" (OpenAI) or stop_reason "max_tokens"
// (Anthropic); otherwise "stop" or "end_turn". Responses always report status "completed".
//
// # Override headers
//
// A request may carry headers that change how this one request is answered, so a test that reaches
// the mock through a proxy can inject behaviour. A malformed value gets 400.
//
//   - X-Mock-Latency: a Go duration ("250ms") to wait before the response headers, instead of latency.
//   - X-Mock-Status: an HTTP status 400-599 to answer with, after the latency, with an error body in
//     the path's API shape; 429, 503 and 529 also carry Retry-After: 1. The request body is not
//     checked.
//   - X-Mock-Chunks: the number of content chunks in a stream, instead of chunks; 0 means one per token.
//   - X-Mock-Chunk-Gap: a Go duration to wait between content chunks, instead of chunk_gap.
//   - X-Mock-Output-Tokens: the answer's length in tokens, instead of output_tokens. The request's own
//     limit still applies (and then decides finish_reason), and so does output_tokens_cap.
//   - X-Mock-Cut-After: n; a stream is cut off after n content chunks (or after the last, if it has
//     fewer): the mock flushes what it sent and aborts the connection, so the client sees a truncated
//     stream with neither the closing events, nor the usage, nor [DONE]. Ignored by JSON answers.
//
// The mock honours the request's context: a client that goes away during a wait ends the answer.
//
// # Caddyfile
//
//	:8081 {
//		ai_mock
//	}
//
// See [Upstream.UnmarshalCaddyfile] for the options.
package mock
