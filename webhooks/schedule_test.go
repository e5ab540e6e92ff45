package webhooks

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestJitteredBounds(t *testing.T) {
	tests := []struct {
		d    time.Duration
		r    float64
		want time.Duration
	}{
		{time.Minute, 0, 48 * time.Second},
		{time.Minute, 0.5, time.Minute},
		{time.Minute, 0.75, 66 * time.Second},
		{0, 0.9, 0},
	}
	for _, tt := range tests {
		if got := Jittered(tt.d, DefaultJitter, tt.r); got != tt.want {
			t.Errorf("Jittered(%v, 0.2, %v) = %v, want %v", tt.d, tt.r, got, tt.want)
		}
	}
	// Random draws stay within ±20% and use the whole range.
	for _, d := range DefaultSchedule[1:] {
		lo, hi := d, d
		for range 2000 {
			j := Jittered(d, DefaultJitter, rand.Float64())
			lo, hi = min(lo, j), max(hi, j)
		}
		if lo < d*8/10 || hi > d*12/10 {
			t.Errorf("%v jittered to [%v, %v], outside ±20%%", d, lo, hi)
		}
		if lo > d*82/100 || hi < d*118/100 {
			t.Errorf("%v jittered only to [%v, %v]: the spread is not used", d, lo, hi)
		}
	}
	if got := Jittered(time.Minute, -1, 0); got != time.Minute {
		t.Errorf("negative jitter changed the delay to %v", got)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
		ok     bool
	}{
		{"", 0, false},
		{"120", 2 * time.Minute, true},
		{" 0 ", 0, true},
		{"-5", 0, false},
		{"soon", 0, false},
		{"99999999999", 24 * time.Hour, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(72 * time.Hour).Format(http.TimeFormat), 24 * time.Hour, true},
	}
	for _, tt := range tests {
		got, ok := RetryAfter(tt.header, now, DefaultMaxRetryAfter)
		if got != tt.want || ok != tt.ok {
			t.Errorf("RetryAfter(%q) = %v, %v; want %v, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseSchedule(t *testing.T) {
	got, err := ParseSchedule(strings.Fields("0s 5s 5m 30m 2h 5h 10h 14h 20h 24h"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, DefaultSchedule) {
		t.Errorf("the contract's schedule parses to %v, not DefaultSchedule %v", got, DefaultSchedule)
	}
	for _, bad := range [][]string{nil, {"5x"}, {"-1s"}} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) accepted", bad)
		}
	}
}
