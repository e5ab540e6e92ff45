package aigateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/helixgateway/caddy-ai-gateway"
)

// goldenSeparator splits a .caddyfiletest file into the Caddyfile and the JSON it adapts to, as in Caddy's own
// caddytest/integration/caddyfile_adapt.
const goldenSeparator = "----------"

// TestCaddyfileAdapt adapts every testdata/caddyfile_adapt/*.caddyfiletest and compares the JSON with the golden
// part. HELIX_UPDATE_GOLDEN=1 rewrites the golden parts from what the adapter produces now.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "caddyfile_adapt", "*.caddyfiletest"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden files in testdata/caddyfile_adapt")
	}
	update := os.Getenv("HELIX_UPDATE_GOLDEN") == "1"
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".caddyfiletest"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			text := strings.ReplaceAll(string(data), "\r\n", "\n")
			caddyfile, expected, ok := strings.Cut(text, "\n"+goldenSeparator+"\n")
			if !ok {
				t.Fatalf("%s: no %q line between the Caddyfile and the JSON", file, goldenSeparator)
			}
			caddyfile = strings.TrimSpace(caddyfile) + "\n"

			got, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
			if err != nil {
				t.Fatalf("adapting: %v", err)
			}
			for _, w := range warnings {
				t.Errorf("warning: %s:%d: %s: %s", file, w.Line, w.Directive, w.Message)
			}
			gotPretty := indent(t, "adapted", got)

			if update {
				out := caddyfile + goldenSeparator + "\n" + gotPretty + "\n"
				if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			wantPretty := indent(t, "golden", []byte(expected))
			if gotPretty != wantPretty {
				t.Errorf("%s: adapted JSON differs from the golden file (- golden, + adapted; HELIX_UPDATE_GOLDEN=1 rewrites):\n%s",
					file, lineDiff(wantPretty, gotPretty))
			}
		})
	}
}

// indent normalizes JSON: compacted, then indented with tabs, so that only content differences count.
func indent(t *testing.T, what string, raw []byte) string {
	t.Helper()
	var compact, out bytes.Buffer
	if err := json.Compact(&compact, bytes.TrimSpace(raw)); err != nil {
		t.Fatalf("%s JSON: %v\n%s", what, err, raw)
	}
	if err := json.Indent(&out, compact.Bytes(), "", "\t"); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// lineDiff is a unified-style line diff of a and b (longest common subsequence), enough to read a golden mismatch.
func lineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var sb strings.Builder
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			fmt.Fprintf(&sb, "  %s\n", x[i])
			i, j = i+1, j+1
		case j < len(y) && (i == len(x) || lcs[i][j+1] >= lcs[i+1][j]):
			fmt.Fprintf(&sb, "+ %s\n", y[j])
			j++
		default:
			fmt.Fprintf(&sb, "- %s\n", x[i])
			i++
		}
	}
	return sb.String()
}

// TestCaddyfileErrors: a wrong Caddyfile fails to adapt with a message that names the problem and its line.
func TestCaddyfileErrors(t *testing.T) {
	// global wraps options in the ai_gateway global option: line 3 is the first option.
	global := func(opts ...string) string {
		return "{\n\tai_gateway {\n\t\t" + strings.Join(opts, "\n\t\t") + "\n\t}\n}\n:8080 {\n\tai_gateway\n\trespond ok\n}\n"
	}
	// site puts a handler directive on line 2 of a site block.
	site := func(lines ...string) string {
		return ":8080 {\n\t" + strings.Join(lines, "\n\t") + "\n\trespond ok\n}\n"
	}
	for _, tc := range []struct {
		name      string
		caddyfile string
		line      int
		want      []string
	}{
		{"unknown option", global("colour blue"), 3, []string{"unrecognized", "colour"}},
		{"unknown plan option", global("plan free {", "\tdaily_operations 5", "\tspeed 9", "}"), 5, []string{"unrecognized plan option", "speed"}},
		{"unknown plan option inline", global("plan free daily_operations 5 speed 9"), 3, []string{"unrecognized plan option", "speed"}},
		{"unknown tenant option", global("tenant demo {", "\tcolour red", "}"), 4, []string{"unrecognized tenant option", "colour"}},
		{"daily_operations 0", global("plan free {", "\tdaily_operations 0", "}"), 4, []string{"daily_operations", `"0"`}},
		{"daily_operations abc", global("plan free daily_operations abc"), 3, []string{"daily_operations", `"abc"`}},
		{"daily_operations -5", global("plan free daily_operations -5"), 3, []string{"daily_operations", `"-5"`}},
		{"daily_operations no value", global("plan free {", "\tdaily_operations", "}"), 4, []string{"daily_operations", "value"}},
		{"rate 5", global("plan free {", "\trate 5", "}"), 4, []string{"rate", `"5"`}},
		{"rate 0/s", global("plan free rate 0/s"), 3, []string{"rate", `"0/s"`}},
		{"rate 5/fortnight", global("plan free {", "\trate 5/fortnight", "}"), 4, []string{"rate", `"5/fortnight"`}},
		{"rate 5/0s", global("plan free rate 5/0s"), 3, []string{"rate", `"5/0s"`}},
		{"rate x/s", global("plan free rate x/s"), 3, []string{"rate", `"x/s"`}},
		{"burst -1", global("plan free {", "\tburst -1", "}"), 4, []string{"burst", `"-1"`}},
		{"burst 0", global("plan free burst 0"), 3, []string{"burst", `"0"`}},
		{"durability maybe", global("durability maybe"), 3, []string{"durability", `"maybe"`}},
		{"durability none", global("durability"), 3, []string{"durability"}},
		{"durability batch 0s", global("durability batch 0s"), 3, []string{"durability batch", `"0s"`}},
		{"durability batch soon", global("durability batch soon"), 3, []string{"durability batch", `"soon"`}},
		{"durability sync 5ms", global("durability sync 5ms"), 3, []string{"argument"}},
		{"key_cache_size 0", global("key_cache_size 0"), 3, []string{"key_cache_size", `"0"`}},
		{"key_cache_size lots", global("key_cache_size lots"), 3, []string{"key_cache_size", `"lots"`}},
		{"database no path", global("database"), 3, []string{"argument"}},
		{"default_plan no name", global("default_plan"), 3, []string{"argument"}},
		{"plan no name", global("plan"), 3, []string{"argument"}},
		{"plan declared twice", global("plan free daily_operations 5", "plan pro daily_operations 50", "plan free daily_operations 7"), 5, []string{"plan", `"free"`, "twice"}},
		{"tenant declared twice", global("tenant demo plan free", "tenant other plan free", "tenant demo {", "\tplan pro", "}"), 5, []string{"tenant", `"demo"`, "twice"}},
		{"tenant no id", global("tenant"), 3, []string{"argument"}},
		{"key with no value", global("tenant demo {", "\tplan free", "\tkey", "}"), 5, []string{"key", "value"}},
		{"key with no value inline", global("tenant demo plan free key"), 3, []string{"key", "value"}},
		{"argument after ai_gateway", "{\n\tai_gateway on {\n\t}\n}\n", 2, []string{"argument"}},
		{
			"global option twice",
			"{\n\tai_gateway {\n\t\tdefault_plan free\n\t}\n\tai_gateway {\n\t\tdefault_plan pro\n\t}\n}\n:8080 {\n\trespond ok\n}\n",
			5, []string{"ai_gateway", "twice"},
		},
		{"handler provider bogus", site("ai_gateway {", "\tprovider bogus", "}"), 3, []string{"provider", `"bogus"`}},
		{"handler provider argument bogus", site("ai_gateway bogus"), 2, []string{"provider", `"bogus"`}},
		{"handler provider no value", site("ai_gateway {", "\tprovider", "}"), 3, []string{"argument"}},
		{"handler two arguments", site("ai_gateway openai anthropic"), 2, []string{"argument"}},
		{"handler max_request_body nonsense", site("ai_gateway {", "\tmax_request_body nonsense", "}"), 3, []string{"max_request_body", `"nonsense"`}},
		{"handler max_request_body 0", site("ai_gateway {", "\tmax_request_body 0", "}"), 3, []string{"max_request_body", `"0"`}},
		{"handler unknown option", site("ai_gateway {", "\tmodel gpt-4o", "}"), 3, []string{"unrecognized", "model"}},
		{"handler extra argument", site("ai_gateway {", "\tprovider openai anthropic", "}"), 3, []string{"argument"}},
		{"mock unknown option", site("ai_mock {", "\tcolour red", "}"), 3, []string{"unrecognized ai_mock subdirective", "colour"}},
		{"mock latency nonsense", site("ai_mock {", "\tlatency soon", "}"), 3, []string{"latency", "soon"}},
		{"mock chunks -1", site("ai_mock {", "\tchunks -1", "}"), 3, []string{"chunks", "-1"}},
		{"mock output_tokens 0", site("ai_mock {", "\toutput_tokens 0", "}"), 3, []string{"output_tokens", "0"}},
		{"mock argument", site("ai_mock fast"), 2, []string{"argument"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(tc.caddyfile), nil)
			if err == nil {
				t.Fatalf("adapted without error:\n%s", tc.caddyfile)
			}
			msg := err.Error()
			if at := regexp.MustCompile(fmt.Sprintf(`\bCaddyfile:%d\b`, tc.line)); !at.MatchString(msg) {
				t.Errorf("error %q does not name line %d (Caddyfile:%d)\n%s", msg, tc.line, tc.line, numbered(tc.caddyfile))
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

// numbered prefixes each line with its number, to read a failing case.
func numbered(s string) string {
	var sb strings.Builder
	for i, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		fmt.Fprintf(&sb, "%3d  %s\n", i+1, l)
	}
	return sb.String()
}

// TestHandlerOrder: without an order line, ai_gateway runs before reverse_proxy and ai_mock wherever it is
// written in the site block, and after encode (so it sees the upstream's plain bytes). Checked apart from the
// golden files so that rewriting them cannot hide a change of order.
func TestHandlerOrder(t *testing.T) {
	for _, tc := range []struct {
		name, site string
		want       []string
	}{
		{"reverse_proxy first", "reverse_proxy 127.0.0.1:9000\n\tai_gateway", []string{"ai_gateway", "reverse_proxy"}},
		{"ai_mock first", "ai_mock\n\tai_gateway", []string{"ai_gateway", "ai_mock"}},
		{"encode last", "reverse_proxy 127.0.0.1:9000\n\tai_gateway\n\tencode", []string{"encode", "ai_gateway", "reverse_proxy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			caddyfile := ":8080 {\n\t" + tc.site + "\n}\n"
			raw, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
			if err != nil {
				t.Fatal(err)
			}
			var cfg struct {
				Apps struct {
					HTTP struct {
						Servers map[string]struct {
							Routes []struct {
								Handle []struct {
									Handler string `json:"handler"`
								} `json:"handle"`
							} `json:"routes"`
						} `json:"servers"`
					} `json:"http"`
				} `json:"apps"`
			}
			if err := json.Unmarshal(raw, &cfg); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range cfg.Apps.HTTP.Servers["srv0"].Routes {
				for _, h := range r.Handle {
					got = append(got, h.Handler)
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("handlers in order %v, want %v\n%s", got, tc.want, raw)
			}
		})
	}
}
