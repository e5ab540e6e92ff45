// Command bench measures what Helix costs next to a plain Caddy reverse_proxy, side by side in one run:
//
//	CGO_ENABLED=1 go run ./bench [-rounds 10] [-d 1s] [-tenants 10000] [-conns 8,64] [-rate 1000]
//
// It builds Caddy with Helix (cmd/caddy), starts four processes — an ai_mock upstream, a plain reverse_proxy
// to it, a second plain one (the A/A control: what "added" measures between two identical proxies), and
// ai_gateway + reverse_proxy to it with many tenants' keys in rotation, each tenant with a webhook endpoint
// subscribed (on a receiver in this process) — and runs interleaved closed-loop rounds (plain, gateway,
// gateway with metering off, control, ...) at each connection count, for JSON and SSE answers. It prints requests/s, p50
// and p99 latency, CPU per request and peak memory of each proxy, and the ratios, over all the rounds' requests
// taken together, and also each round's ratio (median and range). Many short rounds pair the sides closely in
// time, so that the drift of a shared machine falls on all of them alike. (The metering-off site shares the
// gateway's process, so its CPU is not shown.)
//
// Closed-loop runs saturate a small machine, so their tail latency is mostly CPU queueing. With -rate, it then
// runs the same rounds open loop at that constant rate over 8 connections per side, and prints latency
// percentiles counted from when each request was due, what each side adds to them, and each side's CPU per
// request. With -inproc a fifth side is a plain reverse_proxy site in the gateway's own process: what the
// process costs a request that does not pass through ai_gateway.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
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
	controlAddr  = "127.0.0.1:9184" // a second plain reverse_proxy, the same as the first: the A/A control
	inprocAddr   = "127.0.0.1:9185" // a plain reverse_proxy site in the gateway's process
	rateConns    = 8                // connections per side in the open-loop runs
	transport    = `transport http {
			keepalive 90s
			keepalive_idle_conns 1024
			keepalive_idle_conns_per_host 512
		}`
)

// bodies are the requests of each kind: a chat completion answered in JSON, the same streamed, and a long one —
// a 256 KB prompt (a long-context call), which the gateway reads whole, checks and parses before it forwards
// it, where plain Caddy streams it through — streamed without include_usage, so that the gateway adds it.
var bodies = map[string]string{
	"json": `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello to the benchmark"}]}`,
	"sse":  `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Say hello to the benchmark"}]}`,
	"long": `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"system","content":"You are a careful reader."},{"role":"user","content":"` +
		strings.Repeat(`Summarise this, \"quoted\" and café: the quick brown fox jumps over the lazy dog. `, 3000) + `"}]}`,
}

func main() {
	rounds := flag.Int("rounds", 10, "interleaved rounds per setting")
	dur := flag.Duration("d", time.Second, "duration of each run")
	tenants := flag.Int("tenants", 10000, "tenants (one key each) in rotation on the gateway")
	connList := flag.String("conns", "8,64", "connection counts")
	kinds := flag.String("kinds", "json,sse", "request kinds: json, sse, long (a 256 KB prompt, streamed)")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the gateway during its first run (the open loop's first round when -conns is empty) to this file (and of plain Caddy to this file + .plain, of the gateway's process serving -inproc to this file + .inproc), its allocations to this file + .allocs (pprof -base this file + .allocs0) and its heap to this file + .heap")
	flag.StringVar(&memLimit, "memlimit", "", "GOMEMLIMIT for every Caddy process, e.g. 100MiB (default: none, Go's default GC)")
	control := flag.Bool("control", true, "also run a second plain reverse_proxy, the same as the first, as a fourth side: what \"added\" measures between two identical proxies, the noise floor of this machine")
	durability := flag.String("durability", "batch 50ms", "the gateway's durability setting")
	inproc := flag.Bool("inproc", false, "also run a plain reverse_proxy site in the gateway's process, with no ai_gateway, as another side: what the gateway's process costs a request that does not pass through ai_gateway")
	rate := flag.Float64("rate", 0, "after the closed-loop rounds, run open loop at this many requests/s (0: don't)")
	flag.Parse()
	kindList := strings.Split(*kinds, ",")
	var conns []int
	for _, s := range strings.FieldsFunc(*connList, func(r rune) bool { return r == ',' }) {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		check(err)
		conns = append(conns, n)
	}
	hooks, err := startHookReceiver()
	check(err)

	dir, err := os.MkdirTemp("", "helix-bench-")
	check(err)
	workDir = dir
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "caddy")
	fmt.Fprintln(os.Stderr, "building cmd/caddy ...")
	build := exec.Command("go", "build", "-o", bin, "./cmd/caddy")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	check(build.Run())

	up, err := startCaddy(bin, dir, "upstream", fmt.Sprintf("{\n\tadmin 127.0.0.1:9190\n}\nhttp://%s {\n\tai_mock\n}\n", upstreamAddr), "127.0.0.1:9190")
	check(err)
	defer stopAll()
	plain, err := startCaddy(bin, dir, "plain", fmt.Sprintf("{\n\tadmin 127.0.0.1:9191\n}\nhttp://%s {\n\treverse_proxy %s {\n\t\t%s\n\t}\n}\n",
		plainAddr, upstreamAddr, transport), "127.0.0.1:9191")
	check(err)
	sides := []string{"plain", "gateway", "nometer"}
	var ctl *caddyProc
	if *control {
		ctl, err = startCaddy(bin, dir, "control", fmt.Sprintf("{\n\tadmin 127.0.0.1:9193\n}\nhttp://%s {\n\treverse_proxy %s {\n\t\t%s\n\t}\n}\n",
			controlAddr, upstreamAddr, transport), "127.0.0.1:9193")
		check(err)
		sides = append(sides, "control")
	}
	gw, err := startCaddy(bin, dir, "gateway", fmt.Sprintf(`{
	admin 127.0.0.1:9192
	ai_gateway {
		database %s
		durability %s
		default_plan bench
		plan bench daily_operations unlimited rate 100000/s burst 100000
		webhooks {
			allow_private_targets
		}
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
http://%s {
	reverse_proxy %s {
		%s
	}
}
`, filepath.Join(dir, "helix.db"), *durability, gatewayAddr, upstreamAddr, transport, noMeterAddr, upstreamAddr, transport,
		inprocAddr, upstreamAddr, transport), "127.0.0.1:9192")
	check(err)
	if *inproc {
		sides = append(sides, "inproc")
	}

	fmt.Fprintf(os.Stderr, "creating %d tenants, each with a webhook endpoint ...\n", *tenants)
	keys, endpoints := createTenants("http://"+gw.admin, *tenants, hooks.url)
	// One test event shows that the gateway reaches the receiver; the runs themselves should cause no delivery.
	post("http://"+gw.admin+"/ai_gateway/webhooks/"+endpoints[0]+"/test", "", http.StatusAccepted, nil)
	check(hooks.await(1, 10*time.Second))
	hooksBefore := hooks.n.Load()
	// A running gateway has its keys cached; so should the measured one (a cold key costs one SQLite read).
	fmt.Fprintf(os.Stderr, "gateway peak RSS after creating the tenants: %.1f MB\n", mb(gw.peakRSS()))
	fmt.Fprintln(os.Stderr, "warming the key cache ...")
	for _, addr := range []string{gatewayAddr, noMeterAddr} {
		load{url: "http://" + addr + "/v1/chat/completions", body: bodies["json"], keys: keys, conns: 8,
			dur: time.Duration(len(keys)/2000+1) * time.Second}.run()
	}
	fmt.Fprintf(os.Stderr, "gateway peak RSS after warming: %.1f MB\n", mb(gw.peakRSS()))

	// target is the load for one side (with the connections, duration and rate still to set) and its process.
	target := func(side, kind string) (load, *caddyProc) {
		l := load{url: "http://" + plainAddr + "/v1/chat/completions", body: bodies[kind]}
		switch side {
		case "gateway":
			l.url, l.keys = "http://"+gatewayAddr+"/v1/chat/completions", keys
			return l, gw
		case "nometer":
			l.url, l.keys = "http://"+noMeterAddr+"/v1/chat/completions", keys
			return l, gw
		case "control":
			l.url = "http://" + controlAddr + "/v1/chat/completions"
			return l, ctl
		case "inproc":
			l.url = "http://" + inprocAddr + "/v1/chat/completions"
			return l, gw
		}
		return l, plain
	}

	type key struct {
		kind  string
		conns int
	}
	results := map[key]map[string][]sample{}
	for r := 0; r < *rounds; r++ {
		for _, kind := range kindList {
			for _, c := range conns {
				k := key{kind, c}
				if results[k] == nil {
					results[k] = map[string][]sample{}
				}
				for _, side := range order(sides, r) {
					l, proc := target(side, kind)
					l.conns, l.dur = c, *dur
					s := profiled(*profile != "" && results[k][side] == nil && len(results) == 1, *profile, side, proc, *dur, func() sample { return measure(l, proc) })
					warnErrors(s.res, fmt.Sprintf("%s %s c=%d", side, kind, c))
					fmt.Fprintf(os.Stderr, "round %d %-4s c=%-3d %-7s %8.0f req/s  p50 %6.3f ms  p99 %6.3f ms  cpu %5.1f µs/req\n",
						r+1, kind, c, side, s.res.rps(), ms(s.res.p50), ms(s.res.p99), float64(s.cpuPer)/1e3)
					results[k][side] = append(results[k][side], s)
				}
			}
		}
	}

	// Open loop at a constant rate: latency without the CPU queueing of a saturated machine.
	rated := map[string]map[string][]sample{}
	for r := 0; *rate > 0 && r < *rounds; r++ {
		for _, kind := range kindList {
			if rated[kind] == nil {
				rated[kind] = map[string][]sample{}
			}
			for _, side := range order(sides, r) {
				l, proc := target(side, kind)
				l.conns, l.dur, l.rate = rateConns, *dur, *rate
				// Without closed-loop runs, the profiles are of the open loop's first round.
				s := profiled(*profile != "" && len(conns) == 0 && r == 0 && kind == kindList[0], *profile, side, proc, *dur, func() sample { return measure(l, proc) })
				res := s.res
				warnErrors(res, fmt.Sprintf("%s %s rate=%.0f", side, kind, *rate))
				fmt.Fprintf(os.Stderr, "round %d %-4s %5.0f/s %-7s %6.0f req/s  p50 %6.3f  p90 %6.3f  p99 %6.3f  p99.9 %6.3f ms  (sent late p99 %.3f ms)  cpu %5.1f µs/req\n",
					r+1, kind, *rate, side, res.rps(), ms(res.p50), ms(res.p90), ms(res.p99), ms(res.p999), ms(res.lateP99), float64(s.cpuPer)/1e3)
				rated[kind][side] = append(rated[kind][side], s)
			}
		}
	}

	fmt.Printf("\n%d rounds of %s per side, interleaved; all the rounds' requests taken together. Gateway: %d tenants' keys in rotation, unlimited plan.\n\n",
		*rounds, *dur, len(keys))
	fmt.Println("| answer | conns | plain req/s | gateway req/s | gateway/plain | by round: median (range) | metering off req/s | metering on/off | plain p50 / p99 ms | gateway p50 / p99 ms | added p99 ms | plain CPU µs/req | gateway CPU µs/req | A/A: plain again/plain, by round | A/A added p99 ms |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	rps := func(a, b sample) float64 { return a.res.rps() / b.res.rps() }
	for _, kind := range kindList {
		for _, c := range conns {
			p, g, n, a := results[key{kind, c}]["plain"], results[key{kind, c}]["gateway"], results[key{kind, c}]["nometer"], results[key{kind, c}]["control"]
			pp, gp, np := pooledSamples(p), pooledSamples(g), pooledSamples(n)
			aa, aaP99 := "—", "—"
			if a != nil {
				ap := pooledSamples(a)
				aa, aaP99 = fmt.Sprintf("%.2f, %s", ap.rps()/pp.rps(), spread(paired(a, p, rps), "%.2f")), fmt.Sprintf("%+.3f", ms(ap.p99)-ms(pp.p99))
			}
			fmt.Printf("| %s | %d | %.0f | %.0f | %.2f | %s | %.0f | %.2f | %.3f / %.3f | %.3f / %.3f | %+.3f | %.1f | %.1f | %s | %s |\n",
				kind, c, pp.rps(), gp.rps(), gp.rps()/pp.rps(), spread(paired(g, p, rps), "%.2f"), np.rps(), gp.rps()/np.rps(),
				ms(pp.p50), ms(pp.p99), ms(gp.p50), ms(gp.p99), ms(gp.p99)-ms(pp.p99), cpuPer(p), cpuPer(g), aa, aaP99)
		}
	}

	if *rate > 0 {
		fmt.Printf("\nOpen loop: %.0f requests/s over %d connections per side, %d rounds of %s, interleaved; all the rounds' requests taken together. "+
			"Latency counts from when each request was due.\n\n", *rate, rateConns, *rounds, *dur)
		fmt.Println("| answer | rate req/s | plain p50 / p99 / p99.9 ms | gateway p50 / p99 / p99.9 ms | added p50 ms | added p99 ms (target < 0.2) | by round: median (range) | metering off p99 ms | A/A added p99 ms | A/A by round: median (range) |")
		fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
		added := func(a, b sample) float64 { return ms(a.res.p99) - ms(b.res.p99) }
		for _, kind := range kindList {
			p, g, n, a := rated[kind]["plain"], rated[kind]["gateway"], rated[kind]["nometer"], rated[kind]["control"]
			pp, gp, np := pooledSamples(p), pooledSamples(g), pooledSamples(n)
			aaP99, aa := "—", "—"
			if a != nil {
				aaP99, aa = fmt.Sprintf("%+.3f", ms(pooledSamples(a).p99)-ms(pp.p99)), spread(paired(a, p, added), "%+.3f")
			}
			fmt.Printf("| %s | %.0f | %.3f / %.3f / %.3f | %.3f / %.3f / %.3f | %+.3f | %+.3f | %s | %.3f | %s | %s |\n",
				kind, *rate, ms(pp.p50), ms(pp.p99), ms(pp.p999), ms(gp.p50), ms(gp.p99), ms(gp.p999),
				ms(gp.p50)-ms(pp.p50), ms(gp.p99)-ms(pp.p99), spread(paired(g, p, added), "%+.3f"), ms(np.p99), aaP99, aa)
		}
		fmt.Print("\nBy round: the median over the rounds of each round's difference to plain, with its 90% bootstrap interval " +
			"(2,000 resamples of the rounds); and each side's CPU per request in the open loop.\n\n")
		fmt.Println("| answer | side | CPU µs/req | added p50 ms | added p90 ms | added p99 ms |")
		fmt.Println("| --- | --- | --- | --- | --- | --- |")
		names := map[string]string{"plain": "plain", "gateway": "gateway", "nometer": "metering off", "control": "A/A control (plain again)",
			"inproc": "plain site in the gateway's process"}
		for _, kind := range kindList {
			p := rated[kind]["plain"]
			for _, side := range sides {
				v := rated[kind][side]
				diff := func(q func(loadResult) time.Duration) string {
					return medianInterval(paired(v, p, func(a, b sample) float64 { return ms(q(a.res)) - ms(q(b.res)) }))
				}
				if side == "plain" {
					fmt.Printf("| %s | %s | %.1f | | | |\n", kind, names[side], cpuPer(v))
					continue
				}
				fmt.Printf("| %s | %s | %.1f | %s | %s | %s |\n", kind, names[side], cpuPer(v),
					diff(func(r loadResult) time.Duration { return r.p50 }), diff(func(r loadResult) time.Duration { return r.p90 }),
					diff(func(r loadResult) time.Duration { return r.p99 }))
			}
		}
		fmt.Println()
		for _, kind := range kindList {
			byRound := paired(rated[kind]["gateway"], rated[kind]["plain"], added)
			fmt.Printf("p99 target for %s (the 90%% interval of the gateway's added p99 by round under %.1f ms): %s.\n", kind, p99Target, p99Verdict(byRound))
		}
		for _, kind := range kindList {
			p, g, n := pooledSamples(rated[kind]["plain"]), pooledSamples(rated[kind]["gateway"]), pooledSamples(rated[kind]["nometer"])
			fmt.Printf("Achieved %s: plain %.0f, gateway %.0f, metering off %.0f req/s.\n", kind, p.rps(), g.rps(), n.rps())
		}
	}
	limit := "no GOMEMLIMIT"
	if memLimit != "" {
		limit = "GOMEMLIMIT=" + memLimit
	}
	fmt.Printf("\nPeak RSS (%s): plain %.1f MB, gateway %.1f MB (%d tenants), upstream %.1f MB",
		limit, mb(plain.peakRSS()), mb(gw.peakRSS()), len(keys), mb(up.peakRSS()))
	if ctl != nil {
		fmt.Printf(", plain again %.1f MB", mb(ctl.peakRSS()))
	}
	fmt.Println()
	fmt.Printf("Webhook deliveries received during the runs: %d (%d endpoints subscribed)\n", hooks.n.Load()-hooksBefore, len(endpoints))
}

// order is the order of the sides in round r, from a Williams design: over len(sides) rounds (twice that for an
// odd number of sides) each side runs in each position equally often, and right after each other side equally
// often. What a side leaves behind on the machine as the next one starts (the gateway's collections, a write
// of its totals) so falls on every other side alike. (Until session 14 the order rotated, and the control ran
// right after the gateway's process in most rounds, plain in few: the A/A control came out 0.1 ms slower.)
func order(sides []string, r int) []string {
	n := len(sides)
	o := make([]string, n)
	for j := range o {
		// The first round is 0, 1, n-1, 2, n-2, ...; round i adds i to each, mod n.
		first := (j + 1) / 2
		if j%2 == 0 {
			first = (n - j/2) % n
		}
		o[j] = sides[(first+r)%n]
	}
	if n%2 == 1 && r/n%2 == 1 {
		slices.Reverse(o)
	}
	return o
}

// paired is f of each round's two samples, a side's and plain's: the two ran close together in time, so
// the machine's drift from round to round (large on a shared 2-core machine) cancels out of each value.
func paired[T any](a, b []T, f func(a, b T) float64) []float64 {
	v := make([]float64, min(len(a), len(b)))
	for i := range v {
		v[i] = f(a[i], b[i])
	}
	return v
}

// spread formats the median of v and its range: "0.93 (0.88 to 0.97)".
func spread(v []float64, format string) string {
	if len(v) == 0 {
		return ""
	}
	v = slices.Sorted(slices.Values(v))
	return fmt.Sprintf(format+" ("+format+" to "+format+")", v[len(v)/2], v[0], v[len(v)-1])
}

// medianInterval formats the median of v with a 90% bootstrap confidence interval: "+0.012 (-0.050 to +0.071)".
func medianInterval(v []float64) string {
	if len(v) == 0 {
		return "—"
	}
	med, lo, hi := bootstrapMedian(v)
	return fmt.Sprintf("%+.3f (%+.3f to %+.3f)", med, lo, hi)
}

// bootstrapMedian returns the median of v (not empty) and its 90% bootstrap confidence interval: the 5th to
// 95th percentile of the medians of 2,000 resamples of v (with a fixed seed, so that a run's printout is
// reproducible from its values).
func bootstrapMedian(v []float64) (med, lo, hi float64) {
	median := func(v []float64) float64 { return slices.Sorted(slices.Values(v))[len(v)/2] }
	rng := rand.New(rand.NewPCG(1, 2))
	medians := make([]float64, 2000)
	resample := make([]float64, len(v))
	for i := range medians {
		for j := range resample {
			resample[j] = v[rng.IntN(len(v))]
		}
		medians[i] = median(resample)
	}
	slices.Sort(medians)
	return median(v), medians[len(medians)/20], medians[len(medians)*19/20]
}

// p99Target is the latency target: the gateway adds less than this at p99.
const p99Target = 0.2 // ms

// p99Verdict says whether the p99 target is met by the rule the README gives: the 90% interval of the
// gateway's added p99 by round lies under the target. A median under it with an interval that is not is
// "not shown": the run cannot tell the gateway's added p99 from one over the target.
func p99Verdict(byRound []float64) string {
	if len(byRound) == 0 {
		return "no rounds"
	}
	med, _, hi := bootstrapMedian(byRound)
	switch {
	case hi < p99Target:
		return fmt.Sprintf("met (%+.3f ms, 90%% interval up to %+.3f)", med, hi)
	case med < p99Target:
		return fmt.Sprintf("not shown (%+.3f ms, but its 90%% interval reaches %+.3f)", med, hi)
	}
	return fmt.Sprintf("not met (%+.3f ms, 90%% interval up to %+.3f)", med, hi)
}

// measure runs l and returns it with the CPU time per request of proc, the process that served it (sides run
// one at a time, so the gateway's process serves only the side that runs).
func measure(l load, proc *caddyProc) sample {
	cpu0 := proc.cpu()
	res := l.run()
	var per time.Duration
	if res.requests > 0 {
		per = (proc.cpu() - cpu0) / time.Duration(res.requests)
	}
	return sample{res, per}
}

// sample is one run and its process's CPU time per request.
type sample struct {
	res    loadResult
	cpuPer time.Duration
}

// pooledSamples is the runs of samples taken as one (see pooled).
func pooledSamples(samples []sample) loadResult {
	runs := make([]loadResult, len(samples))
	for i, s := range samples {
		runs[i] = s.res
	}
	return pooled(runs)
}

// cpuPer is the process's CPU time per request over all of samples, in µs.
func cpuPer(samples []sample) float64 {
	var cpu time.Duration
	var n int64
	for _, s := range samples {
		cpu += s.cpuPer * time.Duration(s.res.requests)
		n += s.res.requests
	}
	if n == 0 {
		return 0
	}
	return float64(cpu/time.Duration(n)) / 1e3
}

// warnErrors reports a run's transport errors and non-2xx answers.
func warnErrors(res loadResult, run string) {
	if res.errors > 0 || res.non2xx > 0 {
		fmt.Fprintf(os.Stderr, "warning: %s: %d errors, %d non-2xx\n", run, res.errors, res.non2xx)
	}
}

// profiled runs measure, and when on is set and the side is the gateway's process or plain Caddy, saves
// that side's CPU profile of the run, its allocations and its heap (see -cpuprofile).
func profiled(on bool, path, side string, proc *caddyProc, dur time.Duration, measure func() sample) sample {
	if !on || side == "nometer" || side == "control" {
		return measure()
	}
	if side != "gateway" {
		path += "." + side
	}
	done := make(chan struct{})
	fetchProfile("http://"+proc.admin+"/debug/pprof/allocs", path+".allocs0")
	go func() {
		defer close(done)
		fetchProfile(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", proc.admin, max(1, int(dur.Seconds())-1)), path)
		fetchProfile("http://"+proc.admin+"/debug/pprof/allocs", path+".allocs")
		fetchProfile("http://"+proc.admin+"/debug/pprof/heap?gc=1", path+".heap")
	}()
	s := measure()
	<-done
	return s
}

// fetchProfile saves a profile from url (the gateway's /debug/pprof) to path.
func fetchProfile(url, path string) {
	resp, err := http.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	check(err)
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	check(err)
}

// createTenants makes n tenants through the admin API, each with one key and one webhook endpoint at hookURL
// subscribed to hookEvents, and returns the keys and the endpoints' ids.
func createTenants(admin string, n int, hookURL string) (keys, endpoints []string) {
	hook, err := json.Marshal(map[string]any{"url": hookURL, "event_types": hookEvents})
	check(err)
	keys, endpoints = make([]string, n), make([]string, n)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				id := fmt.Sprintf("bench-%05d", i)
				post(admin+"/ai_gateway/tenants", `{"id":"`+id+`"}`, http.StatusCreated, nil)
				var k struct{ Key string }
				post(admin+"/ai_gateway/tenants/"+id+"/keys", `{"name":"bench"}`, http.StatusCreated, &k)
				keys[i] = k.Key
				var ep struct {
					ID         string
					TenantID   string   `json:"tenant_id"`
					EventTypes []string `json:"event_types"`
				}
				post(admin+"/ai_gateway/tenants/"+id+"/webhooks", string(hook), http.StatusCreated, &ep)
				if ep.ID == "" || ep.TenantID != id || !slices.Equal(ep.EventTypes, hookEvents) {
					check(fmt.Errorf("webhook endpoint of %s: unexpected answer %+v", id, ep))
				}
				endpoints[i] = ep.ID
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	return keys, endpoints
}

// adminClient keeps a connection per createTenants worker, rather than opening thousands.
var adminClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}

// post calls the admin API: it fails the bench unless the answer's status is want, and decodes the answer
// into out if not nil.
func post(url, body string, want int, out any) {
	resp, err := adminClient.Post(url, "application/json", bytes.NewBufferString(body))
	check(err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		check(fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, raw))
	}
	if out != nil {
		check(json.Unmarshal(raw, out))
	}
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
func mb(b int64) float64         { return float64(b) / (1 << 20) }

// workDir holds the binary, the Caddyfiles, the processes' logs and the database.
var workDir string

// check ends the bench if err is not nil: it stops the processes started and removes the binary, but keeps
// workDir's logs to look at.
func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stopAll()
		if workDir != "" {
			os.Remove(filepath.Join(workDir, "caddy"))
			fmt.Fprintln(os.Stderr, "bench: logs in", workDir)
		}
		os.Exit(1)
	}
}
