package pricing

import (
	"math"
	"strings"
	"testing"
)

func TestParseRate(t *testing.T) {
	ok := []struct {
		in     string
		want   Rate
		string string // String's minimal form
	}{
		{"0.075", 75_000, "0.075"},
		{"3", 3_000_000, "3"},
		{"15.00", 15_000_000, "15"},
		{"0.60", 600_000, "0.6"},
		{"0.000001", 1, "0.000001"},
		{"0", 0, "0"},
		{"1000", 1_000_000_000, "1000"},
		{"0.0375", 37_500, "0.0375"},
		{"9223372036854.775807", math.MaxInt64, "9223372036854.775807"},
	}
	for _, tt := range ok {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("ParseRate(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
			if s := got.String(); s != tt.string {
				t.Fatalf("Rate(%d).String() = %q, want %q", got, s, tt.string)
			}
			if back, err := ParseRate(got.String()); err != nil || back != got {
				t.Fatalf("ParseRate(String()) = %d, %v", back, err)
			}
		})
	}
	bad := []struct{ in, why string }{
		{"", "empty"},
		{"-1", "not a plain decimal"},
		{"+1", "not a plain decimal"},
		{"1e3", "not a plain decimal"},
		{"0.0000001", "more than 6 decimals"},
		{"$3", "not a plain decimal"},
		{"3.", "not a plain decimal"},
		{"9223372036854.775808", "out of range"},
	}
	for _, tt := range bad {
		t.Run("bad "+tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("ParseRate(%q) = %d, %v; want an error saying %q", tt.in, got, err, tt.why)
			}
		})
	}
}

func TestRateCost(t *testing.T) {
	tests := []struct {
		name   string
		rate   Rate
		tokens int64
		want   Money
	}{
		{"1 token at 0.0375/M is 37.5 nano: half rounds up", 37_500, 1, 38},
		{"3 tokens at 0.0375/M is 112.5 nano: up", 37_500, 3, 113},
		{"2 tokens at 0.0375/M is exactly 75 nano", 37_500, 2, 75},
		{"1 token at 0.0374/M is 37.4 nano: down", 37_400, 1, 37},
		{"1 token at 0.000499/M is 0.499 nano: down to 0", 499, 1, 0},
		{"1 token at 0.0005/M is 0.5 nano: up to 1", 500, 1, 1},
		{"1M tokens at 0.15/M is 0.15", 150_000, 1_000_000, 150_000_000},
		{"0 tokens", 150_000, 0, 0},
		{"negative tokens cost nothing", 150_000, -5, 0},
		{"negative rate costs nothing", -150_000, 5, 0},
		{"1e12 tokens at 1000/M: 1e21 pico overflows int64 but the cost fits", 1_000_000_000, 1_000_000_000_000, 1_000_000_000_000_000_000},
		{"past int64 in the product, rounded half up exactly", 999_999_999, 1_000_000_000_001, 999_999_999_001_000_000},
		{"max tokens at the smallest rate", 1, math.MaxInt64, 9_223_372_036_854_776},
		{"max tokens at 0.001/M is exactly MaxMoney", 1_000, math.MaxInt64, MaxMoney},
		{"saturates: max tokens at 1000/M", 1_000_000_000, math.MaxInt64, MaxMoney},
		{"saturates just past MaxMoney", 1_001, math.MaxInt64, MaxMoney},
		{"saturates: max tokens at max rate", math.MaxInt64, math.MaxInt64, MaxMoney},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rate.Cost(tt.tokens); got != tt.want {
				t.Fatalf("Rate(%d).Cost(%d) = %d, want %d", tt.rate, tt.tokens, got, tt.want)
			}
		})
	}
}
