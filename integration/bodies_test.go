package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestBodiesArriveWhole: the gateway reads request bodies into buffers it reuses from call to call. Many
// concurrent calls with bodies from 1 KB to 300 KB, half of them streams that get include_usage added in
// place, and an upstream that answers every third call before reading its body (so that the transport may
// still be sending it as the call ends): every body the upstream reads is the one its client sent, whole.
func TestBodiesArriveWhole(t *testing.T) {
	var bad, early, whole atomic.Int64
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, n := r.Header.Get("X-Token"), r.Header.Get("X-Repeat")
		if r.Header.Get("X-Early") != "" {
			early.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest) // before reading the body
			w.Write([]byte(`{"error":{"message":"early","type":"invalid_request_error"}}`))
			return
		}
		body, err := io.ReadAll(r.Body)
		var req struct {
			Stream        bool
			StreamOptions struct {
				IncludeUsage bool `json:"include_usage"`
			} `json:"stream_options"`
			Messages []struct{ Content string }
		}
		reps, _ := strconv.Atoi(n)
		if err != nil || json.Unmarshal(body, &req) != nil || len(req.Messages) != 1 ||
			req.Messages[0].Content != strings.Repeat(token, reps) || req.Stream && !req.StreamOptions.IncludeUsage {
			bad.Add(1)
			t.Errorf("token %s: the upstream got a body of %d bytes that is not the one sent (read error %v): %.200q", token, len(body), err, body)
		} else {
			whole.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"model":"test-model","choices":[{"message":{"content":"ok"}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}`))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	g := start(t, withUpstream(billingBase, l.Addr().String()), "{HANDLER}", "")
	key := g.tenantWithKey("acme", "open")
	var wg sync.WaitGroup
	for w := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 24 {
				token := fmt.Sprintf("w%02d-%03d.", w, i) // 8 bytes, unique to the call
				reps := 128 << (i % 6)                    // 1 KB to 32 KB ...
				if i%5 == 4 {
					reps = 38_000 // ... and about 300 KB
				}
				stream := i%2 == 1
				body := fmt.Sprintf(`{"model":"test-model","stream":%v,"messages":[{"role":"user","content":"%s"}]}`, stream, strings.Repeat(token, reps))
				req, _ := http.NewRequest(http.MethodPost, g.url("/v1/chat/completions"), bytes.NewReader([]byte(body)))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("X-Token", token)
				req.Header.Set("X-Repeat", strconv.Itoa(reps))
				if i%3 == 2 {
					req.Header.Set("X-Early", "1")
				}
				resp, err := g.client.Do(req)
				if err != nil {
					t.Errorf("%s: %v", token, err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if want := map[bool]int{false: 200, true: 400}[i%3 == 2]; resp.StatusCode != want {
					t.Errorf("%s: status %d, want %d", token, resp.StatusCode, want)
				}
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 || whole.Load() != 12*16 || early.Load() == 0 {
		t.Errorf("%d bodies whole, %d not, %d answered before reading", whole.Load(), bad.Load(), early.Load())
	}
}
