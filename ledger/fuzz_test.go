package ledger

import (
	"math/big"
	"regexp"
	"strings"
	"testing"
)

// taxGrammar is what ParseTaxRate documents: a plain percentage with at most four decimals.
var taxGrammar = regexp.MustCompile(`^[0-9]+(\.[0-9]{0,4})?%$`)

// FuzzParseTaxRate: no panic; an accepted rate is exactly the percentage written (in parts per million), reads
// back the same from String, and String is the canonical form.
func FuzzParseTaxRate(f *testing.F) {
	for _, s := range []string{"10%", "7.25%", "0%", "0.0001%", "1000%", "1000.9999%", "1001%", " 19.6% ", "10", "10 %",
		"-1%", "+1%", "1e1%", "7.25000%", ".5%", "5.%", "%", "", "０%", "9223372036854775807%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseTaxRate(s)
		if err != nil {
			return
		}
		num := strings.TrimSpace(s)
		if !taxGrammar.MatchString(num) {
			t.Fatalf("%q accepted as %d, but it is not a percentage with at most four decimals", s, r)
		}
		want, ok := new(big.Rat).SetString(strings.TrimSuffix(num, "%"))
		if !ok || want.Mul(want, big.NewRat(10000, 1)).Cmp(big.NewRat(int64(r), 1)) != 0 {
			t.Fatalf("%q parsed as %d parts per million", s, r)
		}
		if r < 0 || r >= 1001*10000 {
			t.Fatalf("%q parsed as %d: outside 0%% to 1000%%", s, r)
		}
		back, err := ParseTaxRate(r.String())
		if err != nil || back != r {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, r, r.String(), back, err)
		}
		if c := r.String(); strings.Contains(c, ".") && strings.HasSuffix(c, "0%") {
			t.Fatalf("String %q is not the canonical form", c)
		}
	})
}

func TestParseTaxRate(t *testing.T) {
	for in, want := range map[string]TaxRate{"10%": 100000, "7.25%": 72500, "0%": 0, "100%": 1000000, " 19.6% ": 196000} {
		if got, err := ParseTaxRate(in); err != nil || got != want {
			t.Errorf("ParseTaxRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"5.%", "100.5%", "101%", "-1%", "10", "1e1%", ".5%", "7.00001%"} {
		if got, err := ParseTaxRate(in); err == nil {
			t.Errorf("ParseTaxRate(%q) = %d, want an error", in, got)
		}
	}
}
