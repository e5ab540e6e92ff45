package webhooks

import (
	"context"
	"errors"
	"time"
)

// Errors a Store returns; implementations wrap or return them as is, callers test with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrEndpointDisabled is returned when re-queueing a delivery of a disabled endpoint.
	ErrEndpointDisabled = errors.New("endpoint disabled")
)

// Store is the durable truth of webhooks: endpoints, events, deliveries and their attempts. The Dispatcher keeps
// only a schedule in memory and rebuilds it from the Store at every start, so everything a Store holds must
// survive a restart, and every method that writes must be committed (durable) when it returns without error.
//
// Times go in and come out with at least millisecond precision (the SQLite store keeps Unix nanoseconds); ids are
// given by the caller. Values returned are the caller's own: a Store never keeps or hands out aliased slices.
// Methods are safe for concurrent use. One Dispatcher works on a Store at a time (the gateway shares one across
// config reloads), and it is the only writer of a delivery's attempt state; Store methods are nonetheless
// written so that a stale writer cannot resurrect a delivery that another write has finished.
//
// Package storetest checks an implementation against these contracts.
type Store interface {
	// CreateEndpoint stores a new endpoint, secrets included. ErrExists if its id is taken.
	CreateEndpoint(ctx context.Context, ep Endpoint) error
	// Endpoint returns one endpoint with its secrets. ErrNotFound if there is none.
	Endpoint(ctx context.Context, id string) (Endpoint, error)
	// ListEndpoints returns a tenant's endpoints (every tenant's when tenantID is ""), disabled ones included,
	// newest first.
	ListEndpoints(ctx context.Context, tenantID string) ([]Endpoint, error)
	// DeleteEndpoint removes an endpoint with its deliveries and their attempts, in one transaction. Events stay
	// (other endpoints may share them). ErrNotFound if there is none.
	DeleteEndpoint(ctx context.Context, id string) error
	// RotateSecret replaces the endpoint's secrets with RotateSecrets(current, next, previousUntil, now) in one
	// transaction (read, rotate, write: two rotations at once must not lose one) and returns the endpoint
	// afterwards. ErrNotFound if there is none.
	RotateSecret(ctx context.Context, id string, next Secret, previousUntil, now time.Time) (Endpoint, error)
	// DisableEndpoint, in one transaction, marks the endpoint disabled with reason and time (an endpoint already
	// disabled keeps its first reason and time) and fails every pending delivery of the endpoint: Status failed,
	// Reason "endpoint disabled: <the endpoint's reason>", NextAttemptAt zero. It returns how many deliveries it
	// failed. ErrNotFound if there is none.
	DisableEndpoint(ctx context.Context, id, reason string, at time.Time) (int, error)
	// EnableEndpoint clears Disabled, DisabledReason, DisabledAt and FailingSince. Failed deliveries stay failed
	// (ResendFailed sends them again). ErrNotFound if there is none.
	EnableEndpoint(ctx context.Context, id string) error

	// AddEvent stores an event and its deliveries (each with Status pending) in one transaction. It is
	// idempotent: when ev.ID is already stored it writes nothing and returns nil, so a retried batch cannot
	// duplicate deliveries. The ledger does the same inside its own operation transaction; this method is for
	// events that have no operation (webhook.test, invoice.finalized) and for tests.
	AddEvent(ctx context.Context, ev Event, ds []Delivery) error
	// Event returns an event with its Payload byte for byte as stored. ErrNotFound if there is none.
	Event(ctx context.Context, id string) (Event, error)
	// Delivery returns one delivery. ErrNotFound if there is none.
	Delivery(ctx context.Context, id string) (Delivery, error)
	// ListDeliveries returns deliveries matching q, newest (highest id) first.
	ListDeliveries(ctx context.Context, q DeliveryQuery) ([]Delivery, error)
	// Attempts returns a delivery's attempts in Number order (an unknown delivery has none).
	Attempts(ctx context.Context, deliveryID string) ([]Attempt, error)

	// Pending calls fn with every pending delivery, in any order; the Dispatcher calls it once at start to
	// rebuild its schedule. Deliveries committed while Pending runs may or may not be seen (the ledger announces
	// those with Notify). An error from fn stops the walk and is returned.
	Pending(ctx context.Context, fn func(Due) error) error
	// RecordAttempt commits one finished attempt and its outcome in one transaction:
	//   - it appends r.Attempt (r.Attempt.Number is the delivery's attempts so far plus one; a second attempt
	//     with the same delivery and number is ignored, as a retried write);
	//   - it sets the delivery's Attempts, LastAttemptAt, LastStatus and LastError from r.Attempt;
	//   - if the delivery is pending, it sets Status, NextAttemptAt and Reason from r. If it is no longer pending
	//     (its endpoint was disabled meanwhile), it stays as it is, except that a successful attempt always
	//     marks it succeeded: the receiver has it;
	//   - on the endpoint: a successful attempt clears FailingSince; a failed one sets it to r.Attempt.At if it
	//     is zero.
	// ErrNotFound if the delivery is gone (its endpoint was deleted).
	RecordAttempt(ctx context.Context, r AttemptResult) error
	// Requeue makes a delivery, whatever its status, pending and due at `at`, clearing Reason; its attempts and
	// their history stay, and numbering goes on from them. It returns the delivery afterwards. ErrNotFound if
	// there is none; ErrEndpointDisabled (nothing changed) if its endpoint is disabled.
	Requeue(ctx context.Context, deliveryID string, at time.Time) (Delivery, error)
	// RequeueFailed does what Requeue does to every failed delivery of an endpoint created at or after since, in
	// one transaction, and returns them. ErrNotFound if the endpoint does not exist; ErrEndpointDisabled if it
	// is disabled.
	RequeueFailed(ctx context.Context, endpointID string, since, at time.Time) ([]Delivery, error)
}

// DeliveryQuery selects deliveries for ListDeliveries. Every field is optional.
type DeliveryQuery struct {
	EndpointID string
	TenantID   string
	Status     Status // "" for any
	Before     string // a delivery id: only deliveries with a smaller id (the next page of a newest-first list)
	Limit      int    // at most this many; 0 means 100
}

// Due is a pending delivery as the Dispatcher schedules it.
type Due struct {
	DeliveryID    string
	EndpointID    string
	NextAttemptAt time.Time
	Attempts      int       // attempts so far
	CreatedAt     time.Time // when the event happened
}

// AttemptResult is one finished attempt and what follows from it.
type AttemptResult struct {
	Attempt       Attempt // Attempt.DeliveryID names the delivery
	Status        Status  // pending (another attempt at NextAttemptAt), succeeded or failed
	NextAttemptAt time.Time
	Reason        string // why it failed for good, when Status is failed
}

func (d *Delivery) due() Due {
	return Due{DeliveryID: d.ID, EndpointID: d.EndpointID, NextAttemptAt: d.NextAttemptAt, Attempts: d.Attempts, CreatedAt: d.CreatedAt}
}
