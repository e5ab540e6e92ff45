package mock

import "net/http"

type anthropicMessage struct {
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	Role         string          `json:"role"`
	Model        string          `json:"model"`
	Content      []anthropicText `json:"content"`
	StopReason   *string         `json:"stop_reason"`
	StopSequence *string         `json:"stop_sequence"`
	Usage        anthropicUsage  `json:"usage"`
}

type anthropicText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type anthropicUsage struct {
	InputTokens              int `json:"input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	OutputTokens             int `json:"output_tokens"`
}

// The Anthropic stream's events other than content_block_delta, by shape.
type (
	messageStartEvent struct {
		Type    string            `json:"type"`
		Message *anthropicMessage `json:"message"`
	}
	contentBlockStartEvent struct {
		Type         string        `json:"type"`
		Index        int           `json:"index"`
		ContentBlock anthropicText `json:"content_block"`
	}
	contentBlockStopEvent struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
	}
	messageDeltaEvent struct {
		Type  string `json:"type"`
		Delta struct {
			StopReason   string  `json:"stop_reason"`
			StopSequence *string `json:"stop_sequence"`
		} `json:"delta"`
		Usage struct {
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	}
	typeOnlyEvent struct {
		Type string `json:"type"`
	}
)

// contentBlockDelta starts every text delta of an Anthropic stream.
const contentBlockDelta = "event: content_block_delta\n" +
	`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`

// message answers /v1/messages, Anthropic's Messages API. The stream sends Anthropic's event sequence:
// message_start (with the input tokens, and output_tokens 1), content_block_start, ping, the
// content_block_deltas, content_block_stop, message_delta (with the stop reason and the output tokens),
// message_stop.
func (x *exchange) message() {
	n, limited := x.length()
	stop := "end_turn"
	if limited {
		stop = "max_tokens"
	}
	msg := &anthropicMessage{
		ID:      newID("msg_mock"),
		Type:    "message",
		Role:    "assistant",
		Model:   x.c.model,
		Content: []anthropicText{{Type: "text", Text: x.u.answers.words(n)}},
		Usage:   anthropicUsage{InputTokens: x.c.inputTokens, OutputTokens: n},
	}
	if !x.c.stream {
		msg.StopReason = &stop
		writeBody(x.w, http.StatusOK, msg)
		return
	}

	s := x.startStream()
	defer s.close()
	msg.Content = []anthropicText{}
	msg.Usage.OutputTokens = 1
	ok := s.event("message_start", messageStartEvent{"message_start", msg}) &&
		s.event("content_block_start", contentBlockStartEvent{"content_block_start", 0, anthropicText{Type: "text"}}) &&
		s.event("ping", typeOnlyEvent{"ping"})
	if !ok {
		return
	}
	if !s.content(x, n, x.chunks(n), func(b []byte, delta string) []byte {
		b = append(b, contentBlockDelta...)
		b = appendString(b, delta)
		return append(b, "}}\n\n"...)
	}) {
		return
	}
	done := messageDeltaEvent{Type: "message_delta"}
	done.Delta.StopReason = stop
	done.Usage.OutputTokens = n
	_ = s.event("content_block_stop", contentBlockStopEvent{"content_block_stop", 0}) &&
		s.event("message_delta", done) &&
		s.event("message_stop", typeOnlyEvent{"message_stop"})
}
