package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/helixgateway/caddy-ai-gateway/ledger"
	"github.com/helixgateway/caddy-ai-gateway/limits"
	"github.com/helixgateway/caddy-ai-gateway/pricing"
)

// The JSON bodies of the admin and self-service APIs. Times are RFC 3339 UTC.

type tenantView struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Plan      string    `json:"plan"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func viewTenant(t ledger.Tenant) tenantView {
	return tenantView{t.ID, t.Name, t.Plan, t.Status, t.CreatedAt, t.UpdatedAt}
}

type keyView struct {
	ID        string     `json:"id"`
	TenantID  string     `json:"tenant_id"`
	Name      string     `json:"name"`
	Prefix    string     `json:"prefix"`
	Static    bool       `json:"static,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at"`
	Key       string     `json:"key,omitempty"` // only in the answer that creates it
}

func viewKey(k ledger.Key) keyView {
	v := keyView{ID: k.ID, TenantID: k.TenantID, Name: k.Name, Prefix: k.Prefix, Static: k.Static, CreatedAt: k.CreatedAt}
	if !k.RevokedAt.IsZero() {
		v.RevokedAt = &k.RevokedAt
	}
	return v
}

type listView[T any] struct {
	Data       []T    `json:"data"`
	HasMore    bool   `json:"has_more"`
	NextCursor string `json:"next_cursor,omitempty"`
}

type usageView struct {
	TenantID   string         `json:"tenant_id"`
	Plan       string         `json:"plan"`
	Day        string         `json:"day"`
	Operations operationsView `json:"operations"`
	Bucket     *bucketView    `json:"bucket"`
	Spend      spendView      `json:"spend"`
}

type spendView struct {
	Month     string         `json:"month"`
	Spent     pricing.Money  `json:"spent"`
	InFlight  pricing.Money  `json:"in_flight"`
	Budget    *pricing.Money `json:"budget"`    // null without a budget
	Remaining *pricing.Money `json:"remaining"` // null without a budget
	ResetsAt  time.Time      `json:"resets_at"`
}

type operationsView struct {
	Used      int64     `json:"used"`
	InFlight  int64     `json:"in_flight"`
	Limit     *int64    `json:"limit"`     // null when unlimited
	Remaining *int64    `json:"remaining"` // null when unlimited
	ResetsAt  time.Time `json:"resets_at"`
}

type bucketView struct {
	Burst         int64     `json:"burst"`
	Remaining     int64     `json:"remaining"`
	RefillPerHour float64   `json:"refill_per_hour"`
	FullAt        time.Time `json:"full_at"`
}

func viewUsage(t ledger.Tenant, p limits.Policy, u limits.Usage) usageView {
	v := usageView{
		TenantID: t.ID, Plan: t.Plan, Day: ledger.Day(u.Day),
		Operations: operationsView{Used: u.Used, InFlight: u.Reserved, ResetsAt: u.ResetsAt},
	}
	if u.Limit != limits.Unlimited {
		v.Operations.Limit, v.Operations.Remaining = &u.Limit, &u.Remaining
	}
	v.Spend = spendView{Month: ledger.Month(u.Month), Spent: pricing.Money(u.Spent), InFlight: pricing.Money(u.Held),
		ResetsAt: u.BudgetResetsAt}
	if u.Budget > 0 {
		budget, left := pricing.Money(u.Budget), pricing.Money(u.BudgetRemaining)
		v.Spend.Budget, v.Spend.Remaining = &budget, &left
	}
	if p.Interval > 0 {
		v.Bucket = &bucketView{Burst: u.BucketLimit, Remaining: u.BucketRemaining,
			RefillPerHour: float64(time.Hour) / float64(p.Interval), FullAt: u.BucketResetsAt}
	}
	return v
}

// problem is an API error with the HTTP status it goes with.
type problem struct {
	status int
	typ    string
	code   string
	param  string
	msg    string
}

func (p *problem) Error() string { return p.msg }

func badField(field, format string, args ...any) *problem {
	return &problem{http.StatusBadRequest, "invalid_request_error", "invalid_field", field, fmt.Sprintf(format, args...)}
}

func notFound(what, id string) *problem {
	return &problem{http.StatusNotFound, "invalid_request_error", "not_found", "", fmt.Sprintf("%s %q not found", what, id)}
}

// writeProblem answers with err as an OpenAI-shaped error; anything that is not a *problem is a 500 whose detail
// stays in the log.
func writeProblem(w http.ResponseWriter, err error) {
	var p *problem
	if !errors.As(err, &p) {
		p = &problem{http.StatusInternalServerError, "server_error", "internal_error", "", "internal error"}
	}
	writeJSON(w, p.status, struct {
		Error apiError `json:"error"`
	}{apiError{Message: p.msg, Type: p.typ, Code: p.code, Param: p.param}})
}

// decodeBody reads a JSON object into v, refusing unknown fields and trailing data, naming the field at fault
// (or "body" when the body as a whole is wrong).
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field == "":
			return badField("body", "request body must be a JSON object")
		case errors.As(err, &te):
			return badField(te.Field, "field %q must be a %s", te.Field, jsonKind(te.Type))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return badField(field, "unknown field %q", field)
		case errors.Is(err, io.EOF):
			return badField("body", "request body must be a JSON object")
		default:
			return badField("body", "request body is not valid JSON: %v", strings.TrimPrefix(err.Error(), "json: "))
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return badField("body", "request body has data after the JSON object")
	}
	return nil
}

// jsonKind names a Go kind the way a JSON user would.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	default:
		return "number"
	}
}

// page reads ?limit=&cursor=.
func page(r *http.Request) (limit int, cursor string, err error) {
	limit = 50
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			return 0, "", badField("limit", "limit must be an integer from 1 to 500")
		}
		limit = n
	}
	return limit, r.URL.Query().Get("cursor"), nil
}
