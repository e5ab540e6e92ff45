package handlers

import (
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/helixgateway/caddy-ai-gateway/ledger"
)

// selfServicePrefix is where a tenant reads its own usage with its own key. These requests are answered by the
// gateway itself: they are not operations, so they are never proxied, counted or rate limited.
const selfServicePrefix = "/v1/gateway/"

func (g *Gateway) serveSelf(w http.ResponseWriter, r *http.Request) error {
	owner, d := g.authenticate(r)
	if d != nil {
		writeError(w, d.status, d.typ, d.code, d.msg)
		return nil
	}
	t, err := g.rt.Ledger().Tenant(r.Context(), owner.TenantID)
	if errors.Is(err, ledger.ErrNotFound) {
		err = errBadKey.problem() // deleted a moment ago
	}
	if err == nil {
		err = g.selfService(w, r, t)
	}
	if err != nil {
		var p *problem
		if !errors.As(err, &p) {
			g.logger.Error("self-service request failed", zap.String("path", r.URL.Path), zap.String("tenant", t.ID), zap.Error(err))
		}
		writeProblem(w, err)
	}
	return nil
}

func (g *Gateway) selfService(w http.ResponseWriter, r *http.Request, t ledger.Tenant) error {
	path, get := strings.TrimPrefix(r.URL.Path, selfServicePrefix), r.Method == http.MethodGet
	switch {
	case path == "usage" && get:
		return writeUsage(r.Context(), g.rt, w, t)
	case path == "billing" && get:
		return writeBilling(r.Context(), g.rt, w, r, t)
	case path == "analytics" && get:
		return writeAnalytics(r.Context(), g.rt, w, r, ledger.AnalyticsQuery{TenantID: t.ID}, g.now())
	case path == "invoices" && get:
		return writeInvoices(r.Context(), g.rt, w, t.ID)
	case strings.HasPrefix(path, "invoices/") && get:
		inv, err := invoiceByNumber(r.Context(), g.rt, strings.TrimPrefix(path, "invoices/"))
		if err == nil && inv.TenantID != t.ID {
			err = notFound("invoice", strings.TrimPrefix(path, "invoices/")) // another tenant's: as if absent
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, inv)
		return nil
	}
	if ok, err := g.selfWebhooks(w, r, t, path); ok {
		return err
	}
	return &problem{http.StatusNotFound, "invalid_request_error", "not_found", "", "no such endpoint: " + r.Method + " " + r.URL.Path}
}

func (d *denial) problem() *problem {
	return &problem{status: d.status, typ: d.typ, code: d.code, msg: d.msg}
}
