package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/helixgateway/caddy-ai-gateway/ledger"
	"github.com/helixgateway/caddy-ai-gateway/webhooks"
)

// endpointView is an endpoint as the APIs show it; Secret only in the answer that creates or rotates it.
type endpointView struct {
	webhooks.Endpoint
	Secret string `json:"secret,omitempty"`
}

type deliveryView struct {
	webhooks.Delivery
	Attempts []webhooks.Attempt `json:"attempt_history,omitempty"`
}

// webhookProblem turns the webhooks package's errors into API errors.
func webhookProblem(err error, what, id string) error {
	switch {
	case errors.Is(err, webhooks.ErrNotFound):
		return notFound(what, id)
	case errors.Is(err, webhooks.ErrEndpointDisabled):
		return &problem{http.StatusConflict, "invalid_request_error", "endpoint_disabled", "", "the endpoint is disabled; enable it first"}
	}
	return err
}

func createEndpoint(ctx context.Context, rt Runtime, w http.ResponseWriter, r *http.Request, tenantID string) error {
	var body struct {
		URL        string   `json:"url"`
		EventTypes []string `json:"event_types"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if err := rt.WebhookGuard().ValidateURL(ctx, body.URL); err != nil {
		return badField("url", "%s", strings.TrimPrefix(err.Error(), "url: "))
	}
	for _, t := range body.EventTypes {
		if !webhooks.KnownEventType(t) {
			return badField("event_types", "unknown event type %q; known: %s", t, strings.Join(webhooks.EventTypes, ", "))
		}
	}
	ep, err := webhooks.NewEndpoint(tenantID, body.URL, body.EventTypes, time.Now())
	if err != nil {
		return badField("event_types", "%v", err)
	}
	if err := rt.Webhooks().CreateEndpoint(ctx, ep); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, endpointView{Endpoint: ep, Secret: ep.Secrets[0].Value})
	return nil
}

func listEndpoints(ctx context.Context, rt Runtime, w http.ResponseWriter, tenantID string) error {
	eps, err := rt.Webhooks().ListEndpoints(ctx, tenantID)
	if err != nil {
		return err
	}
	out := listView[endpointView]{Data: make([]endpointView, 0, len(eps))}
	for _, ep := range eps {
		out.Data = append(out.Data, endpointView{Endpoint: ep})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ownEndpoint reads an endpoint, as 404 when it belongs to another tenant (tenantID "" for the operator).
func ownEndpoint(ctx context.Context, rt Runtime, id, tenantID string) (webhooks.Endpoint, error) {
	ep, err := rt.Webhooks().Endpoint(ctx, id)
	if err == nil && tenantID != "" && ep.TenantID != tenantID {
		err = webhooks.ErrNotFound
	}
	return ep, webhookProblem(err, "webhook", id)
}

func deleteEndpoint(ctx context.Context, rt Runtime, w http.ResponseWriter, id, tenantID string) error {
	if _, err := ownEndpoint(ctx, rt, id, tenantID); err != nil {
		return err
	}
	if err := rt.Webhooks().DeleteEndpoint(ctx, id); err != nil {
		return webhookProblem(err, "webhook", id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func listDeliveries(ctx context.Context, rt Runtime, w http.ResponseWriter, r *http.Request, id, tenantID string) error {
	if _, err := ownEndpoint(ctx, rt, id, tenantID); err != nil {
		return err
	}
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	status := webhooks.Status(r.URL.Query().Get("status"))
	if status != "" && !status.Valid() {
		return badField("status", "status must be pending, succeeded or failed")
	}
	ds, err := rt.Webhooks().ListDeliveries(ctx, webhooks.DeliveryQuery{EndpointID: id, Status: status, Before: cursor, Limit: limit + 1})
	if err != nil {
		return err
	}
	out := listView[webhooks.Delivery]{Data: ds}
	if len(ds) > limit {
		out.Data, out.HasMore, out.NextCursor = ds[:limit], true, ds[limit-1].ID
	}
	if out.Data == nil {
		out.Data = []webhooks.Delivery{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// The operator's routes.

func adminCreateEndpoint(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	t, err := tenant(r.Context(), rt, r.PathValue("id"))
	if err != nil {
		return err
	}
	return createEndpoint(r.Context(), rt, w, r, t.ID)
}

func adminListEndpoints(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	t, err := tenant(r.Context(), rt, r.PathValue("id"))
	if err != nil {
		return err
	}
	return listEndpoints(r.Context(), rt, w, t.ID)
}

func adminDeleteEndpoint(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	return deleteEndpoint(r.Context(), rt, w, r.PathValue("id"), "")
}

func adminDeliveries(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	return listDeliveries(r.Context(), rt, w, r, r.PathValue("id"), "")
}

// testEndpoint sends a webhook.test event to one endpoint.
func testEndpoint(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	ep, err := ownEndpoint(r.Context(), rt, r.PathValue("id"), "")
	if err != nil {
		return err
	}
	ev, err := webhooks.TestEvent(&ep, time.Now())
	if err != nil {
		return err
	}
	ds := webhooks.Deliveries(ev, []webhooks.Endpoint{ep})
	if len(ds) == 0 {
		return webhookProblem(webhooks.ErrEndpointDisabled, "webhook", ep.ID)
	}
	if err := rt.Webhooks().AddEvent(r.Context(), ev, ds); err != nil {
		return err
	}
	if d := rt.Dispatcher(); d != nil {
		d.Notify(ds...)
	}
	writeJSON(w, http.StatusAccepted, ds[0])
	return nil
}

// rotateSecret gives an endpoint a new secret; the old one keeps signing for 24 hours.
func rotateSecret(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	secret, err := webhooks.RotateSecret(r.Context(), rt.Webhooks(), id, time.Now(), 0)
	if err != nil {
		return webhookProblem(err, "webhook", id)
	}
	ep, err := rt.Webhooks().Endpoint(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, endpointView{Endpoint: ep, Secret: secret})
	return nil
}

func enableEndpoint(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := rt.Webhooks().EnableEndpoint(r.Context(), id); err != nil {
		return webhookProblem(err, "webhook", id)
	}
	ep, err := rt.Webhooks().Endpoint(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, endpointView{Endpoint: ep})
	return nil
}

// resendFailed sends again every failed delivery of an endpoint since a time (default: the last 24 hours).
func resendFailed(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Since time.Time `json:"since"`
	}
	if r.ContentLength != 0 {
		if err := decodeBody(r, &body); err != nil {
			return err
		}
	}
	if body.Since.IsZero() {
		body.Since = time.Now().Add(-24 * time.Hour)
	}
	d := rt.Dispatcher()
	if d == nil {
		return &problem{http.StatusServiceUnavailable, "server_error", "not_running", "", "the webhook dispatcher is restarting"}
	}
	n, err := d.ResendFailed(r.Context(), r.PathValue("id"), body.Since)
	if err != nil {
		return webhookProblem(err, "webhook", r.PathValue("id"))
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"requeued": n, "since": body.Since.UTC()})
	return nil
}

func getDelivery(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	dl, err := rt.Webhooks().Delivery(r.Context(), id)
	if err != nil {
		return webhookProblem(err, "delivery", id)
	}
	attempts, err := rt.Webhooks().Attempts(r.Context(), id)
	if err != nil {
		return err
	}
	if attempts == nil {
		attempts = []webhooks.Attempt{}
	}
	writeJSON(w, http.StatusOK, deliveryView{Delivery: dl, Attempts: attempts})
	return nil
}

func retryDelivery(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	d := rt.Dispatcher()
	if d == nil {
		return &problem{http.StatusServiceUnavailable, "server_error", "not_running", "", "the webhook dispatcher is restarting"}
	}
	dl, err := d.RetryNow(r.Context(), r.PathValue("id"))
	if err != nil {
		return webhookProblem(err, "delivery", r.PathValue("id"))
	}
	writeJSON(w, http.StatusAccepted, dl)
	return nil
}

// selfWebhooks serves /v1/gateway/webhooks... for the caller's tenant.
func (g *Gateway) selfWebhooks(w http.ResponseWriter, r *http.Request, t ledger.Tenant, path string) (bool, error) {
	ctx := r.Context()
	rest, ok := strings.CutPrefix(path, "webhooks")
	if !ok {
		return false, nil
	}
	switch {
	case rest == "" && r.Method == http.MethodGet:
		return true, listEndpoints(ctx, g.rt, w, t.ID)
	case rest == "" && r.Method == http.MethodPost:
		return true, createEndpoint(ctx, g.rt, w, r, t.ID)
	case strings.HasPrefix(rest, "/"):
		id, sub, _ := strings.Cut(rest[1:], "/")
		switch {
		case sub == "" && r.Method == http.MethodDelete:
			return true, deleteEndpoint(ctx, g.rt, w, id, t.ID)
		case sub == "deliveries" && r.Method == http.MethodGet:
			return true, listDeliveries(ctx, g.rt, w, r, id, t.ID)
		}
	}
	return false, nil
}
