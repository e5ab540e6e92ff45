package limits

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// benchPolicy exercises both limits on every call yet never denies: the steady path.
var benchPolicy = Policy{DailyOperations: 1 << 62, Interval: time.Nanosecond, Burst: 1 << 40}

func benchTenants(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = "tenant-" + strconv.Itoa(i)
	}
	return names
}

func BenchmarkAdmitSettle(b *testing.B) {
	tests := []struct {
		name    string
		tenants int
	}{
		{"one tenant", 1},
		{"10k tenants", 10_000},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			l := New(nil)
			names := benchTenants(tt.tenants)
			for _, n := range names { // create state outside the measured loop
				r, _ := l.Admit(n, benchPolicy)
				l.Settle(r, true)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r, d := l.Admit(names[i%len(names)], benchPolicy)
				if !d.Allowed() {
					b.Fatal(d.Reason)
				}
				l.Settle(r, true)
				i++
			}
		})
	}
}

func BenchmarkAdmitSettleParallel(b *testing.B) {
	tests := []struct {
		name    string
		tenants int
	}{
		{"hot tenant", 1},
		{"10k tenants", 10_000},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			l := New(nil)
			names := benchTenants(tt.tenants)
			for _, n := range names {
				r, _ := l.Admit(n, benchPolicy)
				l.Settle(r, true)
			}
			var worker atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(worker.Add(1)) * 7919 // workers start on different tenants
				for pb.Next() {
					r, d := l.Admit(names[i%len(names)], benchPolicy)
					if !d.Allowed() {
						b.Error(d.Reason)
						return
					}
					l.Settle(r, i%2 == 0)
					i++
				}
			})
		})
	}
}
