package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// Over 2×n rounds each of n sides runs in each position twice, and right after each other side twice, whether
// or not the A/A control is a side.
func TestOrderBalancesPositionsAndPredecessors(t *testing.T) {
	for _, sides := range [][]string{{"plain", "gateway", "nometer"}, {"plain", "gateway", "nometer", "control"}, {"a", "b", "c", "d", "e"}} {
		n := len(sides)
		count := map[string][]int{}
		after := map[[2]string]int{}
		for r := range 2 * n {
			o := order(sides, r)
			if len(o) != n {
				t.Fatalf("order(%v, %d) = %v", sides, r, o)
			}
			for pos, side := range o {
				if count[side] == nil {
					count[side] = make([]int, n)
				}
				count[side][pos]++
				if pos > 0 {
					after[[2]string{o[pos-1], side}]++
				}
			}
		}
		for _, a := range sides {
			for _, b := range sides {
				if a != b && after[[2]string{a, b}] != 2 {
					t.Errorf("%d sides: %s ran right after %s %d times over %d rounds, want 2", n, b, a, after[[2]string{a, b}], 2*n)
				}
			}
		}
		for _, side := range sides {
			for pos, c := range count[side] {
				if c != 2 {
					t.Errorf("%d sides: %s ran %d times in position %d over %d rounds, want 2", n, side, c, pos, 2*n)
				}
			}
		}
	}
}

// The interval holds the median, narrows as the rounds agree, and is the same for the same values.
func TestMedianInterval(t *testing.T) {
	parse := func(s string) (med, lo, hi float64) {
		f := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '(' || r == ')' })
		if len(f) != 4 || f[2] != "to" {
			t.Fatalf("medianInterval = %q", s)
		}
		v := make([]float64, 0, 3)
		for _, x := range []string{f[0], f[1], f[3]} {
			y, err := strconv.ParseFloat(x, 64)
			if err != nil {
				t.Fatal(err)
			}
			v = append(v, y)
		}
		return v[0], v[1], v[2]
	}
	var spread, tight []float64
	for i := range 41 {
		spread = append(spread, float64(i%7-3)/10) // -0.3 .. +0.3
		tight = append(tight, 0.1+float64(i%3-1)/1000)
	}
	med, lo, hi := parse(medianInterval(spread))
	if med != 0 || lo > med || hi < med || hi-lo > 0.3 {
		t.Errorf("spread: median %v, interval %v to %v", med, lo, hi)
	}
	med, lo, hi = parse(medianInterval(tight))
	if med != 0.1 || hi-lo > 0.002 {
		t.Errorf("tight: median %v, interval %v to %v", med, lo, hi)
	}
	if a, b := medianInterval(spread), medianInterval(spread); a != b {
		t.Errorf("not reproducible: %q, then %q", a, b)
	}
	if got := medianInterval(nil); got != "—" {
		t.Errorf("no rounds: %q", got)
	}
}

// TestP99Verdict: the target is met only when the whole 90% interval of the added p99 lies under it; a median
// under it with an interval that reaches it is not enough.
func TestP99Verdict(t *testing.T) {
	rounds := func(center, halfWidth float64) []float64 {
		var v []float64
		for i := range 41 {
			v = append(v, center+halfWidth*float64(i%11-5)/5)
		}
		return v
	}
	for _, c := range []struct {
		name string
		v    []float64
		want string
	}{
		{"narrow, well under", rounds(0.05, 0.01), "met"},
		{"median under, interval over", rounds(0.18, 0.4), "not shown"},
		{"narrow, over", rounds(0.3, 0.01), "not met"},
		{"no rounds", nil, "no rounds"},
	} {
		if got := p99Verdict(c.v); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: p99Verdict = %q, want %q", c.name, got, c.want)
		}
	}
}

// TestBodies: every kind's request is a JSON object the gateway accepts, and the long one is about 256 KB.
func TestBodies(t *testing.T) {
	for kind, body := range bodies {
		var v struct {
			Model    string
			Stream   bool
			Messages []struct{ Content string }
		}
		if err := json.Unmarshal([]byte(body), &v); err != nil || v.Model == "" || len(v.Messages) == 0 {
			t.Errorf("%s: %v %+v", kind, err, v)
		}
	}
	if n := len(bodies["long"]); n < 240<<10 || n > 270<<10 {
		t.Errorf("the long request is %d bytes, want about 256 KB", n)
	}
}
