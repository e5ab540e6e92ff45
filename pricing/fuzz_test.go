package pricing

import (
	"math"
	"math/big"
	"regexp"
	"strings"
	"testing"
)

// exactDecimal is the value of a plain decimal string times 10^scale, exactly, or nil if it is not one.
func exactDecimal(s string, scale int) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil
	}
	return r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
}

// checkDecimal compares a parser with math/big: an accepted string means exactly what it says, and a string of
// the documented grammar within range is accepted.
func checkDecimal(t *testing.T, s string, scale int, grammar *regexp.Regexp, min, max *big.Int, got int64, err error) {
	t.Helper()
	want := exactDecimal(s, scale)
	inRange := want != nil && want.IsInt() && want.Num().Cmp(min) >= 0 && want.Num().Cmp(max) <= 0
	switch {
	case err == nil && (want == nil || !want.IsInt() || want.Num().Cmp(big.NewInt(got)) != 0):
		t.Fatalf("%q parsed as %d, but it is %v", s, got, want)
	case err == nil && !grammar.MatchString(s):
		t.Fatalf("%q accepted, but it is not a plain decimal", s)
	case err != nil && grammar.MatchString(s) && inRange:
		t.Fatalf("%q refused: %v", s, err)
	}
}

var (
	moneyGrammar = regexp.MustCompile(`^-?[0-9]+(\.[0-9]{1,9})?$`)
	rateGrammar  = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,6})?$`)
)

func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"5", "5.00", "-0.000000001", "0.000123450", "9223372036.854775807", "-9223372036.854775808",
		"9223372036.854775808", "1e3", "+1", " 1", "5.", ".5", "1.0000000001", "--1", "-", "", "0x10", "１"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMoney(s)
		checkDecimal(t, s, moneyScale, moneyGrammar, big.NewInt(math.MinInt64), big.NewInt(math.MaxInt64), int64(m), err)
		if err != nil {
			return
		}
		back, err := ParseMoney(m.String())
		if err != nil || back != m {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, m, m.String(), back, err)
		}
		var u Money
		if err := u.UnmarshalText([]byte(m.String())); err != nil || u != m {
			t.Fatalf("UnmarshalText(%q) = %d, %v", m.String(), u, err)
		}
		if m != math.MinInt64 && RoundToCents(-m) != -RoundToCents(m) {
			t.Fatalf("rounding of %s is not symmetric: %d vs %d", m, RoundToCents(m), RoundToCents(-m))
		}
	})
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"0.075", "3", "15.00", "0", "0.000001", "0.0000001", "9223372036854.775807",
		"9223372036854.775808", "-1", "1e-3", "1.", ".1", "", "1,5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		checkDecimal(t, s, rateScale, rateGrammar, big.NewInt(0), big.NewInt(math.MaxInt64), int64(r), err)
		if err != nil {
			return
		}
		back, err := ParseRate(r.String())
		if err != nil || back != r {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, r, r.String(), back, err)
		}
		if strings.HasSuffix(r.String(), "0") && strings.Contains(r.String(), ".") {
			t.Fatalf("String %q is not the shortest form", r.String())
		}
		if c := r.Cost(1_000_000); r <= Rate(math.MaxInt64/1000) && c != Money(r)*1000 {
			t.Fatalf("1M tokens at %s cost %s, want %d nano-units", r, c, int64(r)*1000)
		}
	})
}

// FuzzParseOverride reads `price` lines (the arguments split as the Caddyfile would, on spaces): no panic, an
// accepted line reads back the same from its canonical form, and a table built from it does not panic on a
// lookup of its own pattern.
func FuzzParseOverride(f *testing.F) {
	for _, s := range []string{
		"gpt-4o-mini input 0.15 output 0.60 cached_input 0.075",
		"claude-* input 3.00 output 15.00",
		"my-finetune-? input 1 output 4 cache_write 1.25",
		"gpt-4o output 12",
		"x input 1 input 2",
		"x input",
		"x bogus 1",
		"x",
		"",
		"   input 1 output 2",
		"openai/GPT-4O-2024-08-06 input 2.5 output 10",
		"[a-z]* input 1 output 1",
	} {
		f.Add(s)
	}
	base := Builtin()
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		o, err := ParseOverride(args)
		if err != nil {
			return
		}
		canon := []string{o.Pattern}
		for _, kv := range []struct {
			k string
			r *Rate
		}{{"input", o.Input}, {"output", o.Output}, {"cached_input", o.CachedInput}, {"cache_write", o.CacheWrite}} {
			if kv.r != nil {
				canon = append(canon, kv.k, kv.r.String())
			}
		}
		back, err := ParseOverride(canon)
		if err != nil || !sameOverride(o, back) {
			t.Fatalf("%q -> %q -> %+v, %v", line, canon, back, err)
		}
		tbl, err := base.With([]Override{o})
		if err != nil {
			return // e.g. an unknown model without input and output
		}
		p, ok := tbl.Lookup(strings.ReplaceAll(strings.ReplaceAll(o.Pattern, "*", "x"), "?", "y"))
		if ok && (p.Input < 0 || p.Output < 0 || p.CachedInput < 0 || p.CacheWrite < 0) {
			t.Fatalf("negative price %+v from %q", p, line)
		}
	})
}

func sameOverride(a, b Override) bool {
	eq := func(x, y *Rate) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.Pattern == b.Pattern && eq(a.Input, b.Input) && eq(a.Output, b.Output) &&
		eq(a.CachedInput, b.CachedInput) && eq(a.CacheWrite, b.CacheWrite)
}
