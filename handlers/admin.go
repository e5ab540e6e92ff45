package handlers

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/helixgateway/caddy-ai-gateway/ledger"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI serves the operator's API under /ai_gateway/ on Caddy's admin endpoint.
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.ai_gateway",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes returns the admin routes. The mux is built once; each request finds the running app, so the API follows
// config reloads.
func (a AdminAPI) Routes() []caddy.AdminRoute {
	mux := http.NewServeMux()
	route := func(pattern string, h func(Runtime, http.ResponseWriter, *http.Request) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			rt, err := runningApp()
			if err == nil {
				err = h(rt, w, r)
			}
			if err != nil {
				var p *problem
				if !errors.As(err, &p) {
					caddy.Log().Named("admin.api.ai_gateway").Error("admin request failed",
						zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
				}
				writeProblem(w, err)
			}
		})
	}
	route("POST /ai_gateway/tenants", createTenant)
	route("GET /ai_gateway/tenants", listTenants)
	route("GET /ai_gateway/tenants/{id}", getTenant)
	route("PATCH /ai_gateway/tenants/{id}", updateTenant)
	route("DELETE /ai_gateway/tenants/{id}", deleteTenant)
	route("POST /ai_gateway/tenants/{id}/keys", createKey)
	route("GET /ai_gateway/tenants/{id}/keys", listKeys)
	route("DELETE /ai_gateway/keys/{key_id}", revokeKey)
	route("GET /ai_gateway/tenants/{id}/usage", tenantUsage)
	route("GET /ai_gateway/tenants/{id}/billing", tenantBilling)
	route("POST /ai_gateway/tenants/{id}/invoices", createInvoice)
	route("GET /ai_gateway/tenants/{id}/invoices", listInvoices)
	route("GET /ai_gateway/invoices/{number}", getInvoice)
	route("POST /ai_gateway/tenants/{id}/webhooks", adminCreateEndpoint)
	route("GET /ai_gateway/tenants/{id}/webhooks", adminListEndpoints)
	route("DELETE /ai_gateway/webhooks/{id}", adminDeleteEndpoint)
	route("POST /ai_gateway/webhooks/{id}/test", testEndpoint)
	route("POST /ai_gateway/webhooks/{id}/rotate", rotateSecret)
	route("POST /ai_gateway/webhooks/{id}/enable", enableEndpoint)
	route("POST /ai_gateway/webhooks/{id}/resend", resendFailed)
	route("GET /ai_gateway/webhooks/{id}/deliveries", adminDeliveries)
	route("GET /ai_gateway/deliveries/{id}", getDelivery)
	route("POST /ai_gateway/deliveries/{id}/retry", retryDelivery)
	route("GET /ai_gateway/tenants/{id}/analytics", tenantAnalytics)
	route("GET /ai_gateway/analytics", allAnalytics)
	// The catch-all matches every method, so it decides between 405 (the path exists) and 404 itself.
	mux.HandleFunc("/ai_gateway/", func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPatch, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/ai_gateway/" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeProblem(w, &problem{http.StatusMethodNotAllowed, "invalid_request_error", "method_not_allowed", "",
				r.Method + " is not allowed on " + r.URL.Path + "; allowed: " + strings.Join(allow, ", ")})
			return
		}
		writeProblem(w, &problem{http.StatusNotFound, "invalid_request_error", "not_found", "", "no such admin route: " + r.Method + " " + r.URL.Path})
	})
	return []caddy.AdminRoute{{
		Pattern: "/ai_gateway/",
		Handler: caddy.AdminHandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			mux.ServeHTTP(w, r)
			return nil
		}),
	}}
}

func runningApp() (Runtime, error) {
	app, err := caddy.ActiveContext().AppIfConfigured("ai_gateway")
	if err != nil {
		return nil, &problem{http.StatusServiceUnavailable, "server_error", "not_running", "", "the ai_gateway app is not running"}
	}
	rt, ok := app.(Runtime)
	if !ok {
		return nil, &problem{http.StatusServiceUnavailable, "server_error", "not_running", "", "the ai_gateway app is not running"}
	}
	return rt, nil
}

var tenantIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

func createTenant(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	var body struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Plan string `json:"plan"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if !tenantIDPattern.MatchString(body.ID) {
		return badField("id", "id must be 1-64 characters of letters, digits, '_', '.' or '-', starting with a letter or digit")
	}
	if body.Plan == "" {
		body.Plan = rt.DefaultPlanName()
	}
	if _, ok := rt.Plan(body.Plan); !ok {
		return badField("plan", "plan %q is not configured", body.Plan)
	}
	if utf8.RuneCountInString(body.Name) > 200 {
		return badField("name", "name must be at most 200 characters")
	}
	t := ledger.Tenant{ID: body.ID, Name: body.Name, Plan: body.Plan}
	switch err := rt.Ledger().CreateTenant(r.Context(), &t); {
	case errors.Is(err, ledger.ErrExists):
		return &problem{http.StatusConflict, "invalid_request_error", "conflict", "id", "tenant " + body.ID + " already exists"}
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusCreated, viewTenant(t))
	return nil
}

func listTenants(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	list, next, err := rt.Ledger().Tenants(r.Context(), limit, cursor)
	if errors.Is(err, ledger.ErrBadCursor) {
		return badField("cursor", "cursor is not one this API gave out")
	}
	if err != nil {
		return err
	}
	out := listView[tenantView]{Data: make([]tenantView, 0, len(list)), HasMore: next != "", NextCursor: next}
	for _, t := range list {
		out.Data = append(out.Data, viewTenant(t))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func tenant(ctx context.Context, rt Runtime, id string) (ledger.Tenant, error) {
	t, err := rt.Ledger().Tenant(ctx, id)
	if errors.Is(err, ledger.ErrNotFound) {
		return t, notFound("tenant", id)
	}
	return t, err
}

func getTenant(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	t, err := tenant(r.Context(), rt, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewTenant(t))
	return nil
}

func updateTenant(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Name   *string `json:"name"`
		Plan   *string `json:"plan"`
		Status *string `json:"status"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if body.Plan != nil {
		if _, ok := rt.Plan(*body.Plan); !ok {
			return badField("plan", "plan %q is not configured", *body.Plan)
		}
	}
	if body.Status != nil && *body.Status != ledger.StatusActive && *body.Status != ledger.StatusSuspended {
		return badField("status", "status must be %q or %q", ledger.StatusActive, ledger.StatusSuspended)
	}
	if body.Name != nil && utf8.RuneCountInString(*body.Name) > 200 {
		return badField("name", "name must be at most 200 characters")
	}
	id := r.PathValue("id")
	t, hashes, err := rt.Ledger().UpdateTenant(r.Context(), id, ledger.TenantChange{Name: body.Name, Plan: body.Plan, Status: body.Status})
	if errors.Is(err, ledger.ErrNotFound) {
		return notFound("tenant", id)
	}
	if err != nil {
		return err
	}
	rt.Keys().Invalidate(hashes...) // a new plan or status applies to the next request
	writeJSON(w, http.StatusOK, viewTenant(t))
	return nil
}

func deleteTenant(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	// The totals trail the records; write them first, so that the quota counter deleted with the tenant
	// does not come back from them (or from adding up its records again after a restart).
	if err := rt.Writer().Flush(r.Context()); err != nil {
		return err
	}
	hashes, err := rt.Ledger().DeleteTenant(r.Context(), id)
	if errors.Is(err, ledger.ErrNotFound) {
		return notFound("tenant", id)
	}
	if err != nil {
		return err
	}
	rt.Keys().Invalidate(hashes...)
	rt.Limiter().Forget(id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func createKey(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Name string `json:"name"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if utf8.RuneCountInString(body.Name) > 200 {
		return badField("name", "name must be at most 200 characters")
	}
	id := r.PathValue("id")
	secret, hash, prefix := NewKey()
	k := ledger.Key{ID: ledger.NewID("key_"), TenantID: id, Name: body.Name, Prefix: prefix}
	err := rt.Ledger().CreateKey(r.Context(), &k, hash[:])
	if errors.Is(err, ledger.ErrNotFound) {
		return notFound("tenant", id)
	}
	if err != nil {
		return err
	}
	rt.Keys().Invalidate(hash[:]) // in case this hash was cached as unknown
	v := viewKey(k)
	v.Key = secret
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func listKeys(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	t, err := tenant(r.Context(), rt, r.PathValue("id"))
	if err != nil {
		return err
	}
	keys, err := rt.Ledger().Keys(r.Context(), t.ID)
	if err != nil {
		return err
	}
	out := listView[keyView]{Data: make([]keyView, 0, len(keys))}
	for _, k := range keys {
		out.Data = append(out.Data, viewKey(k))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func revokeKey(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("key_id")
	k, hash, err := rt.Ledger().RevokeKey(r.Context(), id)
	if errors.Is(err, ledger.ErrNotFound) {
		return notFound("key", id)
	}
	if err != nil {
		return err
	}
	rt.Keys().Invalidate(hash)
	writeJSON(w, http.StatusOK, viewKey(k))
	return nil
}

func tenantUsage(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	t, err := tenant(r.Context(), rt, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeUsage(r.Context(), rt, w, t)
}

func writeUsage(ctx context.Context, rt Runtime, w http.ResponseWriter, t ledger.Tenant) error {
	p, ok := rt.Plan(t.Plan)
	if !ok {
		return &problem{http.StatusConflict, "invalid_request_error", "plan_not_configured", "", "plan " + t.Plan + " is not configured"}
	}
	// A call's cost is settled with its record (see Gateway.record): the calls answered before this request
	// are in its spend once the records queued before it are written.
	if err := rt.Writer().Flush(ctx); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewUsage(t, p, rt.Limiter().Usage(t.ID, p)))
	return nil
}

// Interface guards
var _ caddy.AdminRouter = AdminAPI{}
