package pricing

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Override is one Caddyfile `price` line: a model name or glob and the rates it sets. A nil
// rate is not given.
type Override struct {
	Pattern                                string
	Input, Output, CachedInput, CacheWrite *Rate
}

// With returns a new table in which overrides replace or add prices; t is unchanged.
//
// A line for a model the built-in table prices (an exact name is resolved the way Lookup
// resolves it in the built-in table, so "gpt-4o-mini-2024-07-18" finds "gpt-4o-mini"; a glob
// only matches a built-in glob written the same way) keeps the built-in rates it does not give.
// A line for any other model must give input and output. An omitted cached_input or cache_write
// that the base did not write down either follows the line's input. On a table that already has
// overrides, a line for the same pattern is layered on the earlier line the same way.
// Two lines for the same pattern in one call are an error.
func (t *Table) With(overrides []Override) (*Table, error) {
	nt := &Table{
		config:  layer{exact: maps.Clone(t.config.exact), globs: slices.Clone(t.config.globs)},
		builtin: t.builtin,
		asOf:    t.asOf,
		nextSeq: t.nextSeq,
	}
	if nt.config.exact == nil {
		nt.config.exact = make(map[string]*entry, len(overrides))
	}
	seen := make(map[string]bool, len(overrides))
	for _, o := range overrides {
		pattern := strings.ToLower(strings.TrimSpace(o.Pattern))
		if pattern == "" {
			return nil, errors.New("price: empty model name")
		}
		if seen[pattern] {
			return nil, fmt.Errorf("price %s: given twice", o.Pattern)
		}
		seen[pattern] = true
		base := t.config.samePattern(pattern)
		if base == nil {
			base = t.builtinBase(pattern)
		}
		e, err := merge(o, base)
		if err != nil {
			return nil, fmt.Errorf("price %s: %w", o.Pattern, err)
		}
		if !isGlob(pattern) {
			nt.config.exact[pattern] = &e
			continue
		}
		nt.config.globs = slices.DeleteFunc(nt.config.globs, func(g glob) bool { return g.pattern == pattern })
		nt.config.globs = append(nt.config.globs, newGlob(pattern, nt.nextSeq, e))
		nt.nextSeq++
	}
	sortGlobs(nt.config.globs)
	return nt, nil
}

// builtinBase is the built-in entry a partial override of pattern extends, or nil.
func (t *Table) builtinBase(pattern string) *entry {
	if isGlob(pattern) {
		return t.builtin.samePattern(pattern)
	}
	name := []byte(pattern)
	return t.builtin.find(name, withoutProvider(name))
}

// merge applies o to base (nil for a model without a built-in or earlier price).
func merge(o Override, base *entry) (entry, error) {
	for _, r := range []struct {
		keyword string
		rate    *Rate
	}{{"input", o.Input}, {"output", o.Output}, {"cached_input", o.CachedInput}, {"cache_write", o.CacheWrite}} {
		if r.rate != nil && *r.rate < 0 {
			return entry{}, fmt.Errorf("%s: negative price %s", r.keyword, *r.rate)
		}
	}
	if base == nil {
		if o.Input == nil || o.Output == nil {
			return entry{}, errors.New("input and output are required for a model the built-in table does not price")
		}
		base = &entry{}
	}
	e := entry{price: base.price}
	e.price.Source = "config"
	if o.Input != nil {
		e.price.Input = *o.Input
	}
	if o.Output != nil {
		e.price.Output = *o.Output
	}
	e.price.CachedInput, e.given = e.price.Input, base.given
	switch {
	case o.CachedInput != nil:
		e.price.CachedInput = *o.CachedInput
		e.given |= givenCachedInput
	case base.given&givenCachedInput != 0:
		e.price.CachedInput = base.price.CachedInput
	}
	e.price.CacheWrite = e.price.Input
	switch {
	case o.CacheWrite != nil:
		e.price.CacheWrite = *o.CacheWrite
		e.given |= givenCacheWrite
	case base.given&givenCacheWrite != 0:
		e.price.CacheWrite = base.price.CacheWrite
	}
	return e, nil
}

// ParseOverride reads the arguments of a Caddyfile `price` line, after the directive name:
//
//	price <model|glob> [input <rate>] [output <rate>] [cached_input <rate>] [cache_write <rate>]
//
// Rates are USD (the gateway's currency) per 1M tokens. Keywords come in any order, each at most
// once, and at least one is needed. Whether input and output may be left out depends on the
// built-in table, so With checks that.
func ParseOverride(args []string) (Override, error) {
	if len(args) == 0 || strings.TrimSpace(args[0]) == "" {
		return Override{}, errors.New("price: missing model name or glob")
	}
	o := Override{Pattern: args[0]}
	rest := args[1:]
	if len(rest) == 0 {
		return Override{}, fmt.Errorf("price %s: no rates given (want input, output, cached_input or cache_write)", o.Pattern)
	}
	for len(rest) > 0 {
		keyword := rest[0]
		var slot **Rate
		switch keyword {
		case "input":
			slot = &o.Input
		case "output":
			slot = &o.Output
		case "cached_input":
			slot = &o.CachedInput
		case "cache_write":
			slot = &o.CacheWrite
		default:
			return Override{}, fmt.Errorf("price %s: unknown keyword %q (want input, output, cached_input or cache_write)", o.Pattern, keyword)
		}
		if *slot != nil {
			return Override{}, fmt.Errorf("price %s: %s given twice", o.Pattern, keyword)
		}
		if len(rest) < 2 {
			return Override{}, fmt.Errorf("price %s: %s needs a price per 1M tokens", o.Pattern, keyword)
		}
		r, err := ParseRate(rest[1])
		if err != nil {
			return Override{}, fmt.Errorf("price %s: %s: %w", o.Pattern, keyword, err)
		}
		*slot = &r
		rest = rest[2:]
	}
	return o, nil
}
