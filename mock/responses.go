package mock

import "net/http"

type responseObject struct {
	ID        string         `json:"id"`
	Object    string         `json:"object"`
	CreatedAt int64          `json:"created_at"`
	Status    string         `json:"status"`
	Model     string         `json:"model"`
	Output    []responseItem `json:"output"`
	Usage     *responseUsage `json:"usage"` // null until the response is complete
}

type responseItem struct {
	ID      string       `json:"id"`
	Type    string       `json:"type"`
	Status  string       `json:"status"`
	Role    string       `json:"role"`
	Content []outputText `json:"content"`
}

type outputText struct {
	Type        string      `json:"type"`
	Text        string      `json:"text"`
	Annotations [0]struct{} `json:"annotations"`
}

type responseUsage struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int `json:"total_tokens"`
}

// The Responses stream's events, by shape.
type (
	responseLifecycleEvent struct {
		Type           string          `json:"type"`
		SequenceNumber int             `json:"sequence_number"`
		Response       *responseObject `json:"response"`
	}
	responseItemEvent struct {
		Type           string       `json:"type"`
		SequenceNumber int          `json:"sequence_number"`
		OutputIndex    int          `json:"output_index"`
		Item           responseItem `json:"item"`
	}
	responsePartEvent struct {
		Type           string     `json:"type"`
		SequenceNumber int        `json:"sequence_number"`
		ItemID         string     `json:"item_id"`
		OutputIndex    int        `json:"output_index"`
		ContentIndex   int        `json:"content_index"`
		Part           outputText `json:"part"`
	}
	responseTextDoneEvent struct {
		Type           string `json:"type"`
		SequenceNumber int    `json:"sequence_number"`
		ItemID         string `json:"item_id"`
		OutputIndex    int    `json:"output_index"`
		ContentIndex   int    `json:"content_index"`
		Text           string `json:"text"`
	}
)

// response answers /v1/responses. The stream sends the events the real API sends for a one-message
// answer, in its order; every event is named, and numbered by sequence_number.
func (x *exchange) response() {
	n, _ := x.length()
	answer := x.u.answers.words(n)
	resp := &responseObject{
		ID:        newID("resp_mock"),
		Object:    "response",
		CreatedAt: x.u.now().Unix(),
		Status:    "completed",
		Model:     x.c.model,
	}
	item := responseItem{
		ID:      newID("msg_mock"),
		Type:    "message",
		Status:  "completed",
		Role:    "assistant",
		Content: []outputText{{Type: "output_text", Text: answer}},
	}
	usage := &responseUsage{InputTokens: x.c.inputTokens, OutputTokens: n, TotalTokens: x.c.inputTokens + n}
	if !x.c.stream {
		resp.Output, resp.Usage = []responseItem{item}, usage
		writeBody(x.w, http.StatusOK, resp)
		return
	}

	s := x.startStream()
	defer s.close()
	pending := *resp
	pending.Status, pending.Output = "in_progress", []responseItem{}
	emptyItem := item
	emptyItem.Status, emptyItem.Content = "in_progress", []outputText{}
	ok := s.event("response.created", responseLifecycleEvent{"response.created", s.nextSeq(), &pending}) &&
		s.event("response.in_progress", responseLifecycleEvent{"response.in_progress", s.nextSeq(), &pending}) &&
		s.event("response.output_item.added", responseItemEvent{"response.output_item.added", s.nextSeq(), 0, emptyItem}) &&
		s.event("response.content_part.added", responsePartEvent{"response.content_part.added", s.nextSeq(), item.ID, 0, 0,
			outputText{Type: "output_text"}})
	if !ok {
		return
	}

	s.head = append(s.head, "event: response.output_text.delta\n"+
		`data: {"type":"response.output_text.delta","item_id":`...)
	s.head = appendString(s.head, item.ID)
	s.head = append(s.head, `,"output_index":0,"content_index":0,"delta":`...)
	if !s.content(x, n, x.chunks(n), func(b []byte, delta string) []byte {
		b = append(b, s.head...)
		b = appendString(b, delta)
		b = append(b, `,"logprobs":[],"sequence_number":`...)
		b = appendInt(b, s.nextSeq())
		return append(b, "}\n\n"...)
	}) {
		return
	}

	resp.Output, resp.Usage = []responseItem{item}, usage
	_ = s.event("response.output_text.done", responseTextDoneEvent{"response.output_text.done", s.nextSeq(), item.ID, 0, 0, answer}) &&
		s.event("response.content_part.done", responsePartEvent{"response.content_part.done", s.nextSeq(), item.ID, 0, 0, item.Content[0]}) &&
		s.event("response.output_item.done", responseItemEvent{"response.output_item.done", s.nextSeq(), 0, item}) &&
		s.event("response.completed", responseLifecycleEvent{"response.completed", s.nextSeq(), resp})
}

// nextSeq returns the sequence number of the next Responses event.
func (s *eventStream) nextSeq() int {
	n := s.seq
	s.seq++
	return n
}
