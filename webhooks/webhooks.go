// Package webhooks tells tenants' own systems what happened, reliably and safely.
//
// The pieces, one per file:
//
//   - endpoints (subscriptions) with whsec_ secrets and rotation (secret.go), Standard Webhooks signing (sign.go);
//   - events, whose body is built once when the event is created and never rebuilt, and the fan-out of an event
//     to one pending Delivery per matching endpoint (event.go); the ledger writes both in the transaction of the
//     operation that caused them, so nothing is sent from the request path;
//   - the Store interface (store.go), the durable truth about endpoints, events, deliveries and attempts, with an
//     in-memory implementation for tests (memstore.go) and a contract test suite (storetest/);
//   - the Dispatcher (dispatcher.go, queue.go, attempt.go): a bounded worker pool with a per-endpoint concurrency
//     limit, fed by an in-memory timer heap whose contents are rebuilt from the Store at every start;
//   - the retry schedule with jitter and Retry-After (schedule.go), the SSRF guard (ssrf.go), and the throttle that
//     makes warning and exceeded events fire once per period (throttle.go).
//
// Delivery is at least once: a delivery leaves "pending" only once an attempt's outcome is committed to the Store,
// so a crash or a stop at any moment leads, after the next start, to another attempt, never to a lost one.
// Receivers deduplicate by the webhook-id header, which is the event id and the same on every attempt.
//
// The package knows nothing of Caddy, HTTP handlers or SQL.
package webhooks

import (
	"slices"
	"time"
)

// Event types, as named by the contract.
const (
	EventOperationCompleted = "operation.completed"
	EventOperationFailed    = "operation.failed"
	EventQuotaWarning       = "quota.warning"
	EventQuotaExceeded      = "quota.exceeded"
	EventRateLimitExceeded  = "rate_limit.exceeded"
	EventBudgetWarning      = "budget.warning"
	EventBudgetExceeded     = "budget.exceeded"
	EventInvoiceFinalized   = "invoice.finalized"
	EventWebhookTest        = "webhook.test"
)

// EventTypes lists every event type an endpoint may subscribe to.
var EventTypes = []string{
	EventOperationCompleted, EventOperationFailed, EventQuotaWarning, EventQuotaExceeded, EventRateLimitExceeded,
	EventBudgetWarning, EventBudgetExceeded, EventInvoiceFinalized, EventWebhookTest,
}

// KnownEventType reports whether t is one of EventTypes.
func KnownEventType(t string) bool { return slices.Contains(EventTypes, t) }

// Status is where a delivery stands.
type Status string

// Delivery statuses. A delivery waiting for its first attempt and one waiting for a retry are both pending.
const (
	StatusPending   Status = "pending"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
)

// Valid reports whether s is one of the three statuses.
func (s Status) Valid() bool {
	return s == StatusPending || s == StatusSucceeded || s == StatusFailed
}

// Endpoint is a tenant's subscription: where to POST which events, signed with which secrets.
type Endpoint struct {
	ID         string   `json:"id"` // "ep_..."
	TenantID   string   `json:"tenant_id"`
	URL        string   `json:"url"`
	EventTypes []string `json:"event_types"` // empty: every event type

	// Secrets sign deliveries: Secrets[0] is the current one (ExpiresAt zero); the others are previous secrets
	// still signing until their ExpiresAt, so that a receiver can switch over after a rotation. Never logged,
	// never in JSON: the secret is shown once, by whoever created or rotated it.
	Secrets []Secret `json:"-"`

	Disabled       bool      `json:"disabled"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	DisabledAt     time.Time `json:"disabled_at,omitzero"`
	// FailingSince is the time of the first failed attempt since the last successful one (zero while healthy).
	// An endpoint failing for longer than Options.DisableAfter is disabled.
	FailingSince time.Time `json:"failing_since,omitzero"`
	CreatedAt    time.Time `json:"created_at"`
}

// Wants reports whether the endpoint subscribes to events of type t. webhook.test is always wanted: it is only
// ever sent to the one endpoint being tested.
func (e *Endpoint) Wants(t string) bool {
	return len(e.EventTypes) == 0 || t == EventWebhookTest || slices.Contains(e.EventTypes, t)
}

// Event is something that happened to a tenant. Payload is the exact body every delivery of the event sends,
// built once by NewEvent: later changes to whatever the event describes never change what is delivered.
type Event struct {
	ID        string    `json:"id"` // "msg_..."; the webhook-id header
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	TenantID  string    `json:"tenant_id"`
	Payload   []byte    `json:"-"` // {"type": ..., "timestamp": ..., "data": {"tenant_id": ..., ...}}
}

// Delivery is one event on its way to one endpoint.
type Delivery struct {
	ID         string `json:"id"` // "dlv_..."; time-ordered, so it doubles as a pagination cursor
	EventID    string `json:"event_id"`
	EndpointID string `json:"endpoint_id"`
	TenantID   string `json:"tenant_id"`
	EventType  string `json:"event_type"`
	Status     Status `json:"status"`
	// Reason says why a delivery failed for good: attempts used up, endpoint gone or disabled.
	Reason        string    `json:"reason,omitempty"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"` // meaningful while pending
	LastAttemptAt time.Time `json:"last_attempt_at,omitzero"`
	LastStatus    int       `json:"last_status,omitempty"` // HTTP status of the last attempt; 0 if none came back
	LastError     string    `json:"last_error,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

// MaxResponseBody is how much of a receiver's response body an Attempt keeps.
const MaxResponseBody = 4 << 10

// Attempt is one try at a delivery, successful or not.
type Attempt struct {
	DeliveryID   string        `json:"delivery_id"`
	Number       int           `json:"number"` // 1 for the first attempt
	At           time.Time     `json:"at"`
	StatusCode   int           `json:"status_code,omitempty"` // 0 when no response came back
	Error        string        `json:"error,omitempty"`       // network error, timeout, refused target, redirect
	Duration     time.Duration `json:"duration_ns"`
	ResponseBody string        `json:"response_body,omitempty"` // at most MaxResponseBody bytes
}

// Succeeded reports whether the attempt got a 2xx answer.
func (a *Attempt) Succeeded() bool { return a.StatusCode >= 200 && a.StatusCode < 300 }
