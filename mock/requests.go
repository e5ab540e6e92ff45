package mock

import (
	"bytes"
	"encoding/json"
	"errors"
)

// call is a request reduced to what the mock answers from.
type call struct {
	model        string
	inputTokens  int
	maxTokens    int // the request's output limit; 0 when it sets none
	stream       bool
	includeUsage bool // stream_options.include_usage, on the OpenAI paths

	// Embeddings only.
	inputs     []string
	dimensions int
	base64     bool
}

// badRequest is a request the real API would refuse with 400. param names the field at fault, if one is.
type badRequest struct {
	param string
	msg   string
}

func (e *badRequest) Error() string { return e.msg }

func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return &badRequest{msg: "We could not parse the JSON body of your request: " + err.Error()}
	}
	return nil
}

func required(param string) error {
	return &badRequest{param: param, msg: param + ": Field required"}
}

// limit checks an optional output limit; the APIs refuse a limit below 1.
func limit(param string, v *int) (int, error) {
	if v == nil {
		return 0, nil
	}
	if *v < 1 {
		return 0, &badRequest{param: param, msg: param + ": must be at least 1"}
	}
	return *v, nil
}

// atLeastOne applies the rule that a request has at least one input token, as no real tokenizer
// encodes a request into nothing.
func atLeastOne(n int) int { return max(n, 1) }

// streamOptions is OpenAI's stream_options.
type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// checkStreamOptions refuses stream_options without stream, as OpenAI does: a gateway that adds
// include_usage to requests that do not stream would break against the real API.
func checkStreamOptions(stream bool, o *streamOptions) error {
	if o != nil && !stream {
		return &badRequest{param: "stream_options", msg: "The 'stream_options' parameter is only allowed when 'stream' is enabled."}
	}
	return nil
}

func parseChat(body []byte) (call, error) {
	var req struct {
		Model    string `json:"model"`
		Messages []struct {
			Content text `json:"content"`
		} `json:"messages"`
		MaxTokens           *int           `json:"max_tokens"`
		MaxCompletionTokens *int           `json:"max_completion_tokens"`
		Stream              bool           `json:"stream"`
		StreamOptions       *streamOptions `json:"stream_options"`
	}
	if err := decode(body, &req); err != nil {
		return call{}, err
	}
	c := call{model: req.Model, stream: req.Stream}
	switch {
	case req.Model == "":
		return c, required("model")
	case len(req.Messages) == 0:
		return c, required("messages")
	}
	if err := checkStreamOptions(req.Stream, req.StreamOptions); err != nil {
		return c, err
	}
	c.includeUsage = req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	var err error
	if req.MaxCompletionTokens != nil { // the newer name wins
		c.maxTokens, err = limit("max_completion_tokens", req.MaxCompletionTokens)
	} else {
		c.maxTokens, err = limit("max_tokens", req.MaxTokens)
	}
	if err != nil {
		return c, err
	}
	for _, m := range req.Messages {
		c.inputTokens += int(m.Content)
	}
	c.inputTokens = atLeastOne(c.inputTokens)
	return c, nil
}

func parseCompletion(body []byte) (call, error) {
	var req struct {
		Model         string         `json:"model"`
		Prompt        *text          `json:"prompt"`
		MaxTokens     *int           `json:"max_tokens"`
		Stream        bool           `json:"stream"`
		StreamOptions *streamOptions `json:"stream_options"`
	}
	if err := decode(body, &req); err != nil {
		return call{}, err
	}
	c := call{model: req.Model, stream: req.Stream}
	switch {
	case req.Model == "":
		return c, required("model")
	case req.Prompt == nil:
		return c, required("prompt")
	}
	if err := checkStreamOptions(req.Stream, req.StreamOptions); err != nil {
		return c, err
	}
	c.includeUsage = req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	var err error
	if c.maxTokens, err = limit("max_tokens", req.MaxTokens); err != nil {
		return c, err
	}
	c.inputTokens = atLeastOne(int(*req.Prompt))
	return c, nil
}

// maxDimensions bounds an embedding's length; the largest real model has 3072.
const maxDimensions = 4096

const defaultDimensions = 8

func parseEmbedding(body []byte) (call, error) {
	var req struct {
		Model          string       `json:"model"`
		Input          inputStrings `json:"input"`
		Dimensions     *int         `json:"dimensions"`
		EncodingFormat string       `json:"encoding_format"`
	}
	if err := decode(body, &req); err != nil {
		return call{}, err
	}
	c := call{model: req.Model, inputs: req.Input, dimensions: defaultDimensions}
	switch {
	case req.Model == "":
		return c, required("model")
	case len(req.Input) == 0:
		return c, required("input")
	}
	if req.Dimensions != nil {
		if *req.Dimensions < 1 || *req.Dimensions > maxDimensions {
			return c, &badRequest{param: "dimensions", msg: "dimensions: must be between 1 and 4096"}
		}
		c.dimensions = *req.Dimensions
	}
	switch req.EncodingFormat {
	case "", "float":
	case "base64":
		c.base64 = true
	default:
		return c, &badRequest{param: "encoding_format", msg: "encoding_format: must be 'float' or 'base64'"}
	}
	for _, s := range req.Input {
		c.inputTokens += CountTokens(s)
	}
	c.inputTokens = atLeastOne(c.inputTokens)
	return c, nil
}

func parseResponse(body []byte) (call, error) {
	var req struct {
		Model           string         `json:"model"`
		Instructions    text           `json:"instructions"`
		Input           *responseInput `json:"input"`
		MaxOutputTokens *int           `json:"max_output_tokens"`
		Stream          bool           `json:"stream"`
	}
	if err := decode(body, &req); err != nil {
		return call{}, err
	}
	c := call{model: req.Model, stream: req.Stream}
	switch {
	case req.Model == "":
		return c, required("model")
	case req.Input == nil:
		return c, required("input")
	}
	var err error
	if c.maxTokens, err = limit("max_output_tokens", req.MaxOutputTokens); err != nil {
		return c, err
	}
	c.inputTokens = atLeastOne(int(req.Instructions) + int(*req.Input))
	return c, nil
}

func parseMessage(body []byte) (call, error) {
	var req struct {
		Model    string `json:"model"`
		System   text   `json:"system"`
		Messages []struct {
			Content text `json:"content"`
		} `json:"messages"`
		MaxTokens *int `json:"max_tokens"`
		Stream    bool `json:"stream"`
	}
	if err := decode(body, &req); err != nil {
		return call{}, err
	}
	c := call{model: req.Model, stream: req.Stream}
	switch {
	case req.Model == "":
		return c, required("model")
	case len(req.Messages) == 0:
		return c, required("messages")
	case req.MaxTokens == nil:
		return c, required("max_tokens")
	}
	var err error
	if c.maxTokens, err = limit("max_tokens", req.MaxTokens); err != nil {
		return c, err
	}
	c.inputTokens = int(req.System)
	for _, m := range req.Messages {
		c.inputTokens += int(m.Content)
	}
	c.inputTokens = atLeastOne(c.inputTokens)
	return c, nil
}

// text is content in any shape the APIs accept for it — a string, an array of strings, or an array of
// typed parts — decoded straight into its token count, the only thing the mock needs from it.
type text int

func (t *text) UnmarshalJSON(b []byte) error {
	switch b[0] {
	case 'n':
		*t = 0
	case '"':
		n, err := countString(b)
		*t = text(n)
		return err
	case '[':
		var parts []part
		if err := json.Unmarshal(b, &parts); err != nil {
			return err
		}
		*t = 0
		for _, p := range parts {
			*t += text(p)
		}
	default:
		return errors.New("content must be a string or an array")
	}
	return nil
}

// countString counts the tokens of b, a JSON string the decoder has already checked. Without escapes
// its bytes are its text, and counting them in place saves decoding a copy: chat requests are mostly
// plain strings, and the mock is the upstream of load benchmarks.
func countString(b []byte) (int, error) {
	if bytes.IndexByte(b, '\\') < 0 {
		return countWords(b[1 : len(b)-1]), nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return 0, err
	}
	return CountTokens(s), nil
}

// part is one element of a content array: a string, or a part object whose text counts if it is text.
type part int

func (p *part) UnmarshalJSON(b []byte) error {
	switch b[0] {
	case '"':
		n, err := countString(b)
		*p = part(n)
		return err
	case '{':
		var v struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		switch v.Type {
		case "text", "input_text", "output_text":
			*p = part(CountTokens(v.Text))
		default: // images, files, tool calls: no text tokens
			*p = 0
		}
	default:
		return errors.New("content parts must be strings or objects")
	}
	return nil
}

// responseInput is the Responses API's input — a string, or an array of items — decoded into its token
// count. Items count their content; items without content (function call outputs, references) count
// nothing.
type responseInput int

func (in *responseInput) UnmarshalJSON(b []byte) error {
	switch b[0] {
	case '"':
		var t text
		if err := t.UnmarshalJSON(b); err != nil {
			return err
		}
		*in = responseInput(t)
	case '[':
		var items []struct {
			Content text `json:"content"`
		}
		if err := json.Unmarshal(b, &items); err != nil {
			return err
		}
		*in = 0
		for _, it := range items {
			*in += responseInput(it.Content)
		}
	default:
		return errors.New("input must be a string or an array")
	}
	return nil
}

// inputStrings is the embeddings input: a string or an array of strings.
type inputStrings []string

func (s *inputStrings) UnmarshalJSON(b []byte) error {
	switch b[0] {
	case 'n':
		*s = nil
		return nil
	case '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = []string{v}
		return nil
	}
	var v []string
	if err := json.Unmarshal(b, &v); err != nil {
		return errors.New("input must be a string or an array of strings")
	}
	*s = v
	return nil
}
