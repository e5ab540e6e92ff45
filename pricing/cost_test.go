package pricing

import (
	"math"
	"testing"
)

func TestPriceCost(t *testing.T) {
	mini := Price{Input: 150_000, Output: 600_000, CachedInput: 75_000, CacheWrite: 150_000}
	half := Price{Input: 37_500, Output: 37_500, CachedInput: 37_500, CacheWrite: 37_500}
	sonnet := Price{Input: 3_000_000, Output: 15_000_000, CachedInput: 300_000, CacheWrite: 3_750_000}
	tests := []struct {
		name  string
		price Price
		t     Tokens
		want  Cost
	}{
		{
			"input includes cached tokens", mini, Tokens{Input: 1000, CachedInput: 400, Output: 500},
			Cost{Input: 90_000, CachedInput: 30_000, Output: 300_000, Total: 420_000},
		},
		{
			// 37.5 nano a token: the 1-token components each round up to 38 and Total
			// is their sum (189), not the exact total rounded once (187.5 -> 188).
			"each component rounded half up, total is their sum", half,
			Tokens{Input: 4, CachedInput: 1, CacheWrite: 1, Output: 1},
			Cost{Input: 75, CachedInput: 38, CacheWrite: 38, Output: 38, Total: 189},
		},
		{
			"cache writes and reads", sonnet, Tokens{Input: 10_000, CachedInput: 6_000, CacheWrite: 3_000, Output: 100},
			Cost{Input: 3_000_000, CachedInput: 1_800_000, CacheWrite: 11_250_000, Output: 1_500_000, Total: 17_550_000},
		},
		{
			"more cached than input: uncached clamps to 0", mini, Tokens{Input: 10, CachedInput: 20},
			Cost{CachedInput: 1_500, Total: 1_500},
		},
		{
			"negative counts cost nothing", mini, Tokens{Input: -10, CachedInput: -5, CacheWrite: -1, Output: -3},
			Cost{},
		},
		{
			"extreme counts do not overflow the uncached subtraction", mini,
			Tokens{Input: math.MinInt64, CachedInput: 1000, CacheWrite: 1000},
			Cost{CachedInput: 75_000, CacheWrite: 150_000, Total: 225_000},
		},
		{
			"components that fit, total that saturates", Price{Input: 1_000, Output: 1_000},
			Tokens{Input: math.MaxInt64, Output: math.MaxInt64},
			Cost{Input: MaxMoney, Output: MaxMoney, Total: MaxMoney},
		},
		{
			"total saturates", Price{Input: 2_000_000_000, Output: 2_000_000_000}, Tokens{Input: math.MaxInt64, Output: math.MaxInt64},
			Cost{Input: MaxMoney, Output: MaxMoney, Total: MaxMoney},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.price.Cost(tt.t); got != tt.want {
				t.Fatalf("Cost(%+v) =\n %+v, want\n %+v", tt.t, got, tt.want)
			}
		})
	}
}

func TestCostComponentsAddUp(t *testing.T) {
	prices := []Price{
		{Input: 37_500, Output: 150_000, CachedInput: 9_375, CacheWrite: 46_875},
		{Input: 1, Output: 3, CachedInput: 1, CacheWrite: 2},
		{Input: 3_000_000, Output: 15_000_000, CachedInput: 300_000, CacheWrite: 3_750_000},
	}
	for _, p := range prices {
		for in := int64(0); in < 60; in += 7 {
			for cached := int64(0); cached < 40; cached += 3 {
				for out := int64(0); out < 30; out += 5 {
					c := p.Cost(Tokens{Input: in, CachedInput: cached, CacheWrite: cached / 2, Output: out})
					if sum := c.Input + c.CachedInput + c.CacheWrite + c.Output; sum != c.Total {
						t.Fatalf("%+v: components sum to %d, Total %d", c, sum, c.Total)
					}
				}
			}
		}
	}
}
