package handlers

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/helixgateway/caddy-ai-gateway/ledger"
	"github.com/helixgateway/caddy-ai-gateway/limits"
	"github.com/helixgateway/caddy-ai-gateway/pricing"
	"github.com/helixgateway/caddy-ai-gateway/webhooks"
)

// testRuntime is a Runtime over a real ledger in a temporary directory.
type testRuntime struct {
	store    *ledger.Store
	writer   *ledger.Writer
	limiter  *limits.Limiter
	keys     *Directory
	calls    OpenCalls
	plans    map[string]limits.Policy
	throttle *webhooks.Throttle
}

func newTestRuntime(tb testing.TB) *testRuntime {
	tb.Helper()
	return newTestRuntimeWith(tb, ledger.WriterOptions{Interval: 10 * time.Millisecond, QueueSize: 1 << 20})
}

// newTestRuntimeWith is newTestRuntime with the ledger writer's options given.
func newTestRuntimeWith(tb testing.TB, o ledger.WriterOptions) *testRuntime {
	tb.Helper()
	store, err := ledger.Open(filepath.Join(tb.TempDir(), "helix.db"))
	if err != nil {
		tb.Fatal(err)
	}
	w, err := store.NewWriter(o)
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := NewDirectory(store, 100_000)
	if err != nil {
		tb.Fatal(err)
	}
	rt := &testRuntime{store: store, writer: w, limiter: limits.New(nil), keys: keys, throttle: webhooks.NewThrottle(), plans: map[string]limits.Policy{
		"open":   {DailyOperations: limits.Unlimited},
		"small":  {DailyOperations: 5, Interval: time.Millisecond, Burst: 1000},
		"busy":   {DailyOperations: 1 << 40, Interval: time.Nanosecond, Burst: 1 << 30},
		"capped": {DailyOperations: limits.Unlimited, MonthlyBudget: 1_000_000_000},
	}}
	tb.Cleanup(func() {
		w.Close()
		keys.Close()
		store.Close()
	})
	return rt
}

func (rt *testRuntime) Ledger() *ledger.Store            { return rt.store }
func (rt *testRuntime) Writer() *ledger.Writer           { return rt.writer }
func (rt *testRuntime) Limiter() *limits.Limiter         { return rt.limiter }
func (rt *testRuntime) Keys() *Directory                 { return rt.keys }
func (rt *testRuntime) Calls() *OpenCalls                { return &rt.calls }
func (rt *testRuntime) DefaultPlanName() string          { return "open" }
func (rt *testRuntime) Prices() *pricing.Table           { return pricing.Builtin() }
func (rt *testRuntime) PerTenantMetrics() bool           { return false }
func (rt *testRuntime) Throttle() *webhooks.Throttle     { return rt.throttle }
func (rt *testRuntime) Webhooks() *ledger.WebhookStore   { return rt.store.Webhooks() }
func (rt *testRuntime) Dispatcher() *webhooks.Dispatcher { return nil }
func (rt *testRuntime) WebhookGuard() *webhooks.Guard    { return &webhooks.Guard{AllowPrivate: true} }
func (rt *testRuntime) Billing() Billing {
	return Billing{Currency: "USD", TaxRate: 100000, InvoicePrefix: "TEST", EstimateOutputTokens: 4096}
}
func (rt *testRuntime) Plan(n string) (limits.Policy, bool) {
	p, ok := rt.plans[n]
	return p, ok
}

// tenant creates a tenant with one key and returns the key.
func (rt *testRuntime) tenant(tb testing.TB, id, plan string) string {
	tb.Helper()
	ctx := context.Background()
	if err := rt.store.CreateTenant(ctx, &ledger.Tenant{ID: id, Plan: plan}); err != nil {
		tb.Fatal(err)
	}
	secret, hash, prefix := NewKey()
	if err := rt.store.CreateKey(ctx, &ledger.Key{ID: ledger.NewID("key_"), TenantID: id, Prefix: prefix}, hash[:]); err != nil {
		tb.Fatal(err)
	}
	return secret
}

func newTestGateway(rt Runtime) *Gateway {
	initMetrics()
	return &Gateway{Provider: "auto", MaxRequestBody: defaultMaxRequestBody, rt: rt, logger: zap.NewNop(), now: time.Now}
}
