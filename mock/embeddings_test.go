package mock

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"net/http"
	"testing"
)

func TestEmbeddings(t *testing.T) {
	u := newUpstream(t, Upstream{})
	for _, tt := range []struct {
		name, body string
		inputs     []string
		dims       int
		base64     bool
	}{
		{"string", `{"model":"text-embedding-3-small","input":"hello embedding world"}`, []string{"hello embedding world"}, 8, false},
		{"array", `{"model":"text-embedding-3-small","input":["one","two words"]}`, []string{"one", "two words"}, 8, false},
		{"dimensions", `{"model":"text-embedding-3-small","input":"x","dimensions":32}`, []string{"x"}, 32, false},
		{"base64", `{"model":"text-embedding-3-small","input":["a","b c"],"encoding_format":"base64"}`, []string{"a", "b c"}, 8, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(t, u, http.MethodPost, "/v1/embeddings", tt.body)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			m := decodeJSON(t, w.Body.String())
			if str(t, m, "object") != "list" || str(t, m, "model") != "text-embedding-3-small" {
				t.Errorf("body: %s", w.Body)
			}
			in := promptTokens(t, tt.body, "/v1/embeddings")
			if num(t, m, "usage", "prompt_tokens") != in || num(t, m, "usage", "total_tokens") != in {
				t.Errorf("usage = %v, want %d", get(t, m, "usage"), in)
			}
			data := get(t, m, "data").([]any)
			if len(data) != len(tt.inputs) {
				t.Fatalf("%d embeddings for %d inputs", len(data), len(tt.inputs))
			}
			for i, input := range tt.inputs {
				if str(t, data[i], "object") != "embedding" || num(t, data[i], "index") != i {
					t.Errorf("data[%d] = %v", i, data[i])
				}
				want := Embed(input, tt.dims)
				var got []float32
				if tt.base64 {
					raw, err := base64.StdEncoding.DecodeString(str(t, data[i], "embedding"))
					if err != nil {
						t.Fatal(err)
					}
					for j := 0; j+4 <= len(raw); j += 4 {
						got = append(got, math.Float32frombits(binary.LittleEndian.Uint32(raw[j:])))
					}
				} else {
					for _, f := range get(t, data[i], "embedding").([]any) {
						got = append(got, float32(f.(float64)))
					}
				}
				if len(got) != tt.dims {
					t.Fatalf("data[%d] has %d dimensions, want %d", i, len(got), tt.dims)
				}
				for j := range got {
					if got[j] != want[j] {
						t.Fatalf("data[%d][%d] = %v, want %v", i, j, got[j], want[j])
					}
				}
			}
		})
	}
}

func TestEmbed(t *testing.T) {
	a, b := Embed("same text", 16), Embed("same text", 16)
	other := Embed("other text", 16)
	var norm float64
	differs := false
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("Embed is not deterministic at %d", i)
		}
		differs = differs || a[i] != other[i]
		norm += float64(a[i]) * float64(a[i])
	}
	if !differs {
		t.Error("different texts got the same vector")
	}
	if math.Abs(norm-1) > 1e-5 {
		t.Errorf("|v|² = %v, want 1", norm)
	}
}
