package mock

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"math"
	"net/http"
)

type embeddingList struct {
	Object string      `json:"object"`
	Data   []embedding `json:"data"`
	Model  string      `json:"model"`
	Usage  struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

type embedding struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float32, or a base64 string of little-endian float32s
}

// embedding answers /v1/embeddings. It never streams.
func (x *exchange) embedding() {
	resp := embeddingList{Object: "list", Data: make([]embedding, len(x.c.inputs)), Model: x.c.model}
	resp.Usage.PromptTokens = x.c.inputTokens
	resp.Usage.TotalTokens = x.c.inputTokens
	for i, in := range x.c.inputs {
		v := Embed(in, x.c.dimensions)
		resp.Data[i] = embedding{Object: "embedding", Index: i, Embedding: v}
		if x.c.base64 {
			raw := make([]byte, 4*len(v))
			for j, f := range v {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(f))
			}
			resp.Data[i].Embedding = base64.StdEncoding.EncodeToString(raw)
		}
	}
	writeBody(x.w, http.StatusOK, &resp)
}

// Embed returns the mock's embedding of text: a unit vector of the given dimensions, derived from a hash
// of text alone, so equal inputs always get equal vectors and a test can compute the expected one.
func Embed(text string, dimensions int) []float32 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(text))
	state := h.Sum64()
	v := make([]float32, dimensions)
	var norm float64
	for i := range v {
		f := float64(int64(splitmix64(&state))) / math.MaxInt64 // in [-1, 1]
		v[i] = float32(f)
		norm += f * f
	}
	if norm == 0 {
		return v
	}
	norm = math.Sqrt(norm)
	for i := range v {
		v[i] = float32(float64(v[i]) / norm)
	}
	return v
}

// splitmix64 is a small, well-mixed generator: one hash seeds it, and every dimension differs.
func splitmix64(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
