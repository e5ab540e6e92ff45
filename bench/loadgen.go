package main

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// load is one closed-loop run: conns connections each send one request after another until the time is up.
type load struct {
	url   string
	body  string
	keys  []string // rotated through as Authorization: Bearer; none for the plain proxy
	conns int
	dur   time.Duration
}

type loadResult struct {
	requests, errors, non2xx int64
	seconds                  float64
	p50, p99                 time.Duration
}

func (r loadResult) rps() float64 { return float64(r.requests) / r.seconds }

func (l load) run() loadResult {
	tr := &http.Transport{MaxIdleConnsPerHost: l.conns, MaxConnsPerHost: l.conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var (
		next, requests, errs, non2 atomic.Int64
		mu                         sync.Mutex
		lat                        []time.Duration
		wg                         sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(l.dur)
	for range l.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1<<14)
			buf := make([]byte, 32<<10)
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest(http.MethodPost, l.url, strings.NewReader(l.body))
				req.Header.Set("Content-Type", "application/json")
				if len(l.keys) > 0 {
					req.Header.Set("Authorization", "Bearer "+l.keys[next.Add(1)%int64(len(l.keys))])
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				io.CopyBuffer(io.Discard, resp.Body, buf)
				resp.Body.Close()
				local = append(local, time.Since(t0))
				requests.Add(1)
				if resp.StatusCode/100 != 2 {
					non2.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	return loadResult{requests: requests.Load(), errors: errs.Load(), non2xx: non2.Load(),
		seconds: time.Since(start).Seconds(), p50: pct(0.50), p99: pct(0.99)}
}
