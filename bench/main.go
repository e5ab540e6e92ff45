// Command bench measures what Helix costs next to a plain Caddy reverse_proxy, side by side in one run:
//
//	CGO_ENABLED=1 go run ./bench [-rounds 3] [-d 5s] [-tenants 10000] [-conns 8,64]
//
// It builds Caddy with Helix (cmd/caddy), starts three processes — an ai_mock upstream, a plain reverse_proxy
// to it, and ai_gateway + reverse_proxy to it with many tenants' keys in rotation — and runs interleaved rounds
// (plain, gateway, gateway with metering off, ...) at each connection count, for JSON and SSE answers. It
// prints requests/s, p50 and p99 latency, CPU per request and peak memory of each proxy, and the ratios, as
// medians over the rounds. (The metering-off site shares the gateway's process, so its CPU is not shown.)
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	upstreamAddr = "127.0.0.1:9180"
	plainAddr    = "127.0.0.1:9181"
	gatewayAddr  = "127.0.0.1:9182"
	noMeterAddr  = "127.0.0.1:9183" // the same gateway with metering off
	transport    = `transport http {
			keepalive 90s
			keepalive_idle_conns 1024
			keepalive_idle_conns_per_host 512
		}`
)

var bodies = map[string]string{
	"json": `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello to the benchmark"}]}`,
	"sse":  `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Say hello to the benchmark"}]}`,
}

func main() {
	rounds := flag.Int("rounds", 3, "interleaved rounds per setting")
	dur := flag.Duration("d", 5*time.Second, "duration of each run")
	tenants := flag.Int("tenants", 10000, "tenants (one key each) in rotation on the gateway")
	connList := flag.String("conns", "8,64", "connection counts")
	kinds := flag.String("kinds", "json,sse", "answer kinds: json, sse")
	flag.Parse()

	dir, err := os.MkdirTemp("", "helix-bench-")
	check(err)
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "caddy")
	fmt.Fprintln(os.Stderr, "building cmd/caddy ...")
	build := exec.Command("go", "build", "-o", bin, "./cmd/caddy")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	check(build.Run())

	up, err := startCaddy(bin, dir, "upstream", fmt.Sprintf("{\n\tadmin 127.0.0.1:9190\n}\nhttp://%s {\n\tai_mock\n}\n", upstreamAddr), "127.0.0.1:9190")
	check(err)
	defer up.stop()
	plain, err := startCaddy(bin, dir, "plain", fmt.Sprintf("{\n\tadmin 127.0.0.1:9191\n}\nhttp://%s {\n\treverse_proxy %s {\n\t\t%s\n\t}\n}\n",
		plainAddr, upstreamAddr, transport), "127.0.0.1:9191")
	check(err)
	defer plain.stop()
	gw, err := startCaddy(bin, dir, "gateway", fmt.Sprintf(`{
	admin 127.0.0.1:9192
	ai_gateway {
		database %s
		default_plan bench
		plan bench daily_operations unlimited rate 100000/s burst 100000
	}
}
http://%s {
	ai_gateway
	reverse_proxy %s {
		%s
	}
}
http://%s {
	ai_gateway {
		metering off
	}
	reverse_proxy %s {
		%s
	}
}
`, filepath.Join(dir, "helix.db"), gatewayAddr, upstreamAddr, transport, noMeterAddr, upstreamAddr, transport), "127.0.0.1:9192")
	check(err)
	defer gw.stop()

	fmt.Fprintf(os.Stderr, "creating %d tenants ...\n", *tenants)
	keys := createTenants("http://127.0.0.1:9192", *tenants)
	// A running gateway has its keys cached; so should the measured one (a cold key costs one SQLite read).
	fmt.Fprintln(os.Stderr, "warming the key cache ...")
	for _, addr := range []string{gatewayAddr, noMeterAddr} {
		load{url: "http://" + addr + "/v1/chat/completions", body: bodies["json"], keys: keys, conns: 8,
			dur: time.Duration(len(keys)/2000+1) * time.Second}.run()
	}

	type key struct {
		kind  string
		conns int
	}
	type sample struct {
		res    loadResult
		cpuPer time.Duration
	}
	results := map[key]map[string][]sample{}
	var conns []int
	for _, s := range strings.Split(*connList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		check(err)
		conns = append(conns, n)
	}
	for r := 0; r < *rounds; r++ {
		for _, kind := range strings.Split(*kinds, ",") {
			for _, c := range conns {
				k := key{kind, c}
				if results[k] == nil {
					results[k] = map[string][]sample{}
				}
				order := []string{"plain", "gateway", "nometer"}
				if r%2 == 1 {
					order = []string{"nometer", "gateway", "plain"}
				}
				for _, side := range order {
					l := load{body: bodies[kind], conns: c, dur: *dur}
					proc := plain
					l.url = "http://" + plainAddr + "/v1/chat/completions"
					switch side {
					case "gateway":
						proc, l.keys = gw, keys
						l.url = "http://" + gatewayAddr + "/v1/chat/completions"
					case "nometer":
						proc, l.keys = gw, keys
						l.url = "http://" + noMeterAddr + "/v1/chat/completions"
					}
					cpu0 := proc.cpu()
					res := l.run()
					cpuPer := time.Duration(0)
					if res.requests > 0 {
						cpuPer = (proc.cpu() - cpu0) / time.Duration(res.requests)
					}
					if res.errors > 0 || res.non2xx > 0 {
						fmt.Fprintf(os.Stderr, "warning: %s %s c=%d: %d errors, %d non-2xx\n", side, kind, c, res.errors, res.non2xx)
					}
					fmt.Fprintf(os.Stderr, "round %d %-4s c=%-3d %-7s %8.0f req/s  p50 %6.3f ms  p99 %6.3f ms  cpu %5.1f µs/req\n",
						r+1, kind, c, side, res.rps(), ms(res.p50), ms(res.p99), float64(cpuPer)/1e3)
					results[k][side] = append(results[k][side], sample{res, cpuPer})
				}
			}
		}
	}

	fmt.Printf("\n%d rounds of %s per side, interleaved; medians. Gateway: %d tenants' keys in rotation, unlimited plan.\n\n",
		*rounds, *dur, len(keys))
	fmt.Println("| answer | conns | plain req/s | gateway req/s | gateway/plain | metering off req/s | metering on/off | plain p50 / p99 ms | gateway p50 / p99 ms | added p99 ms | plain CPU µs/req | gateway CPU µs/req |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, kind := range strings.Split(*kinds, ",") {
		for _, c := range conns {
			p, g, n := results[key{kind, c}]["plain"], results[key{kind, c}]["gateway"], results[key{kind, c}]["nometer"]
			med := func(s []sample, f func(sample) float64) float64 {
				v := make([]float64, len(s))
				for i := range s {
					v[i] = f(s[i])
				}
				slices.Sort(v)
				return v[len(v)/2]
			}
			rps := func(s sample) float64 { return s.res.rps() }
			p50 := func(s sample) float64 { return ms(s.res.p50) }
			p99 := func(s sample) float64 { return ms(s.res.p99) }
			cpu := func(s sample) float64 { return float64(s.cpuPer) / 1e3 }
			fmt.Printf("| %s | %d | %.0f | %.0f | %.2f | %.0f | %.2f | %.3f / %.3f | %.3f / %.3f | %+.3f | %.1f | %.1f |\n",
				kind, c, med(p, rps), med(g, rps), med(g, rps)/med(p, rps), med(n, rps), med(g, rps)/med(n, rps),
				med(p, p50), med(p, p99), med(g, p50), med(g, p99), med(g, p99)-med(p, p99), med(p, cpu), med(g, cpu))
		}
	}
	fmt.Printf("\nPeak RSS: plain %.1f MB, gateway %.1f MB (%d tenants), upstream %.1f MB\n",
		mb(plain.peakRSS()), mb(gw.peakRSS()), len(keys), mb(up.peakRSS()))
}

// createTenants makes n tenants with one key each through the admin API and returns the keys.
func createTenants(admin string, n int) []string {
	keys := make([]string, n)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				id := fmt.Sprintf("bench-%05d", i)
				post(admin+"/ai_gateway/tenants", `{"id":"`+id+`"}`, nil)
				var k struct{ Key string }
				post(admin+"/ai_gateway/tenants/"+id+"/keys", `{"name":"bench"}`, &k)
				keys[i] = k.Key
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	return keys
}

func post(url, body string, out any) {
	resp, err := http.Post(url, "application/json", bytes.NewBufferString(body))
	check(err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		check(fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, raw))
	}
	if out != nil {
		check(json.Unmarshal(raw, out))
	}
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
func mb(b int64) float64         { return float64(b) / (1 << 20) }

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
