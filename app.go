package aigateway

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/helixgateway/caddy-ai-gateway/handlers"
	"github.com/helixgateway/caddy-ai-gateway/ledger"
	"github.com/helixgateway/caddy-ai-gateway/limits"
	"github.com/helixgateway/caddy-ai-gateway/pricing"
	"github.com/helixgateway/caddy-ai-gateway/webhooks"
)

// App is the ai_gateway app: the gateway's configuration and the state every ai_gateway handler shares.
type App struct {
	// Database is the SQLite file of the ledger. Default: ai_gateway/helix.db in Caddy's data directory.
	Database string `json:"database,omitempty"`
	// Durability is "batch" (operation records are committed in groups every FlushInterval; a crash loses at most
	// that window) or "sync" (a request finishes only once its record is committed). Default: batch.
	Durability string `json:"durability,omitempty"`
	// FlushInterval is the group-commit window in batch mode. Default: 50ms.
	FlushInterval caddy.Duration `json:"flush_interval,omitempty"`
	// DefaultPlan is the plan of tenants created without one. Default: free.
	DefaultPlan string `json:"default_plan,omitempty"`
	// Plans by name. Default: the built-in free, pro and enterprise plans (see DefaultPlans).
	Plans map[string]*Plan `json:"plans,omitempty"`
	// Tenants declared in the config, created or updated at start. Default: none.
	Tenants []*StaticTenant `json:"tenants,omitempty"`
	// SecretsKeyFile holds the key (32 bytes, base64) that encrypts webhook secrets in the database. It is
	// created, mode 0600, when missing. Keep it out of the database's backups, and keep a copy of it apart:
	// without it the stored secrets are lost. Default: the database's path + ".key".
	SecretsKeyFile string `json:"secrets_key_file,omitempty"`
	// SecretsPreviousKeyFile holds the key the webhook secrets were encrypted with before SecretsKeyFile's: at
	// start they are re-encrypted under the new key, after which this can go. Default: none.
	SecretsPreviousKeyFile string `json:"secrets_previous_key_file,omitempty"`
	// KeyCacheSize is how many API keys the in-memory directory holds. Default: 100000.
	KeyCacheSize int64 `json:"key_cache_size,omitempty"`
	// Currency is the ISO 4217 code of every price, budget and invoice; prices are per 1M tokens in it.
	// Default: USD.
	Currency string `json:"currency,omitempty"`
	// TaxRate is added to invoices, as a percentage ("10%", "7.25%"). Default: 10%.
	TaxRate string `json:"tax_rate,omitempty"`
	// InvoicePrefix starts invoice numbers: <prefix>-<YYYYMM>-<NNNN>. Default: HELIX.
	InvoicePrefix string `json:"invoice_prefix,omitempty"`
	// PriceLines override or add to the built-in price table. Default: none.
	PriceLines []*PriceLine `json:"prices,omitempty"`
	// Unpriced is what happens to a call to a model with no price: "allow" records it at zero cost, marked
	// unpriced; "refuse" answers 400 model_not_priced. Default: allow.
	Unpriced string `json:"unpriced,omitempty"`
	// EstimateOutputTokens is the output a budget estimate assumes for a request without max tokens.
	// Default: 4096.
	EstimateOutputTokens int64 `json:"estimate_output_tokens,omitempty"`
	// MetricsPerTenant adds caddy_ai_gateway_tenant_requests_total, labelled by tenant: one series per
	// tenant and outcome, so only for a bounded number of tenants. Default: false.
	MetricsPerTenant bool `json:"metrics_per_tenant,omitempty"`
	// Retention says how long the ledger keeps data. Default: operation records 90 days, webhook events 30 days,
	// rollups forever.
	Retention *RetentionConfig `json:"retention,omitempty"`
	// WebhookDelivery configures delivery of the tenants' webhooks. Default: see WebhookConfig.
	WebhookDelivery *WebhookConfig `json:"webhooks,omitempty"`

	shared   *shared
	poolKey  string
	policies map[string]limits.Policy
	prices   *pricing.Table
	billing  handlers.Billing
	logger   *zap.Logger
}

// RetentionConfig says how long the ledger keeps data. Billing data (daily and monthly usage, invoices) is
// never pruned.
type RetentionConfig struct {
	// Operations is how long raw operation records are kept; negative keeps them forever. Default: 90 days.
	Operations caddy.Duration `json:"operations,omitempty"`
	// Rollups is how long hourly analytics are kept; 0 keeps them forever. Default: forever.
	Rollups caddy.Duration `json:"rollups,omitempty"`
	// Webhooks is how long webhook events are kept, with their deliveries and attempts (an event with a delivery
	// still pending stays until it ends); negative keeps them forever. Default: 30 days.
	Webhooks caddy.Duration `json:"webhooks,omitempty"`
	// Interval is the time between pruning passes. Default: 1h.
	Interval caddy.Duration `json:"interval,omitempty"`
}

func (c *RetentionConfig) policy() ledger.RetentionPolicy {
	p := ledger.RetentionPolicy{Operations: time.Duration(c.Operations), Rollups: time.Duration(c.Rollups),
		Webhooks: time.Duration(c.Webhooks)}
	if c.Operations == 0 {
		p.Operations = ledger.DefaultOperationRetention
	}
	if c.Webhooks == 0 {
		p.Webhooks = ledger.DefaultWebhookRetention
	}
	return p
}

// WebhookConfig is how webhooks are delivered. It applies at start and at every reload (the dispatcher is
// restarted when it changes; deliveries in flight then are tried again).
type WebhookConfig struct {
	// Timeout bounds one delivery attempt. Default: 15s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Schedule is the delay before each attempt, from the previous one (the first from the event); its length is
	// the number of attempts, each delay varied by ±20%. Default: 0s 5s 5m 30m 2h 5h 10h 14h 20h 24h.
	Schedule []caddy.Duration `json:"schedule,omitempty"`
	// Workers is how many attempts run at once. Default: 16.
	Workers int `json:"workers,omitempty"`
	// PerEndpoint is how many attempts run at once to one healthy endpoint. Default: 4.
	PerEndpoint int `json:"per_endpoint,omitempty"`
	// DisableAfter disables an endpoint whose attempts have all failed for this long. Default: 120h (5 days).
	DisableAfter caddy.Duration `json:"disable_after,omitempty"`
	// AllowPrivateTargets lets endpoints be on loopback, private, link-local and CGNAT addresses (refused by
	// default, so that tenants cannot make the gateway call into its own network). Default: false.
	AllowPrivateTargets bool `json:"allow_private_targets,omitempty"`
}

func (c *WebhookConfig) options() webhooks.Options {
	o := webhooks.Options{Timeout: time.Duration(c.Timeout), Workers: c.Workers, PerEndpoint: c.PerEndpoint,
		DisableAfter: time.Duration(c.DisableAfter), AllowPrivateTargets: c.AllowPrivateTargets}
	for _, d := range c.Schedule {
		o.Schedule = append(o.Schedule, time.Duration(d))
	}
	return o
}

// PriceLine is a price per 1M tokens for a model or a glob of models (* and ?).
type PriceLine struct {
	// Model is a model name or a glob. Required.
	Model string `json:"model"`
	// Input, Output, CachedInput and CacheWrite are prices per 1M tokens; for a model the built-in table
	// knows, the ones left out keep their built-in value. CachedInput and CacheWrite default to Input.
	Input       *pricing.Rate `json:"input,omitempty"`
	Output      *pricing.Rate `json:"output,omitempty"`
	CachedInput *pricing.Rate `json:"cached_input,omitempty"`
	CacheWrite  *pricing.Rate `json:"cache_write,omitempty"`
}

// Plan is what a tenant may do.
type Plan struct {
	// DailyOperations is how many operations a tenant may make per UTC day; -1 is unlimited. Default: unlimited.
	DailyOperations int64 `json:"daily_operations,omitempty"`
	// Rate is how many bucket tokens are added per RateWindow; 0 disables the token bucket. Default: 0.
	Rate int64 `json:"rate,omitempty"`
	// RateWindow is the period Rate refers to. Default: 1s.
	RateWindow caddy.Duration `json:"rate_window,omitempty"`
	// Burst is the bucket's capacity. Default: Rate (at least 1).
	Burst int64 `json:"burst,omitempty"`
	// MonthlyBudget is the most a tenant may spend per UTC month, in the currency. Default: none.
	MonthlyBudget *pricing.Money `json:"monthly_budget,omitempty"`
	// WarnAt is the percentage of the daily operations and of the monthly budget at which quota.warning and
	// budget.warning fire (once per period). Default: 80.
	WarnAt int64 `json:"warn_at,omitempty"`
}

// StaticTenant is a tenant declared in the config. The config wins: at every start or reload its plan is set
// and its keys are made valid; keys dropped from the config are revoked.
type StaticTenant struct {
	// ID is the tenant's id. Required.
	ID string `json:"id"`
	// Name is a display name. Default: empty.
	Name string `json:"name,omitempty"`
	// Plan is the tenant's plan. Default: DefaultPlan.
	Plan string `json:"plan,omitempty"`
	// Keys are the tenant's API keys (at least 20 characters; usually from {env.*}). Default: none.
	Keys []string `json:"keys,omitempty"`
}

// DefaultPlans are the plans used when the config declares none.
func DefaultPlans() map[string]*Plan {
	return map[string]*Plan{
		"free":       {DailyOperations: 100, Rate: 2, RateWindow: caddy.Duration(time.Second), Burst: 10},
		"pro":        {DailyOperations: 10000, Rate: 20, RateWindow: caddy.Duration(time.Second), Burst: 50},
		"enterprise": {DailyOperations: -1, Rate: 200, RateWindow: caddy.Duration(time.Second), Burst: 400},
	}
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "ai_gateway",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision fills in defaults, validates the plans, and takes (or creates) the shared state for the database.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger(a)
	if a.Database == "" {
		a.Database = filepath.Join(caddy.AppDataDir(), "ai_gateway", "helix.db")
	}
	path, err := filepath.Abs(a.Database)
	if err != nil {
		return fmt.Errorf("database path %s: %w", a.Database, err)
	}
	a.Database = path
	if a.SecretsKeyFile == "" {
		a.SecretsKeyFile = ledger.DefaultSecretsKeyFile(a.Database)
	}
	if a.SecretsKeyFile, err = filepath.Abs(a.SecretsKeyFile); err != nil {
		return fmt.Errorf("secrets_key_file: %w", err)
	}
	switch a.Durability {
	case "":
		a.Durability = "batch"
	case "batch", "sync":
	default:
		return fmt.Errorf("durability %q: want batch or sync", a.Durability)
	}
	if a.FlushInterval == 0 {
		a.FlushInterval = caddy.Duration(50 * time.Millisecond)
	}
	if a.FlushInterval < 0 {
		return fmt.Errorf("flush_interval must be positive")
	}
	if a.DefaultPlan == "" {
		a.DefaultPlan = "free"
	}
	if len(a.Plans) == 0 {
		a.Plans = DefaultPlans()
	}
	if a.KeyCacheSize == 0 {
		a.KeyCacheSize = 100_000
	}
	if a.KeyCacheSize < 1 || a.KeyCacheSize > 100_000_000 {
		return fmt.Errorf("key_cache_size %d: want 1 to 100000000", a.KeyCacheSize)
	}
	if err := a.compilePlans(); err != nil {
		return err
	}
	if err := a.compileBilling(); err != nil {
		return err
	}
	if _, ok := a.policies[a.DefaultPlan]; !ok {
		return fmt.Errorf("default_plan %q is not a configured plan", a.DefaultPlan)
	}

	val, _, err := pool.LoadOrNew(a.Database, func() (caddy.Destructor, error) {
		return openShared(a.Database, ledger.Options{SecretsKeyFile: a.SecretsKeyFile, PreviousSecretsKeyFile: a.SecretsPreviousKeyFile},
			a.KeyCacheSize, a.logger)
	})
	if err != nil {
		return err
	}
	if open := val.(*shared).store.SecretsKeyFile(); open != a.SecretsKeyFile {
		pool.Delete(a.Database)
		return fmt.Errorf("secrets_key_file %s: the ledger %s is open with the key in %s; a new key needs a restart",
			a.SecretsKeyFile, a.Database, open)
	}
	a.poolKey, a.shared = a.Database, val.(*shared)
	if a.WebhookDelivery == nil {
		a.WebhookDelivery = new(WebhookConfig)
	}
	if a.Retention == nil {
		a.Retention = new(RetentionConfig)
	}
	a.shared.pruner.SetPolicy(a.Retention.policy())
	a.shared.pruner.SetInterval(time.Duration(a.Retention.Interval))
	if err := a.shared.startDispatcher(a.WebhookDelivery.options(), a.logger.Named("webhooks")); err != nil {
		return err
	}
	if err := handlers.RegisterMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	handlers.WatchWriter(a.shared.writer)
	handlers.WatchDispatcher(a.shared.dispatcher.Load)
	a.shared.writer.SetDurability(a.Durability == "sync", time.Duration(a.FlushInterval))
	return a.syncStaticTenants(ctx)
}

func (a *App) compilePlans() error {
	a.policies = make(map[string]limits.Policy, len(a.Plans))
	for name, p := range a.Plans {
		if p == nil {
			return fmt.Errorf("plan %q: empty", name)
		}
		pol := limits.Policy{DailyOperations: p.DailyOperations, Burst: p.Burst, WarnPercent: p.WarnAt}
		if pol.WarnPercent == 0 {
			pol.WarnPercent = 80
		}
		if pol.WarnPercent < 0 || pol.WarnPercent > 100 {
			return fmt.Errorf("plan %q: warn_at must be from 1%% to 100%%", name)
		}
		if p.MonthlyBudget != nil {
			if *p.MonthlyBudget <= 0 {
				return fmt.Errorf("plan %q: monthly_budget must be positive", name)
			}
			pol.MonthlyBudget = int64(*p.MonthlyBudget)
		}
		if pol.DailyOperations == 0 || pol.DailyOperations < -1 {
			pol.DailyOperations = limits.Unlimited
		}
		if p.Rate < 0 || p.Burst < 0 || p.RateWindow < 0 {
			return fmt.Errorf("plan %q: rate, rate_window and burst must not be negative", name)
		}
		if p.Rate > 0 {
			window := time.Duration(p.RateWindow)
			if window == 0 {
				window = time.Second
			}
			pol.Interval = window / time.Duration(p.Rate)
			if pol.Interval <= 0 {
				return fmt.Errorf("plan %q: rate %d per %s is too fast", name, p.Rate, window)
			}
			if pol.Burst == 0 {
				pol.Burst = max(p.Rate, 1)
			}
		}
		a.policies[name] = pol
	}
	return nil
}

func (a *App) compileBilling() error {
	if a.Currency == "" {
		a.Currency = "USD"
	}
	if a.TaxRate == "" {
		a.TaxRate = "10%"
	}
	if a.InvoicePrefix == "" {
		a.InvoicePrefix = "HELIX"
	}
	if a.EstimateOutputTokens == 0 {
		a.EstimateOutputTokens = 4096
	}
	if a.EstimateOutputTokens < 0 {
		return fmt.Errorf("estimate_output_tokens must be positive")
	}
	rate, err := ledger.ParseTaxRate(a.TaxRate)
	if err != nil {
		return err
	}
	switch a.Unpriced {
	case "":
		a.Unpriced = "allow"
	case "allow", "refuse":
	default:
		return fmt.Errorf("unpriced %q: want allow or refuse", a.Unpriced)
	}
	overrides := make([]pricing.Override, 0, len(a.PriceLines))
	for _, p := range a.PriceLines {
		overrides = append(overrides, pricing.Override{Pattern: p.Model, Input: p.Input, Output: p.Output,
			CachedInput: p.CachedInput, CacheWrite: p.CacheWrite})
	}
	if a.prices, err = pricing.Builtin().With(overrides); err != nil {
		return fmt.Errorf("prices: %w", err)
	}
	a.billing = handlers.Billing{Currency: a.Currency, TaxRate: rate, InvoicePrefix: a.InvoicePrefix,
		RefuseUnpriced: a.Unpriced == "refuse", EstimateOutputTokens: a.EstimateOutputTokens}
	return nil
}

// Start implements caddy.App. It applies what a reload may change in the shared state and must not apply
// before the new config is sure to run: the key cache's size.
func (a *App) Start() error {
	if keys := a.shared.keys; keys.Size() != a.KeyCacheSize {
		a.logger.Info("key cache resized; its admission counters keep their size until a restart",
			zap.Int64("from", keys.Size()), zap.Int64("to", a.KeyCacheSize))
		keys.Resize(a.KeyCacheSize)
	}
	return nil
}

// Stop implements caddy.App. The shared state stops in Cleanup, once no config uses it, so that a reload (which
// starts the new config before stopping the old one) hands it over without losing a record.
func (a *App) Stop() error { return nil }

// Cleanup releases this config's hold on the shared state; the last one closes it, committing every queued record.
func (a *App) Cleanup() error {
	if a.poolKey == "" {
		return nil
	}
	_, err := pool.Delete(a.poolKey)
	return err
}

// Ledger implements handlers.Runtime.
func (a *App) Ledger() *ledger.Store { return a.shared.store }

// Writer implements handlers.Runtime.
func (a *App) Writer() *ledger.Writer { return a.shared.writer }

// Limiter implements handlers.Runtime.
func (a *App) Limiter() *limits.Limiter { return a.shared.limiter }

// Keys implements handlers.Runtime.
func (a *App) Keys() *handlers.Directory { return a.shared.keys }

// Calls implements handlers.Runtime.
func (a *App) Calls() *handlers.OpenCalls { return &a.shared.calls }

// Plan implements handlers.Runtime.
func (a *App) Plan(name string) (limits.Policy, bool) {
	p, ok := a.policies[name]
	return p, ok
}

// Prices implements handlers.Runtime.
func (a *App) Prices() *pricing.Table { return a.prices }

// Webhooks implements handlers.Runtime.
func (a *App) Webhooks() *ledger.WebhookStore { return a.shared.store.Webhooks() }

// Dispatcher implements handlers.Runtime.
func (a *App) Dispatcher() *webhooks.Dispatcher { return a.shared.dispatcher.Load() }

// WebhookGuard implements handlers.Runtime.
func (a *App) WebhookGuard() *webhooks.Guard {
	return &webhooks.Guard{AllowPrivate: a.WebhookDelivery.AllowPrivateTargets}
}

// Throttle implements handlers.Runtime.
func (a *App) Throttle() *webhooks.Throttle { return a.shared.throttle }

// PerTenantMetrics implements handlers.Runtime.
func (a *App) PerTenantMetrics() bool { return a.MetricsPerTenant }

// Billing implements handlers.Runtime.
func (a *App) Billing() handlers.Billing { return a.billing }

// DefaultPlanName implements handlers.Runtime.
func (a *App) DefaultPlanName() string { return a.DefaultPlan }

// syncStaticTenants makes the database agree with the config's tenant blocks.
func (a *App) syncStaticTenants(ctx context.Context) error {
	store := a.shared.store
	for _, st := range a.Tenants {
		plan := st.Plan
		if plan == "" {
			plan = a.DefaultPlan
		}
		if _, ok := a.policies[plan]; !ok {
			return fmt.Errorf("tenant %s: plan %q is not configured", st.ID, plan)
		}
		t := ledger.Tenant{ID: st.ID, Name: st.Name, Plan: plan}
		err := store.CreateTenant(ctx, &t)
		if errors.Is(err, ledger.ErrExists) {
			_, hashes, uerr := store.UpdateTenant(ctx, st.ID, ledger.TenantChange{Name: &st.Name, Plan: &plan})
			a.shared.keys.Invalidate(hashes...)
			err = uerr
		}
		if err != nil {
			return fmt.Errorf("tenant %s: %w", st.ID, err)
		}
		existing, err := store.StaticKeys(ctx, st.ID)
		repl := caddy.NewReplacer() // {env.*} is read now, so the secret never sits in the JSON config
		if err != nil {
			return fmt.Errorf("tenant %s: %w", st.ID, err)
		}
		for i, secret := range st.Keys {
			secret = repl.ReplaceKnown(secret, "")
			if len(secret) < 20 {
				return fmt.Errorf("tenant %s: key %d is shorter than 20 characters (is its environment variable set?)", st.ID, i+1)
			}
			hash := handlers.HashKey(secret)
			id := "key_static_" + fmt.Sprintf("%x", hash[:8])
			if _, ok := existing[id]; ok {
				delete(existing, id)
				continue
			}
			k := ledger.Key{ID: id, TenantID: st.ID, Name: "static", Prefix: secret[:min(len(secret), 9)], Static: true}
			err := store.CreateKey(ctx, &k, hash[:])
			if errors.Is(err, ledger.ErrExists) {
				err = store.ReinstateStaticKey(ctx, id, st.ID) // revoked through the API, but the config wants it
			}
			if err != nil {
				return fmt.Errorf("tenant %s: key %d: %w", st.ID, i+1, err)
			}
			a.shared.keys.Invalidate(hash[:])
		}
		for id := range existing { // static keys no longer in the config
			if _, hash, err := store.RevokeKey(ctx, id); err == nil {
				a.shared.keys.Invalidate(hash)
			}
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
	_ handlers.Runtime   = (*App)(nil)
)
