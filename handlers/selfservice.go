package handlers

import (
	"errors"
	"net/http"

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
	var err error
	switch {
	case r.URL.Path == selfServicePrefix+"usage" && r.Method == http.MethodGet:
		var t ledger.Tenant
		t, err = g.rt.Ledger().Tenant(r.Context(), owner.TenantID)
		if errors.Is(err, ledger.ErrNotFound) {
			err = errBadKey.problem() // deleted a moment ago
		}
		if err == nil {
			err = writeUsage(g.rt, w, t)
		}
	default:
		err = &problem{http.StatusNotFound, "invalid_request_error", "not_found", "", "no such endpoint: " + r.Method + " " + r.URL.Path}
	}
	if err != nil {
		writeProblem(w, err)
	}
	return nil
}

func (d *denial) problem() *problem {
	return &problem{status: d.status, typ: d.typ, code: d.code, msg: d.msg}
}
