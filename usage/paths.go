package usage

import "strings"

// act is what a JSON value at a given path means to the meter.
type act uint8

const (
	actNone  act = iota
	actModel     // a string: the model that answered
	actType      // a string: the event type ("message_start", "response.completed")
	actText      // a string: generated text, counted as output characters
	actDelta     // a string: a Responses event's delta, counted only if the event is a text delta
	actField     // a number: a usage field, node.field
)

// The usage fields, under every name the APIs give them.
const (
	fPrompt     = iota // prompt_tokens (OpenAI chat, completions, embeddings)
	fInput             // input_tokens (Responses, Anthropic)
	fCompletion        // completion_tokens
	fOutput            // output_tokens
	fCached            // prompt_tokens_details.cached_tokens, input_tokens_details.cached_tokens
	fReasoning         // completion_tokens_details.reasoning_tokens, output_tokens_details.reasoning_tokens
	fCacheRead         // cache_read_input_tokens (Anthropic)
	fCacheWrite        // cache_creation_input_tokens (Anthropic)
	fCacheHit          // prompt_cache_hit_tokens (DeepSeek; part of prompt_tokens)
	nFields
)

// node is a place in the documents a format sends. A node may be reached by a string, a number, an
// object or an array: act says what a string or number here means, kids and elem where an object's
// members and an array's elements lead.
type node struct {
	kids  []kid
	elem  uint16 // the node of an array's elements; 0: nothing of interest inside
	act   act
	field uint8
	usage bool // an object here is a usage object
}

type kid struct {
	name string
	id   uint16
}

// trie holds the paths of interest in one format's documents. nodes[0] is the node of everything else,
// nodes[1] the document root.
type trie struct {
	nodes []node
}

// child returns the node of the member key of an object at node n.
func (t *trie) child(n uint16, key []byte) uint16 {
	for _, k := range t.nodes[n].kids {
		if string(key) == k.name {
			return k.id
		}
	}
	return 0
}

// spec is one path of interest: member names joined by dots, "[]" after a name for its array's elements.
type spec struct {
	path  string
	act   act
	field uint8
	usage bool
}

func newTrie(specs ...[]spec) *trie {
	t := &trie{nodes: make([]node, 2)}
	for _, list := range specs {
		for _, s := range list {
			t.add(s)
		}
	}
	return t
}

func (t *trie) add(s spec) {
	n := uint16(1)
	for _, seg := range strings.Split(s.path, ".") {
		name, arr := strings.CutSuffix(seg, "[]")
		if name != "" {
			n = t.kid(n, name)
		}
		if arr {
			if t.nodes[n].elem == 0 {
				t.nodes = append(t.nodes, node{})
				t.nodes[n].elem = uint16(len(t.nodes) - 1)
			}
			n = t.nodes[n].elem
		}
	}
	if s.act != actNone {
		t.nodes[n].act, t.nodes[n].field = s.act, s.field
	}
	t.nodes[n].usage = t.nodes[n].usage || s.usage
}

func (t *trie) kid(n uint16, name string) uint16 {
	for _, k := range t.nodes[n].kids {
		if k.name == name {
			return k.id
		}
	}
	t.nodes = append(t.nodes, node{})
	id := uint16(len(t.nodes) - 1)
	t.nodes[n].kids = append(t.nodes[n].kids, kid{name, id})
	return id
}

// usageAt is the usage object at prefix, with every field name any of the APIs uses.
func usageAt(prefix string) []spec {
	p := prefix + "."
	return []spec{
		{path: prefix, usage: true},
		{path: p + "prompt_tokens", act: actField, field: fPrompt},
		{path: p + "input_tokens", act: actField, field: fInput},
		{path: p + "completion_tokens", act: actField, field: fCompletion},
		{path: p + "output_tokens", act: actField, field: fOutput},
		{path: p + "prompt_tokens_details.cached_tokens", act: actField, field: fCached},
		{path: p + "input_tokens_details.cached_tokens", act: actField, field: fCached},
		{path: p + "completion_tokens_details.reasoning_tokens", act: actField, field: fReasoning},
		{path: p + "output_tokens_details.reasoning_tokens", act: actField, field: fReasoning},
		{path: p + "cache_read_input_tokens", act: actField, field: fCacheRead},
		{path: p + "cache_creation_input_tokens", act: actField, field: fCacheWrite},
		{path: p + "prompt_cache_hit_tokens", act: actField, field: fCacheHit},
	}
}

// texts is one act for several paths.
func texts(a act, paths ...string) []spec {
	s := make([]spec, len(paths))
	for i, p := range paths {
		s[i] = spec{path: p, act: a}
	}
	return s
}

// The paths of each format. A format's trie holds both its JSON body and its stream events: the two
// never share a path that means different things.
var (
	// Chat JSON: choices[].message; chat chunks: choices[].delta. reasoning_content (DeepSeek, vLLM) and
	// reasoning (OpenRouter) are compatible providers' reasoning text.
	chatPaths = texts(actText,
		"choices[].delta.content", "choices[].delta.reasoning_content", "choices[].delta.reasoning",
		"choices[].delta.refusal", "choices[].delta.tool_calls[].function.arguments",
		"choices[].delta.function_call.arguments",
		"choices[].message.content", "choices[].message.content[].text", "choices[].message.reasoning_content",
		"choices[].message.reasoning", "choices[].message.refusal",
		"choices[].message.tool_calls[].function.arguments", "choices[].message.function_call.arguments")

	completionPaths = texts(actText, "choices[].text")

	// Responses JSON: output[] items (messages' content, reasoning summaries and text, function calls);
	// stream: every event's top-level delta, counted by event type, and response.usage in the last event.
	responsesPaths = append(texts(actText,
		"output[].content[].text", "output[].content[].refusal", "output[].summary[].text", "output[].arguments"),
		spec{path: "delta", act: actDelta}, spec{path: "response.model", act: actModel})

	// Anthropic JSON: content[] blocks; stream: message_start's message, content_block_delta's delta,
	// message_delta's usage.
	anthropicPaths = append(texts(actText,
		"content[].text", "content[].thinking", "delta.text", "delta.thinking", "delta.partial_json"),
		spec{path: "message.model", act: actModel})

	common = []spec{{path: "model", act: actModel}, {path: "type", act: actType}}
)

var tries = [...]*trie{
	OpenAIChat:        newTrie(common, usageAt("usage"), chatPaths),
	OpenAICompletion:  newTrie(common, usageAt("usage"), completionPaths),
	OpenAIEmbedding:   newTrie(common, usageAt("usage")),
	OpenAIResponses:   newTrie(common, usageAt("usage"), usageAt("response.usage"), responsesPaths),
	AnthropicMessages: newTrie(common, usageAt("usage"), usageAt("message.usage"), anthropicPaths),
	Unknown: newTrie(common, usageAt("usage"), usageAt("response.usage"), usageAt("message.usage"),
		chatPaths, completionPaths, responsesPaths, anthropicPaths),
}
