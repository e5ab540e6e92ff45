// Package handlers holds Helix's HTTP side: the ai_gateway middleware, the admin API and the tenant
// self-service API. The state they share lives in the ai_gateway app; they reach it through Runtime.
package handlers

import (
	"github.com/helixgateway/caddy-ai-gateway/ledger"
	"github.com/helixgateway/caddy-ai-gateway/limits"
	"github.com/helixgateway/caddy-ai-gateway/pricing"
	"github.com/helixgateway/caddy-ai-gateway/webhooks"
)

// Runtime is what the ai_gateway app provides to the handlers: state that outlives config reloads (the ledger,
// its writer, the limiter, the key directory) and the current config's plans.
type Runtime interface {
	Ledger() *ledger.Store
	Writer() *ledger.Writer
	Limiter() *limits.Limiter
	Keys() *Directory
	// Calls counts the calls in flight by the month they started in.
	Calls() *OpenCalls
	// Plan returns the limits of the named plan, false if the current config has no such plan.
	Plan(name string) (limits.Policy, bool)
	// DefaultPlanName is the plan new tenants get when none is named.
	DefaultPlanName() string
	// Prices is the price table: built-in prices with the config's price lines over them.
	Prices() *pricing.Table
	// Billing is how calls are costed and invoiced.
	Billing() Billing
	// PerTenantMetrics adds the tenant_requests_total metric, labelled by tenant.
	PerTenantMetrics() bool
	// Throttle decides which warning and exceeded events fire (once per tenant and period).
	Throttle() *webhooks.Throttle
	// Webhooks is the store of endpoints, events, deliveries and attempts.
	Webhooks() *ledger.WebhookStore
	// Dispatcher delivers webhooks (nil while it restarts).
	Dispatcher() *webhooks.Dispatcher
	// WebhookGuard checks endpoint URLs (allow_private_targets).
	WebhookGuard() *webhooks.Guard
}

// Billing is the app's billing configuration.
type Billing struct {
	Currency      string
	TaxRate       ledger.TaxRate
	InvoicePrefix string
	// RefuseUnpriced refuses calls to models without a price (400 model_not_priced) instead of recording
	// them at zero cost, marked unpriced.
	RefuseUnpriced bool
	// EstimateOutputTokens is the output a budget estimate assumes when a request sets no max tokens.
	EstimateOutputTokens int64
}

// Operation types, from the request path.
const (
	OpChat       = "chat"
	OpCompletion = "completion"
	OpEmbedding  = "embedding"
	OpResponse   = "response"
	OpMessage    = "message"
	OpOther      = "other"
)

// operationType maps a path to its operation type; a prefix before /v1/ (a route like /openai/v1/...) is allowed.
func operationType(path string) string {
	switch {
	case hasSuffixPath(path, "/v1/chat/completions"):
		return OpChat
	case hasSuffixPath(path, "/v1/completions"):
		return OpCompletion
	case hasSuffixPath(path, "/v1/embeddings"):
		return OpEmbedding
	case hasSuffixPath(path, "/v1/responses"):
		return OpResponse
	case hasSuffixPath(path, "/v1/messages"):
		return OpMessage
	}
	return OpOther
}

func hasSuffixPath(path, suffix string) bool {
	n := len(path)
	if n > 0 && path[n-1] == '/' {
		path, n = path[:n-1], n-1
	}
	return n >= len(suffix) && path[n-len(suffix):] == suffix
}
