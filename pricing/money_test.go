package pricing

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestMoneyString(t *testing.T) {
	tests := []struct {
		m    Money
		want string
	}{
		{0, "0.000000000"},
		{1, "0.000000001"},
		{-1, "-0.000000001"},
		{123450, "0.000123450"},
		{-1_500_000_000, "-1.500000000"},
		{12345_000_000_001, "12345.000000001"},
		{MaxMoney, "9223372036.854775807"},
		{math.MinInt64, "-9223372036.854775808"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.m.String(); got != tt.want {
				t.Fatalf("Money(%d).String() = %q, want %q", int64(tt.m), got, tt.want)
			}
			back, err := ParseMoney(tt.want)
			if err != nil || back != tt.m {
				t.Fatalf("ParseMoney(%q) = %d, %v; want %d", tt.want, back, err, tt.m)
			}
		})
	}
}

func TestParseMoney(t *testing.T) {
	ok := []struct {
		in   string
		want Money
	}{
		{"5", 5_000_000_000},
		{"5.00", 5_000_000_000},
		{"0.000000001", 1},
		{"-0.000000001", -1},
		{"-0", 0},
		{"0012.5", 12_500_000_000},
		{"9223372036.854775807", MaxMoney},
		{"-9223372036.854775808", math.MinInt64},
	}
	for _, tt := range ok {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMoney(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("ParseMoney(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
	bad := []struct{ in, why string }{
		{"", "empty"},
		{"-", "empty"},
		{"0.0000000001", "more than 9 decimals"},
		{"1e3", "not a plain decimal"},
		{"1E-9", "not a plain decimal"},
		{"NaN", "not a plain decimal"},
		{"Inf", "not a plain decimal"},
		{"+5", "not a plain decimal"},
		{"--5", "not a plain decimal"},
		{"5-", "not a plain decimal"},
		{" 5", "not a plain decimal"},
		{"5 ", "not a plain decimal"},
		{"1,5", "not a plain decimal"},
		{"5.", "not a plain decimal"},
		{".5", "not a plain decimal"},
		{"1.2.3", "not a plain decimal"},
		{"0x10", "not a plain decimal"},
		{"9223372036.854775808", "out of range"},
		{"-9223372036.854775809", "out of range"},
		{"99999999999999999999999", "out of range"},
	}
	for _, tt := range bad {
		t.Run("bad "+tt.in, func(t *testing.T) {
			got, err := ParseMoney(tt.in)
			if err == nil {
				t.Fatalf("ParseMoney(%q) = %d, want an error", tt.in, got)
			}
			if !strings.Contains(err.Error(), tt.why) || !strings.Contains(err.Error(), "\""+tt.in+"\"") {
				t.Fatalf("ParseMoney(%q) error %q should name the input and say %q", tt.in, err, tt.why)
			}
		})
	}
}

func TestRoundToCents(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"12.345000000", 1235},   // exactly half a cent: up
		{"12.344999999", 1234},   // a nano below half: down
		{"12.345000001", 1235},   // above half
		{"0.005000000", 1},       // half a cent from zero
		{"0.004999999", 0},       // just below
		{"12.340000000", 1234},   // exact cents untouched
		{"0.009999999", 1},       //
		{"-12.345000000", -1235}, // negative half: away from zero
		{"-12.344999999", -1234}, // negative below half: toward zero
		{"-0.005000000", -1},
		{"-0.004999999", 0},
		{"0", 0},
		{"9223372036.854775807", 922337203685},
		{"-9223372036.854775808", -922337203685},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			m, err := ParseMoney(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := RoundToCents(m); got != tt.want {
				t.Fatalf("RoundToCents(%s) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestCentsString(t *testing.T) {
	tests := []struct {
		c    int64
		want string
	}{
		{1235, "12.35"},
		{0, "0.00"},
		{5, "0.05"},
		{-5, "-0.05"},
		{-1235, "-12.35"},
		{100, "1.00"},
		{math.MaxInt64, "92233720368547758.07"},
		{math.MinInt64, "-92233720368547758.08"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := CentsString(tt.c); got != tt.want {
				t.Fatalf("CentsString(%d) = %q, want %q", tt.c, got, tt.want)
			}
		})
	}
}

func TestMoneyAndRateAreJSONStrings(t *testing.T) {
	type doc struct {
		Cost Money `json:"cost"`
		Rate Rate  `json:"rate"`
	}
	b, err := json.Marshal(doc{Cost: 123450, Rate: 75000})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"cost":"0.000123450","rate":"0.075"}`; string(b) != want {
		t.Fatalf("json = %s, want %s", b, want)
	}
	var back doc
	if err := json.Unmarshal(b, &back); err != nil || back.Cost != 123450 || back.Rate != 75000 {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
	for _, in := range []string{`{"cost":0.5}`, `{"rate":0.075}`, `{"cost":"1e-3"}`, `{"rate":"-1"}`} {
		if err := json.Unmarshal([]byte(in), &back); err == nil {
			t.Errorf("json.Unmarshal(%s) accepted a float or bad decimal", in)
		}
	}
}
