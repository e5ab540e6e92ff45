package pricing

// Price is what one model costs, per 1M tokens of each kind.
type Price struct {
	Input       Rate // uncached input tokens
	Output      Rate
	CachedInput Rate // input tokens read from the provider's prompt cache; Input when not given
	CacheWrite  Rate // input tokens written to the prompt cache (Anthropic); Input when not given
	// Source says where the price came from: "builtin:<as_of date>" or "config".
	Source string
}

// Tokens is one operation's usage. Input counts every input token, cached and cache-write ones
// included (OpenAI's prompt_tokens); Anthropic's input_tokens excludes them, so its usage is
// converted (input_tokens + cache_read_input_tokens + cache_creation_input_tokens) before it
// gets here.
type Tokens struct {
	Input, CachedInput, CacheWrite, Output int64
}

// Cost is one operation's cost by component. Input is the cost of the uncached input tokens
// (Tokens.Input - CachedInput - CacheWrite).
type Cost struct {
	Input, CachedInput, CacheWrite, Output, Total Money
}

// Cost prices usage t. Each component is rounded on its own (Rate.Cost) and Total is their
// sum, so the components of a bill always add up to its total. Negative counts, and an
// uncached count that would be negative because a provider reported more cached tokens than
// input tokens, count as 0.
func (p Price) Cost(t Tokens) Cost {
	uncached := max(t.Input, 0)
	for _, sub := range [...]int64{t.CachedInput, t.CacheWrite} {
		uncached = max(uncached-max(sub, 0), 0) // both operands >= 0: cannot overflow
	}
	c := Cost{
		Input:       p.Input.Cost(uncached),
		CachedInput: p.CachedInput.Cost(t.CachedInput),
		CacheWrite:  p.CacheWrite.Cost(t.CacheWrite),
		Output:      p.Output.Cost(t.Output),
	}
	total := int64(c.Input)
	for _, m := range [...]Money{c.CachedInput, c.CacheWrite, c.Output} {
		total = addSat(total, int64(m))
	}
	c.Total = Money(total)
	return c
}
