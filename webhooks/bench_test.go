package webhooks

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Deliveries per second to a fast receiver on loopback, through the whole path: schedule, store reads, signing,
// HTTP, recording the attempt.
func BenchmarkDeliveries(b *testing.B) {
	for _, endpoints := range []int{1, 8} {
		b.Run(fmt.Sprintf("endpoints=%d", endpoints), func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			s := NewMemStore()
			var eps []Endpoint
			for i := range endpoints {
				ep, _ := NewEndpoint("acme", fmt.Sprintf("%s/ep%d", srv.URL, i), nil, time.Now())
				s.CreateEndpoint(context.Background(), ep)
				eps = append(eps, ep)
			}
			var ds []Delivery
			for i := range b.N {
				ds = append(ds, publish(b, s, nil, time.Now(), 1, eps[i%endpoints])...)
			}
			d := NewDispatcher(s, Options{AllowPrivateTargets: true})
			if err := d.Start(context.Background()); err != nil { // nothing is due: publish wrote no Notify
				b.Fatal(err)
			}
			defer d.Stop(context.Background())
			b.ResetTimer()
			d.Notify(ds...)
			for d.Stats().Succeeded < uint64(b.N) {
				time.Sleep(200 * time.Microsecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// The latency of one delivery to a healthy endpoint (Notify to the receiver's handler), alone and beside an
// endpoint that hangs with 2,000 deliveries due.
func BenchmarkDeadEndpointIsolation(b *testing.B) {
	for _, dead := range []int{0, 2000} {
		b.Run(fmt.Sprintf("dead_pending=%d", dead), func(b *testing.B) {
			got := make(chan struct{}, 1)
			healthySrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- struct{}{} }))
			defer healthySrv.Close()
			release := make(chan struct{})
			deadSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-release:
				case <-r.Context().Done():
				}
			}))
			defer deadSrv.Close()
			defer close(release)

			s := NewMemStore()
			healthy, _ := NewEndpoint("acme", healthySrv.URL, nil, time.Now())
			deadEp, _ := NewEndpoint("acme", deadSrv.URL, nil, time.Now())
			s.CreateEndpoint(context.Background(), healthy)
			s.CreateEndpoint(context.Background(), deadEp)
			d := NewDispatcher(s, Options{AllowPrivateTargets: true, Timeout: time.Minute})
			if err := d.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				d.Stop(ctx)
			}()
			if dead > 0 {
				publish(b, s, d, time.Now(), dead, deadEp)
			}
			ds := make([][]Delivery, b.N)
			for i := range b.N {
				ds[i] = publish(b, s, nil, time.Now(), 1, healthy)
			}
			b.ResetTimer()
			for i := range b.N {
				d.Notify(ds[i]...)
				<-got
			}
		})
	}
}
