package main

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// load is one run against url: conns connections, each sending one request after another, for dur. With rate
// zero it is closed loop (a connection sends as soon as its previous answer is in). With a rate it is open loop,
// as wrk2: requests are due every 1/rate seconds, spread over the connections, and latency counts from when a
// request was due, so a connection that falls behind sends at once and its lateness is part of the latency
// (no coordinated omission).
type load struct {
	url   string
	body  string
	keys  []string // rotated through as Authorization: Bearer; none for the plain proxy
	conns int
	dur   time.Duration
	rate  float64 // requests/s over all connections; 0: closed loop
}

type loadResult struct {
	requests, errors, non2xx int64
	seconds                  float64
	p50, p90, p99, p999      time.Duration
	lateP99                  time.Duration   // open loop: p99 of how late requests went out after they were due
	lat, late                []time.Duration // every latency and lateness, sorted, for pooling rounds
}

// pooled is the runs taken as one: every request over all their seconds, and the percentiles of every latency.
// Unlike a median over runs, it leaves out no slow run, and a run's weight is its requests.
func pooled(runs []loadResult) loadResult {
	var p loadResult
	for _, r := range runs {
		p.requests, p.errors, p.non2xx, p.seconds = p.requests+r.requests, p.errors+r.errors, p.non2xx+r.non2xx, p.seconds+r.seconds
		p.lat, p.late = append(p.lat, r.lat...), append(p.late, r.late...)
	}
	p.percentiles()
	return p
}

// percentiles sorts the latencies and latenesses and works out the percentiles from them.
func (r *loadResult) percentiles() {
	slices.Sort(r.lat)
	slices.Sort(r.late)
	r.p50, r.p90, r.p99, r.p999 = percentile(r.lat, 0.50), percentile(r.lat, 0.90), percentile(r.lat, 0.99), percentile(r.lat, 0.999)
	r.lateP99 = percentile(r.late, 0.99)
}

func (r loadResult) rps() float64 { return float64(r.requests) / r.seconds }

func (l load) run() loadResult {
	tr := &http.Transport{MaxIdleConnsPerHost: l.conns, MaxConnsPerHost: l.conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var (
		next, due, requests, errs, non2 atomic.Int64
		mu                              sync.Mutex
		lat, late                       []time.Duration
		wg                              sync.WaitGroup
	)
	if l.rate > 0 {
		// Open the connections first, so that no dialing is in the first latencies.
		var warm sync.WaitGroup
		for range l.conns {
			warm.Go(func() { do(client, l.request(next.Add(1)), nil) })
		}
		warm.Wait()
	}
	start := time.Now()
	deadline := start.Add(l.dur)
	for range l.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			localLat, localLate := make([]time.Duration, 0, 1<<14), []time.Duration(nil)
			buf := make([]byte, 32<<10)
			for {
				t0 := time.Now()
				if l.rate > 0 {
					// The next request due, whichever connection is free; all those due before the deadline are sent.
					t0 = start.Add(time.Duration(float64(due.Add(1)-1) * float64(time.Second) / l.rate))
				}
				if !t0.Before(deadline) {
					break
				}
				req := l.request(next.Add(1))
				if l.rate > 0 {
					sleepUntil(t0)
					localLate = append(localLate, time.Since(t0))
				} else {
					t0 = time.Now()
				}
				status, err := do(client, req, buf)
				if err != nil {
					errs.Add(1)
					continue
				}
				localLat = append(localLat, time.Since(t0))
				requests.Add(1)
				if status/100 != 2 {
					non2.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, localLat...)
			late = append(late, localLate...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res := loadResult{requests: requests.Load(), errors: errs.Load(), non2xx: non2.Load(),
		seconds: time.Since(start).Seconds(), lat: lat, late: late}
	res.percentiles()
	return res
}

// request is the i-th request of the run: the body, with the i-th key in rotation if there are keys.
func (l load) request(i int64) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, l.url, strings.NewReader(l.body))
	req.Header.Set("Content-Type", "application/json")
	if len(l.keys) > 0 {
		req.Header.Set("Authorization", "Bearer "+l.keys[i%int64(len(l.keys))])
	}
	return req
}

// do sends req and reads the whole answer, through buf.
func do(client *http.Client, req *http.Request, buf []byte) (status int, err error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.CopyBuffer(io.Discard, resp.Body, buf)
	return resp.StatusCode, err
}

// percentile is the p quantile (0 <= p < 1) of sorted durations; 0 if there are none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// sleepUntil waits until t. It asks the kernel rather than time.Sleep: the runtime's timers wake up to a
// millisecond late when the process is idle, and that would count in every open-loop latency; nanosleep is
// late by tens of microseconds. (A signal interrupting it just means another round.)
func sleepUntil(t time.Time) {
	for d := time.Until(t); d > 0; d = time.Until(t) {
		ts := syscall.NsecToTimespec(int64(d))
		syscall.Nanosleep(&ts, nil)
	}
}
