package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	return nil
}

// ServeHTTP admits, forwards and records one request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if strings.HasPrefix(r.URL.Path, selfServicePrefix) {
		return g.serveSelf(w, r)
	}
	start := g.now()
	op := &ledger.Operation{At: start.UTC(), Type: operationType(r.URL.Path), Method: r.Method, Path: r.URL.Path}
	status, err := g.serve(w, r, next, op)
	op.Status = status
	op.Latency = g.now().Sub(start)
	op.ID = ledger.NewID("op_")
	// The record is written even if the client has gone: it is what the tenant is billed from.
	if rerr := g.rt.Writer().Record(context.WithoutCancel(r.Context()), op); rerr != nil {
		if ce := g.logger.Check(zapcore.ErrorLevel, "recording operation"); ce != nil {
			ce.Write(zap.String("operation", op.ID), zap.String("tenant", op.TenantID), zap.Error(rerr))
		}
	}
	return err
}

// serve does the work of ServeHTTP and fills in op; it returns the status the client got.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, op *ledger.Operation) (int, error) {
	owner, refused := g.authenticate(r)
	if refused != nil {
		op.TenantID, op.KeyID, op.Outcome = owner.TenantID, owner.KeyID, refused.outcome
		return deny(w, refused.status, refused.typ, refused.code, refused.msg)
	}
	op.TenantID, op.KeyID = owner.TenantID, owner.KeyID
	policy, ok := g.rt.Plan(owner.Plan)
	if !ok {
		g.logger.Error("tenant's plan is not configured", zap.String("tenant", owner.TenantID), zap.String("plan", owner.Plan))
		op.Outcome = ledger.OutcomeSuspended
		return deny(w, http.StatusServiceUnavailable, "server_error", "plan_not_configured", "This account's plan is not available; contact the operator.")
	}

	res, d := g.rt.Limiter().Admit(owner.TenantID, policy)
	setRateLimitHeaders(w.Header(), d, policy)
	switch d.Reason {
	case limits.RateLimited:
		op.Outcome = ledger.OutcomeDeniedRate
		w.Header().Set("Retry-After", strconv.FormatInt(max(seconds(d.RetryAfter), 1), 10))
		return deny(w, http.StatusTooManyRequests, "rate_limit_error", "rate_limit_exceeded", "Rate limit reached; retry after the time in Retry-After.")
	case limits.QuotaExceeded:
		op.Outcome = ledger.OutcomeDeniedQuota
		w.Header().Set("Retry-After", strconv.FormatInt(max(seconds(d.RetryAfter), 1), 10))
		return deny(w, http.StatusTooManyRequests, "rate_limit_error", "quota_exceeded", "Daily operation quota used up; it resets at 00:00 UTC.")
	}

	op.QuotaDay = res.Day()
	// Checked after admission so that the answer carries the RateLimit fields, and so that a client
	// sending malformed bodies in a loop still meets its rate limit; the operation itself is given back.
	if status, code, msg := g.checkBody(r, op.Type); status != 0 {
		g.rt.Limiter().Settle(res, false)
		op.Outcome = ledger.OutcomeBadRequest
		return deny(w, status, "invalid_request_error", code, msg)
	}

	// The tenant's key is the gateway's business, never the provider's.
	r.Header.Del("Authorization")
	r.Header.Del("X-Api-Key")

	rec := &recorder{ResponseWriter: w}
	err := next.ServeHTTP(rec, r)
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
	// Counted when the upstream answered below 500; a 5xx or a failed connection gives the operation back.
	op.Counted = status < 500 && (rec.status != 0 || err == nil)
	g.rt.Limiter().Settle(res, op.Counted)
	if op.Counted {
		op.Outcome = ledger.OutcomeOK
	} else {
		op.Outcome = ledger.OutcomeUpstreamError
	}
	return status, err
}

// denial is an answer refused before the upstream, with the outcome it is recorded under.
type denial struct {
	status                  int
	typ, code, msg, outcome string
}

var (
	errNoKey     = &denial{http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "Missing API key: send it as Authorization: Bearer <key> or x-api-key: <key>.", ledger.OutcomeUnauthorized}
	errBadKey    = &denial{http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.", ledger.OutcomeUnauthorized}
	errKeysDown  = &denial{http.StatusServiceUnavailable, "server_error", "service_unavailable", "The gateway cannot check keys right now; retry shortly.", ledger.OutcomeUnauthorized}
	errSuspended = &denial{http.StatusForbidden, "permission_error", "tenant_suspended", "This account is suspended.", ledger.OutcomeSuspended}
)

// authenticate finds the key's tenant and refuses unknown keys and suspended tenants.
func (g *Gateway) authenticate(r *http.Request) (ledger.KeyOwner, *denial) {
	key := keyFromRequest(r.Header)
	if key == "" {
		return ledger.KeyOwner{}, errNoKey
	}
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

// checkBody enforces the size limit on every body and JSON validity on the JSON endpoints. It buffers the body
// (a JSON request is needed whole anyway) and hands the next handler a fresh reader over the same bytes.
func (g *Gateway) checkBody(r *http.Request, opType string) (status int, code, msg string) {
	if r.Body == nil || r.Body == http.NoBody {
		return 0, "", ""
	}
	tooLarge := fmt.Sprintf("Request body is larger than the %d-byte limit.", g.MaxRequestBody)
	if r.ContentLength > g.MaxRequestBody {
		return http.StatusRequestEntityTooLarge, "request_too_large", tooLarge
	}
	if opType == OpOther {
		r.Body = http.MaxBytesReader(nil, r.Body, g.MaxRequestBody)
		return 0, "", ""
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(r.Body, g.MaxRequestBody+1))
	r.Body.Close()
	if n > g.MaxRequestBody {
		return http.StatusRequestEntityTooLarge, "request_too_large", tooLarge
	}
	if err != nil {
		return http.StatusBadRequest, "invalid_request", "Could not read the request body: " + err.Error()
	}
	body := buf.Bytes()
	if r.Method == http.MethodPost && !json.Valid(body) {
		return http.StatusBadRequest, "invalid_request", "The request body is not valid JSON."
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return 0, "", ""
}

func deny(w http.ResponseWriter, status int, typ, code, msg string) (int, error) {
	writeError(w, status, typ, code, msg)
	return status, nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Gateway)(nil)
	_ caddyhttp.MiddlewareHandler = (*Gateway)(nil)
)
