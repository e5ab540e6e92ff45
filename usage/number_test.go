package usage

import "testing"

func TestNumbers(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"42", 42, true}, {"42.9", 42, true}, {"1e3", 1000, true}, {"1.5E+3", 1500, true},
		{"2500e-2", 25, true}, {"-5", 0, true}, {"99999999999999999999999", maxCount, true}, {"1e999", maxCount, true},
		{"null", 0, false}, {"", 0, false}, {"-", 0, false}, {"1.", 0, false}, {"1e", 0, false}, {"0x10", 0, false}, {"1-2", 0, false},
	} {
		got, ok := jsonInt([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("jsonInt(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
