// Package limits decides, from memory and exactly, whether a tenant's request may go upstream.
//
// Each tenant has two limits, both checked under the tenant's own mutex so that a quota of N
// admits exactly N under any concurrency:
//
//   - a token bucket (GCRA: one int64 "theoretical arrival time" per tenant, no floats), which
//     smooths bursts, and
//   - a daily operation quota per UTC day, held as used + reserved. Admit reserves one
//     operation; Settle turns it into a used one when the upstream answered, or gives it back
//     when the upstream failed, so a 5xx never costs the tenant an operation.
//
// A denial consumes nothing. When a request is refused by both limits at once, the answer is
// QuotaExceeded with a RetryAfter covering both: telling a client "retry in 200ms" when it will
// be refused until midnight invites a retry storm, so the reason given is the one that lasts.
//
// The package knows nothing of HTTP, Caddy or SQL. The counters here are the source of truth
// for admission; after a restart the gateway seeds them from its ledger (Seed) so that a
// restart never hands out a fresh quota. Bucket state may be lost safely (it refills).
package limits
