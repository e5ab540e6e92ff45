// Package pricing turns token counts into money: exact integer amounts, the built-in price
// table (prices.json, embedded) and the operator's `price` lines.
//
// # Money
//
// No amount is ever a float. Money is int64 nano-units of the currency (1e-9 USD); Rate is a
// price per 1M tokens in micro-units, so "$0.075 per 1M tokens" is Rate(75000). n tokens at
// rate r cost exactly n*r pico-units; Rate.Cost rounds that half up to nano-units, computing
// the product in 128 bits and saturating at MaxMoney instead of wrapping. Price.Cost rounds
// each component (uncached input, cached input, cache writes, output) on its own and Total is
// their sum, so the components shown on a bill always add up to its total.
//
// Cents appear only on invoices: RoundToCents rounds half a cent away from zero (half up on the
// magnitude), so 0.125 is 13 cents and -0.125 is -13 cents. APIs show Money as its 9-decimal
// String ("0.000123450") and invoices show cents with CentsString ("12.35").
//
// # Lookup
//
// Model names compare case-insensitively. The operator's `price` lines (With) are searched
// first, the built-in table second, so a config line always beats a built-in price. Within
// each of the two, the first rule that matches wins:
//
//  1. the exact name;
//  2. the name without one version suffix: "-latest", "-YYYY-MM-DD" or "-YYYYMMDD" with a
//     valid month and day ("gpt-4o-mini-2024-07-18" and "gpt-4o-mini-latest" are priced as
//     "gpt-4o-mini", "claude-3-5-sonnet-20241022" as "claude-3-5-sonnet");
//  3. globs, most specific first: the longest literal prefix (the text before the first
//     wildcard), then the fewest wildcards, then the order of declaration.
//
// Each rule tries the name as given first, then without its provider prefix, which is
// everything up to the last '/' ("openai/gpt-4o" -> "gpt-4o", "models/gemini-2.5-pro" ->
// "gemini-2.5-pro"). A dated name the provider prices differently from its family is listed
// by its full name and found by rule 1 (the built-in "gpt-4o-2024-05-13").
//
// Rule 2 also applies to config lines so that `price gpt-4o-mini ...` covers the snapshots the
// built-in table would otherwise price as gpt-4o-mini. A catch-all `price * ...` is a glob in
// the config layer, so it replaces every built-in price, not only unknown models.
//
// Globs: '*' matches any run of characters, '/' included (unlike path.Match, since model names
// contain '/'), '?' exactly one character; every other character, '[' and '\' included, matches
// only itself.
//
// # Overrides
//
// A `price` line for a model the built-in table prices keeps the built-in rates it does not
// give; for any other model it must give input and output. cached_input and cache_write default
// to input unless given by the line or written down in the entry it extends.
package pricing
