package mock

import (
	"encoding/json"
	"net/http"
)

// openAIUsage is the usage OpenAI reports for chat and legacy completions.
type openAIUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

func newOpenAIUsage(in, out int) openAIUsage {
	return openAIUsage{PromptTokens: in, CompletionTokens: out, TotalTokens: in + out}
}

type chatCompletion struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices [1]chatChoice `json:"choices"`
	Usage   openAIUsage   `json:"usage"`
}

type chatChoice struct {
	Index   int `json:"index"`
	Message struct {
		Role    string  `json:"role"`
		Content string  `json:"content"`
		Refusal *string `json:"refusal"`
	} `json:"message"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason string    `json:"finish_reason"`
}

type textCompletion struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices [1]textChoice `json:"choices"`
	Usage   openAIUsage   `json:"usage"`
}

type textChoice struct {
	Text         string    `json:"text"`
	Index        int       `json:"index"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason string    `json:"finish_reason"`
}

// finishReason is OpenAI's name for why the answer ended.
func finishReason(limited bool) string {
	if limited {
		return "length"
	}
	return "stop"
}

// chat answers /v1/chat/completions.
func (x *exchange) chat() {
	n, limited := x.length()
	id, created := newID("chatcmpl-mock-"), x.u.now().Unix()
	if !x.c.stream {
		resp := chatCompletion{ID: id, Object: "chat.completion", Created: created, Model: x.c.model,
			Usage: newOpenAIUsage(x.c.inputTokens, n)}
		ch := &resp.Choices[0]
		ch.Message.Role = "assistant"
		ch.Message.Content = x.u.answers.words(n)
		ch.FinishReason = finishReason(limited)
		writeBody(x.w, http.StatusOK, &resp)
		return
	}

	s := x.startStream()
	defer s.close()
	s.head = appendChunkHead(s.head, id, "chat.completion.chunk", created, x.c.model)
	nullUsage := x.c.includeUsage

	s.buf = append(s.buf, s.head...)
	s.buf = append(s.buf, `"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]`...)
	s.buf = endChunk(s.buf, nullUsage)
	if !s.send() {
		return
	}
	if !s.content(x, n, x.chunks(n), func(b []byte, delta string) []byte {
		b = append(b, s.head...)
		b = append(b, `"choices":[{"index":0,"delta":{"content":`...)
		b = appendString(b, delta)
		b = append(b, `},"logprobs":null,"finish_reason":null}]`...)
		return endChunk(b, nullUsage)
	}) {
		return
	}
	s.buf = append(s.buf, s.head...)
	s.buf = append(s.buf, `"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"`...)
	s.buf = append(s.buf, finishReason(limited)...)
	s.buf = append(s.buf, `"}]`...)
	s.buf = endChunk(s.buf, nullUsage)
	if !s.send() {
		return
	}
	x.endOpenAIStream(s, n)
}

// completion answers /v1/completions, the legacy text completions.
func (x *exchange) completion() {
	n, limited := x.length()
	id, created := newID("cmpl-mock-"), x.u.now().Unix()
	if !x.c.stream {
		resp := textCompletion{ID: id, Object: "text_completion", Created: created, Model: x.c.model,
			Usage: newOpenAIUsage(x.c.inputTokens, n)}
		resp.Choices[0] = textChoice{Text: x.u.answers.words(n), FinishReason: finishReason(limited)}
		writeBody(x.w, http.StatusOK, &resp)
		return
	}

	s := x.startStream()
	defer s.close()
	s.head = appendChunkHead(s.head, id, "text_completion", created, x.c.model)
	nullUsage := x.c.includeUsage

	if !s.content(x, n, x.chunks(n), func(b []byte, delta string) []byte {
		b = append(b, s.head...)
		b = append(b, `"choices":[{"text":`...)
		b = appendString(b, delta)
		b = append(b, `,"index":0,"logprobs":null,"finish_reason":null}]`...)
		return endChunk(b, nullUsage)
	}) {
		return
	}
	s.buf = append(s.buf, s.head...)
	s.buf = append(s.buf, `"choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"`...)
	s.buf = append(s.buf, finishReason(limited)...)
	s.buf = append(s.buf, `"}]`...)
	s.buf = endChunk(s.buf, nullUsage)
	if !s.send() {
		return
	}
	x.endOpenAIStream(s, n)
}

// endOpenAIStream sends the usage chunk, if the request asked for it, and [DONE].
func (x *exchange) endOpenAIStream(s *eventStream, n int) {
	if x.c.includeUsage {
		usage, err := json.Marshal(newOpenAIUsage(x.c.inputTokens, n))
		if err != nil {
			panic(err) // a struct of ints
		}
		s.buf = append(s.buf, s.head...)
		s.buf = append(s.buf, `"choices":[],"usage":`...)
		s.buf = append(s.buf, usage...)
		s.buf = append(s.buf, "}\n\n"...)
		if !s.send() {
			return
		}
	}
	s.buf = append(s.buf, "data: [DONE]\n\n"...)
	s.send()
}

// appendChunkHead appends what every chunk of an OpenAI stream starts with, up to its choices.
func appendChunkHead(b []byte, id, object string, created int64, model string) []byte {
	b = append(b, `data: {"id":`...)
	b = appendString(b, id)
	b = append(b, `,"object":"`...)
	b = append(b, object...)
	b = append(b, `","created":`...)
	b = appendInt(b, int(created))
	b = append(b, `,"model":`...)
	b = appendString(b, model)
	return append(b, ',')
}

// endChunk closes a chunk. With include_usage, every chunk but the last carries "usage": null, as
// OpenAI's do.
func endChunk(b []byte, nullUsage bool) []byte {
	if nullUsage {
		b = append(b, `,"usage":null`...)
	}
	return append(b, "}\n\n"...)
}
