package pricing

import (
	"cmp"
	"slices"
)

// Table maps model names to prices. It is immutable once built, so one Table serves every
// request concurrently without locks; With builds a new one.
type Table struct {
	config  layer  // the operator's price lines
	builtin *layer // the embedded table, shared by every Table derived from Builtin
	asOf    string // the built-in table's as_of date
	nextSeq int    // declaration number of the next config glob
}

// layer is one source of prices, searched as the package doc describes.
type layer struct {
	exact map[string]*entry // lower-case name -> price; entries are never modified
	globs []glob            // sorted most specific first
}

// entry is a price and which of its fields were written down rather than defaulted, so that a
// partial override knows what to keep.
type entry struct {
	price Price
	given fields
}

type fields uint8

const (
	givenCachedInput fields = 1 << iota
	givenCacheWrite
)

type glob struct {
	pattern       string // lower case
	literalPrefix int
	wildcards     int
	seq           int // declaration order
	entry
}

func newGlob(pattern string, seq int, e entry) glob {
	prefix, wild := globSpecificity(pattern)
	return glob{pattern: pattern, literalPrefix: prefix, wildcards: wild, seq: seq, entry: e}
}

func sortGlobs(gs []glob) {
	slices.SortFunc(gs, func(a, b glob) int {
		if c := cmp.Compare(b.literalPrefix, a.literalPrefix); c != 0 {
			return c
		}
		if c := cmp.Compare(a.wildcards, b.wildcards); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
}

// Lookup finds the price of model by the rules in the package doc. It allocates nothing for
// names up to 128 ASCII bytes.
func (t *Table) Lookup(model string) (Price, bool) {
	if model == "" {
		return Price{}, false
	}
	var buf [maxStackName]byte
	name := normalizeName(buf[:0], model)
	bare := withoutProvider(name)
	e := t.config.find(name, bare)
	if e == nil {
		e = t.builtin.find(name, bare)
	}
	if e == nil {
		return Price{}, false
	}
	return e.price, true
}

// AsOf is the date of the built-in prices ("2025-08-15").
func (t *Table) AsOf() string { return t.asOf }

// find searches one layer: exact name, name without version suffix, globs; each step with the
// name as given, then without its provider prefix (bare, nil when there is none).
// It returns nil when nothing matches.
func (l *layer) find(name, bare []byte) *entry {
	if l == nil {
		return nil
	}
	if e := l.exactOf(name); e != nil {
		return e
	}
	if e := l.exactOf(bare); e != nil {
		return e
	}
	if e := l.exactOf(withoutVersion(name)); e != nil {
		return e
	}
	if e := l.exactOf(withoutVersion(bare)); e != nil {
		return e
	}
	if e := l.globOf(name); e != nil {
		return e
	}
	return l.globOf(bare)
}

func (l *layer) exactOf(name []byte) *entry {
	if name == nil {
		return nil
	}
	return l.exact[string(name)] // no allocation: the compiler reads the bytes in place
}

func (l *layer) globOf(name []byte) *entry {
	if name == nil {
		return nil
	}
	for i := range l.globs {
		if globMatch(l.globs[i].pattern, name) {
			return &l.globs[i].entry
		}
	}
	return nil
}

// samePattern is the entry declared with exactly this (lower-case) pattern, or nil.
func (l *layer) samePattern(pattern string) *entry {
	if l == nil {
		return nil
	}
	if !isGlob(pattern) {
		return l.exact[pattern]
	}
	for i := range l.globs {
		if l.globs[i].pattern == pattern {
			return &l.globs[i].entry
		}
	}
	return nil
}
