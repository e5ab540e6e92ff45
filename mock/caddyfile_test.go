package mock

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	for _, tt := range []struct {
		name, input string
		want        Upstream
		wantErr     string
	}{
		{"bare", `ai_mock`, Upstream{}, ""},
		{"empty block", "ai_mock {\n}", Upstream{}, ""},
		{"all options", `ai_mock {
			latency 20ms
			chunks 8
			chunk_gap 5ms
			output_tokens 32
			output_tokens_cap 1000
		}`, Upstream{
			Latency:         caddy.Duration(20 * time.Millisecond),
			Chunks:          8,
			ChunkGap:        caddy.Duration(5 * time.Millisecond),
			OutputTokens:    32,
			OutputTokensCap: 1000,
		}, ""},
		{"unknown subdirective", "ai_mock {\n\tspeed 9\n}", Upstream{}, "speed"},
		{"bad duration", "ai_mock {\n\tlatency fast\n}", Upstream{}, "fast"},
		{"negative duration", "ai_mock {\n\tchunk_gap -1s\n}", Upstream{}, "-1s"},
		{"bad int", "ai_mock {\n\tchunks many\n}", Upstream{}, "many"},
		{"negative chunks", "ai_mock {\n\tchunks -2\n}", Upstream{}, "-2"},
		{"zero output tokens", "ai_mock {\n\toutput_tokens 0\n}", Upstream{}, "'0'"},
		{"missing value", "ai_mock {\n\tlatency\n}", Upstream{}, "wrong argument count"},
		{"extra value", "ai_mock {\n\tchunks 1 2\n}", Upstream{}, "wrong argument count"},
		{"argument on the directive", `ai_mock 5`, Upstream{}, "wrong argument count"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got Upstream
			err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Latency != tt.want.Latency || got.Chunks != tt.want.Chunks || got.ChunkGap != tt.want.ChunkGap ||
				got.OutputTokens != tt.want.OutputTokens || got.OutputTokensCap != tt.want.OutputTokensCap {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestCaddyfileAdapt checks the directive needs no order line and adapts to the handler's JSON.
func TestCaddyfileAdapt(t *testing.T) {
	adapter := caddyconfig.GetAdapter("caddyfile")
	out, _, err := adapter.Adapt([]byte(":8081 {\n\tai_mock {\n\t\tlatency 20ms\n\t\tchunks 8\n\t}\n}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []json.RawMessage `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, srv := range cfg.Apps.HTTP.Servers {
		for _, route := range srv.Routes {
			for _, h := range route.Handle {
				if strings.Contains(string(h), `"handler":"ai_mock"`) {
					if want := `{"chunks":8,"handler":"ai_mock","latency":20000000}`; string(h) != want {
						t.Errorf("handler JSON %s, want %s", h, want)
					}
					return
				}
			}
		}
	}
	t.Fatalf("no ai_mock handler in %s", out)
}
