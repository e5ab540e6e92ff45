package pricing

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

//go:embed prices.json
var pricesJSON []byte

var builtinTable = sync.OnceValue(func() *Table {
	t, err := parseBuiltin(pricesJSON)
	if err != nil {
		panic("pricing: embedded prices.json: " + err.Error()) // caught by TestBuiltinFile
	}
	return t
})

// Builtin is the table embedded from prices.json: list prices of common OpenAI, Anthropic and
// Google models, as of Table.AsOf. It is shared and immutable; operators correct or extend it
// with `price` lines (With).
func Builtin() *Table { return builtinTable() }

// priceFile is prices.json. Rates are JSON strings, never numbers, so that no price passes
// through a float.
type priceFile struct {
	AsOf     string       `json:"as_of"`
	Currency string       `json:"currency"`
	Unit     string       `json:"unit"`
	Note     string       `json:"note"`
	Models   []priceModel `json:"models"`
}

type priceModel struct {
	Model string `json:"model"`
	// Aliases are other names (or globs) for the same price, such as dated snapshots the
	// version-suffix rule does not strip.
	Aliases     []string `json:"aliases"`
	Input       *Rate    `json:"input"`
	Output      *Rate    `json:"output"`
	CachedInput *Rate    `json:"cached_input"`
	CacheWrite  *Rate    `json:"cache_write"`
	Note        string   `json:"note"`
}

func parseBuiltin(data []byte) (*Table, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f priceFile
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if _, err := time.Parse(time.DateOnly, f.AsOf); err != nil {
		return nil, fmt.Errorf("as_of: %w", err)
	}
	if f.Currency != "USD" {
		return nil, fmt.Errorf("currency %q: want USD", f.Currency)
	}
	source := "builtin:" + f.AsOf
	l := &layer{exact: make(map[string]*entry, len(f.Models))}
	seen := make(map[string]bool)
	for i, m := range f.Models {
		if m.Input == nil || m.Output == nil || *m.Input <= 0 || *m.Output <= 0 {
			return nil, fmt.Errorf("model %d (%q): input and output must be given and positive", i, m.Model)
		}
		e := entry{price: Price{Input: *m.Input, Output: *m.Output, CachedInput: *m.Input, CacheWrite: *m.Input, Source: source}}
		if m.CachedInput != nil {
			e.price.CachedInput, e.given = *m.CachedInput, e.given|givenCachedInput
		}
		if m.CacheWrite != nil {
			e.price.CacheWrite, e.given = *m.CacheWrite, e.given|givenCacheWrite
		}
		for _, name := range append([]string{m.Model}, m.Aliases...) {
			key := strings.ToLower(name)
			if key == "" || key != strings.TrimSpace(key) {
				return nil, fmt.Errorf("model %d: bad name %q", i, name)
			}
			if seen[key] {
				return nil, fmt.Errorf("model %q: listed twice", name)
			}
			seen[key] = true
			if isGlob(key) {
				l.globs = append(l.globs, newGlob(key, len(l.globs), e))
			} else {
				l.exact[key] = &e
			}
		}
	}
	if len(l.exact) == 0 {
		return nil, errors.New("no models")
	}
	sortGlobs(l.globs)
	return &Table{builtin: l, asOf: f.AsOf}, nil
}
