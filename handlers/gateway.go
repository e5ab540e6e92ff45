package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/helixgateway/caddy-ai-gateway/ledger"
	"github.com/helixgateway/caddy-ai-gateway/limits"
	"github.com/helixgateway/caddy-ai-gateway/usage"
)

func init() {
	caddy.RegisterModule(Gateway{})
}

// Gateway is the ai_gateway middleware: it identifies the tenant by API key, admits the request against the
// tenant's plan from memory, lets the next handler (reverse_proxy) call the provider, and records the operation.
type Gateway struct {
	// Provider is the upstream API format: "openai", "anthropic", or "auto" (from the path). Default: auto.
	Provider string `json:"provider,omitempty"`
	// MaxRequestBody is the largest request body accepted, in bytes; larger bodies get 413. Default: 16 MiB.
	MaxRequestBody int64 `json:"max_request_body,omitempty"`
	// StreamUsage adds stream_options.include_usage to OpenAI streaming requests that lack it, so the
	// provider reports the stream's usage (in one extra chunk before [DONE]) instead of the gateway
	// estimating it. Default: true.
	StreamUsage *bool `json:"stream_usage,omitempty"`
	// Metering reads usage from the answers to price the calls. Off, calls cost nothing and are not parsed:
	// for sites that only need quotas, and for measuring what metering costs. Default: true.
	Metering *bool `json:"metering,omitempty"`

	rt     Runtime
	logger *zap.Logger
	now    func() time.Time
}

// CaddyModule returns the Caddy module information.
func (Gateway) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.ai_gateway",
		New: func() caddy.Module { return new(Gateway) },
	}
}

const defaultMaxRequestBody = 16 << 20

// Provision connects the handler to the ai_gateway app, loading the app with its defaults if the config has none.
func (g *Gateway) Provision(ctx caddy.Context) error {
	g.logger = ctx.Logger(g)
	g.now = time.Now
	switch g.Provider {
	case "":
		g.Provider = "auto"
	case "auto", "openai", "anthropic":
	default:
		return fmt.Errorf("unknown provider %q: want openai, anthropic or auto", g.Provider)
	}
	if g.MaxRequestBody == 0 {
		g.MaxRequestBody = defaultMaxRequestBody
	}
	if g.MaxRequestBody < 0 {
		return fmt.Errorf("max_request_body must be positive, got %d", g.MaxRequestBody)
	}
	app, err := ctx.App("ai_gateway")
	if err != nil {
		return fmt.Errorf("loading ai_gateway app: %w", err)
	}
	rt, ok := app.(Runtime)
	if !ok {
		return fmt.Errorf("ai_gateway app is %T, which does not provide the gateway runtime", app)
	}
	g.rt = rt
	return RegisterMetrics(ctx.GetMetricsRegistry())
}

// ServeHTTP admits, forwards and records one request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if strings.HasPrefix(r.URL.Path, selfServicePrefix) {
		return g.serveSelf(w, r)
	}
	if err := g.rt.Writer().Err(); err != nil {
		// Fail closed: a call that cannot be recorded cannot be billed or counted. The writer keeps retrying,
		// and calls flow again the moment a commit succeeds.
		metrics.unavailable.Inc()
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "server_error", "ledger_unavailable",
			"The gateway cannot record calls right now (its database is failing); nothing was charged. Retry shortly.")
		return nil
	}
	start := g.rt.Calls().Begin(g.now)
	op := &ledger.Operation{At: start.UTC(), Type: operationType(r.URL.Path), Method: r.Method, Path: r.URL.Path}
	// Deferred, so that a call the client or the upstream abandons mid-stream (reverse_proxy then panics
	// with http.ErrAbortHandler) is recorded too: it still cost money.
	defer g.record(r, op, start)
	return g.serve(w, r, next, op)
}

// record queues op's record, and then ends the call's count in flight (see OpenCalls). The record is written
// even if the client has gone: it is what the tenant is billed from.
//
// An answered call is metered and priced after its answer has gone out, by the ledger writer just before it
// writes the record (op.Finish), so the client never waits for it. A server that writes access logs meters
// here instead: Caddy logs the call's usage and cost when the handler returns. So does every call while the
// writer is behind (see maxDeferred), and a plan with a monthly budget (see settle).
func (g *Gateway) record(r *http.Request, op *ledger.Operation, start time.Time) {
	op.Latency = g.now().Sub(start)
	op.ID = ledger.NewID("op_")
	perTenant := g.rt.PerTenantMetrics()
	if price := op.Finish; price != nil {
		op.Finish = func() {
			price()
			observe(op, op.Plan, perTenant)
		}
		if accessLogged(r) || g.rt.Writer().QueueDepth() >= maxDeferred {
			op.Finish()
			op.Finish = nil
			logFields(r, op)
		}
	} else {
		observe(op, op.Plan, perTenant)
		logFields(r, op)
	}
	if err := g.rt.Writer().Record(context.WithoutCancel(r.Context()), op); err != nil {
		if ce := g.logger.Check(zapcore.ErrorLevel, "recording operation"); ce != nil {
			ce.Write(zap.String("operation", op.ID), zap.String("tenant", op.TenantID), zap.Error(err))
		}
	}
	g.rt.Calls().End(start)
}

// maxDeferred is how far behind the ledger writer may be (records queued) for a call's metering to be left to
// it. The writer falls behind while it writes the totals (it pauses between slices of that write, and records
// queue meanwhile); a record whose metering waits holds its answer's copy, so past this depth calls are
// metered before the handler returns, as they were before session 18, and the queue holds records alone.
const maxDeferred = 1024

// serve does the work of ServeHTTP and fills in op, including the status the client got.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, op *ledger.Operation) error {
	owner, refused := g.authenticate(r)
	if refused != nil {
		op.TenantID, op.KeyID, op.Outcome = owner.TenantID, owner.KeyID, refused.outcome
		return deny(w, op, refused)
	}
	op.TenantID, op.KeyID, op.Plan = owner.TenantID, owner.KeyID, owner.Plan
	policy, ok := g.rt.Plan(owner.Plan)
	if !ok {
		g.logger.Error("tenant's plan is not configured", zap.String("tenant", owner.TenantID), zap.String("plan", owner.Plan))
		return deny(w, op, errNoPlan)
	}

	c, bad := g.readCall(r, op.Type)
	defer c.release()
	var estimate int64
	if policy.MonthlyBudget > 0 && bad == nil {
		estimate = c.estimate(g.rt.Billing().EstimateOutputTokens)
	}
	res, d := g.rt.Limiter().AdmitSpend(owner.TenantID, policy, estimate)
	now := g.now()
	metrics.admission.Observe(now.Sub(op.At).Seconds())
	admissionNotices(op, g.rt.Throttle(), d, policy, now)
	setRateLimitHeaders(w.Header(), d, policy)
	switch d.Reason {
	case limits.RateLimited:
		w.Header().Set("Retry-After", strconv.FormatInt(max(seconds(d.RetryAfter), 1), 10))
		return deny(w, op, errRateLimited)
	case limits.QuotaExceeded:
		w.Header().Set("Retry-After", strconv.FormatInt(max(seconds(d.RetryAfter), 1), 10))
		return deny(w, op, errQuotaExceeded)
	case limits.BudgetExceeded:
		return deny(w, op, errBudgetExceeded)
	}
	op.QuotaDay = res.Day()
	// A bad body is answered after admission, so that the answer carries the RateLimit fields and a client
	// sending malformed bodies in a loop still meets its rate limit; the operation itself is given back.
	if bad != nil {
		g.rt.Limiter().Settle(res, false)
		return deny(w, op, bad)
	}

	// The client's compression passes through untouched; the meter reads gzip, deflate and zstd on the side,
	// so only encodings it cannot read are taken out of the offer.
	if c.format != usage.Unknown {
		filterAcceptEncoding(r.Header)
	}

	rec := &recorder{ResponseWriter: w, tally: tally{format: c.format}, start: op.At, now: g.now}
	settled := false
	defer func() {
		if !settled { // next panicked: the client or the upstream went away mid-answer
			g.settle(op, c, rec, res, policy, errAborted)
		}
	}()
	err := next.ServeHTTP(rec, r)
	if c.limited != nil && c.limited.exceeded && rec.status == 0 {
		// The body ran past max_request_body while streaming upstream: the client's fault, not the upstream's.
		settled = true
		g.rt.Limiter().Settle(res, false)
		return deny(w, op, g.tooLarge())
	}
	g.settle(op, c, rec, res, policy, err)
	settled = true
	return err
}

// errAborted stands for a panic out of the next handler (http.ErrAbortHandler).
var errAborted = errors.New("answer aborted")

// settle ends an admitted call: the status the client got, and whether the operation counts (the upstream
// answered below 500; a 5xx or a failed connection gives it back), settled with the limiter at once. Its usage
// and cost are left to op.Finish (see record), unless the tenant's plan has a monthly budget.
func (g *Gateway) settle(op *ledger.Operation, c call, rec *recorder, res limits.Reservation, p limits.Policy, err error) {
	status := rec.status
	if status == 0 {
		var he caddyhttp.HandlerError
		switch {
		case err == nil:
			status = http.StatusOK
		case errors.As(err, &he) && he.StatusCode != 0:
			status = he.StatusCode
		default:
			status = http.StatusBadGateway
		}
	}
	op.Status = status
	op.Counted = status < 500 && (rec.status != 0 || err == nil)
	op.TTFB = rec.ttfb
	if op.Counted {
		op.Outcome = ledger.OutcomeOK
	} else {
		op.Outcome = ledger.OutcomeUpstreamError
	}
	t := rec.detach()
	if p.MonthlyBudget > 0 {
		// The tenant's next call is admitted against this one's cost: it must be known before the answer ends.
		g.price(op, &c, t, res, p)
		return
	}
	money := g.rt.Limiter().SettleOperation(res, op.Counted)
	// What pricing needs of the call, without its body.
	priced := &call{format: c.format, req: c.req, price: c.price, priced: c.priced}
	op.Finish = func() { g.price(op, priced, t, money, p) }
}

// price fills in op's usage and cost from the answer's tally and settles res: the operation, if it is not
// settled yet (see limits.SettleOperation), and the money the call held against the budget.
func (g *Gateway) price(op *ledger.Operation, c *call, t *tally, res limits.Reservation, p limits.Policy) {
	if c.format != usage.Unknown {
		c.settle(op, t.usage(), op.Status, providerOf(c.format))
	}
	g.rt.Limiter().SettleSpend(res, op.Counted, op.Cost)
	if p.MonthlyBudget > 0 && op.Cost > 0 {
		budgetNotice(op, g.rt.Throttle(), g.rt.Limiter().Usage(op.TenantID, p), p, g.now())
	}
}

// denial is an answer refused before the upstream, with the outcome it is recorded under.
type denial struct {
	status                  int
	typ, code, msg, outcome string
}

var (
	errNoPlan         = &denial{http.StatusServiceUnavailable, "server_error", "plan_not_configured", "This account's plan is not available; contact the operator.", ledger.OutcomeSuspended}
	errRateLimited    = &denial{http.StatusTooManyRequests, "rate_limit_error", "rate_limit_exceeded", "Rate limit reached; retry after the time in Retry-After.", ledger.OutcomeDeniedRate}
	errQuotaExceeded  = &denial{http.StatusTooManyRequests, "rate_limit_error", "quota_exceeded", "Daily operation quota used up; it resets at 00:00 UTC.", ledger.OutcomeDeniedQuota}
	errBudgetExceeded = &denial{http.StatusPaymentRequired, "insufficient_quota", "budget_exceeded", "This call could exceed the account's monthly budget; it resets on the 1st (UTC).", ledger.OutcomeDeniedBudget}
	errNoKey          = &denial{http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "Missing API key: send it as Authorization: Bearer <key> or x-api-key: <key>.", ledger.OutcomeUnauthorized}
	errBadKey         = &denial{http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.", ledger.OutcomeUnauthorized}
	errKeysDown       = &denial{http.StatusServiceUnavailable, "server_error", "service_unavailable", "The gateway cannot check keys right now; retry shortly.", ledger.OutcomeUnauthorized}
	errSuspended      = &denial{http.StatusForbidden, "permission_error", "tenant_suspended", "This account is suspended.", ledger.OutcomeSuspended}
)

// authenticate finds the key's tenant and refuses unknown keys and suspended tenants.
func (g *Gateway) authenticate(r *http.Request) (ledger.KeyOwner, *denial) {
	key := keyFromRequest(r.Header)
	if key == "" {
		return ledger.KeyOwner{}, errNoKey
	}
	// The tenant's key is the gateway's business: never the provider's, and never in an access log line
	// (Caddy redacts Authorization there, but not x-api-key).
	r.Header.Del("Authorization")
	r.Header.Del("X-Api-Key")
	owner, found, err := g.rt.Keys().Lookup(r.Context(), HashKey(key))
	if err != nil {
		g.logger.Error("looking up API key", zap.Error(err))
		return owner, errKeysDown
	}
	if !found {
		return owner, errBadKey
	}
	// Name the tenant in Caddy's access log (user_id) and to later handlers.
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.auth.user.id", owner.TenantID)
	}
	if owner.Status != ledger.StatusActive {
		return owner, errSuspended
	}
	return owner, nil
}

// providerOf names the API family of a format, as recorded.
func providerOf(f usage.Format) string {
	if f == usage.AnthropicMessages {
		return "anthropic"
	}
	return "openai"
}

func (g *Gateway) streamUsage() bool { return g.StreamUsage == nil || *g.StreamUsage }

// deny answers with d's error and records its outcome.
func deny(w http.ResponseWriter, op *ledger.Operation, d *denial) error {
	op.Status, op.Outcome = d.status, d.outcome
	writeError(w, d.status, d.typ, d.code, d.msg)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Gateway)(nil)
	_ caddyhttp.MiddlewareHandler = (*Gateway)(nil)
)
