package aigateway_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	aigateway "github.com/helixgateway/caddy-ai-gateway"
	"github.com/helixgateway/caddy-ai-gateway/handlers"
)

// globalAndHandler wraps fuzzed text as the inside of the ai_gateway global option and, separately, as the inside
// of the ai_gateway handler directive's block.
func globalAndHandler(text string) (global, handler string) {
	return "{\n\tai_gateway {\n" + text + "\n\t}\n}\n",
		"{\n\tadmin off\n}\n:8080 {\n\tai_gateway {\n" + text + "\n\t}\n\trespond ok\n}\n"
}

// adaptedModule adapts a Caddyfile and returns the JSON of the first object with "handler": name (or, with name
// "", the ai_gateway app); nil when the adapter refused the text.
func adaptedModule(t *testing.T, caddyfile, name string) json.RawMessage {
	t.Helper()
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		return nil
	}
	if !json.Valid(cfg) {
		t.Fatalf("the adapter produced invalid JSON:\n%s", cfg)
	}
	if name == "" {
		var c struct {
			Apps map[string]json.RawMessage `json:"apps"`
		}
		if err := json.Unmarshal(cfg, &c); err != nil {
			t.Fatal(err)
		}
		return c.Apps["ai_gateway"]
	}
	return findHandler(json.RawMessage(cfg), name)
}

func findHandler(v json.RawMessage, name string) json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal(v, &obj) == nil {
		if string(obj["handler"]) == `"`+name+`"` {
			return v
		}
		for _, c := range obj {
			if h := findHandler(c, name); h != nil {
				return h
			}
		}
		return nil
	}
	var arr []json.RawMessage
	if json.Unmarshal(v, &arr) == nil {
		for _, c := range arr {
			if h := findHandler(c, name); h != nil {
				return h
			}
		}
	}
	return nil
}

// strictDecode decodes JSON the way Caddy decodes a module's config: without the module's name ("handler"),
// unknown fields are errors.
func strictDecode(raw json.RawMessage, v any) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return err
	}
	delete(obj, "handler")
	raw, _ = json.Marshal(obj)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// FuzzCaddyfile feeds the ai_gateway global option and handler directive arbitrary text: the adapter never panics,
// and whatever it accepts is JSON that Caddy can decode into the modules, with values the modules accept.
func FuzzCaddyfile(f *testing.F) {
	for _, s := range []string{
		"database data/helix.db\ndurability batch 50ms\ndefault_plan free\nkey_cache_size 5000\nsecrets_key_file data/helix.key",
		"plan free {\n daily_operations 100\n rate 2/s\n burst 10\n monthly_budget 5.00\n warn_at 80%\n}",
		"plan pro daily_operations 10000 rate 20/s burst 50\nplan enterprise daily_operations unlimited rate 200/s burst 400",
		"price gpt-4o-mini input 0.15 output 0.60 cached_input 0.075\nprice claude-* input 3.00 output 15.00\nunpriced refuse",
		"webhooks {\n timeout 15s\n schedule 0s 5s 5m 30m 2h\n workers 16\n allow_private_targets\n}",
		"tenant demo {\n plan free\n key {env.HELIX_DEMO_KEY}\n}\ntenant acme name \"Acme Corp\" plan pro key hx_literal_key_for_tests_000000000001",
		"currency USD\ntax_rate 7.25%\ninvoice_prefix HELIX\nestimate_output_tokens 4096\nmetrics_per_tenant",
		"provider anthropic\nmax_request_body 16MiB\nstream_usage off\nmetering on",
		"durability sync extra",
		"plan x rate 3/10s burst",
		"}\n{\n",
		"tenant \"a b\" {\n key `raw`\n}",
		"plan {\n}\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		global, handler := globalAndHandler(text)
		if raw := adaptedModule(t, global, ""); raw != nil {
			var app aigateway.App
			if err := strictDecode(raw, &app); err != nil {
				t.Fatalf("adapted app config does not decode: %v\n%s", err, raw)
			}
			for name, p := range app.Plans {
				if p == nil || p.Rate < 0 || p.Burst < 0 || p.RateWindow < 0 || p.DailyOperations < -1 || p.WarnAt < 0 || p.WarnAt > 100 {
					t.Fatalf("plan %q adapted to impossible values: %s", name, raw)
				}
			}
			if app.KeyCacheSize < 0 || app.EstimateOutputTokens < 0 || app.FlushInterval < 0 {
				t.Fatalf("negative value adapted: %s", raw)
			}
		}
		if raw := adaptedModule(t, handler, "ai_gateway"); raw != nil {
			var g handlers.Gateway
			if err := strictDecode(raw, &g); err != nil {
				t.Fatalf("adapted handler config does not decode: %v\n%s", err, raw)
			}
			if g.MaxRequestBody < 0 {
				t.Fatalf("max_request_body adapted to %d from:\n%s", g.MaxRequestBody, text)
			}
		}
	})
}

// TestCaddyfileMaxRequestBodyOverflow: a size past int64 must be refused by the adapter, not wrap to a negative
// limit that only Provision rejects (with "must be positive, got -6917529027641081856").
func TestCaddyfileMaxRequestBodyOverflow(t *testing.T) {
	for _, size := range []string{"8EiB", "10EiB", "15EiB"} {
		_, handler := globalAndHandler("max_request_body " + size)
		if raw := adaptedModule(t, handler, "ai_gateway"); raw != nil {
			t.Errorf("max_request_body %s adapted to %s; want an adapter error (the size does not fit in int64)", size, raw)
		}
	}
}
