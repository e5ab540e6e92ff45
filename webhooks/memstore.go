package webhooks

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// MemStore is a Store held in memory, for tests (this package's and others'): it keeps every contract of Store
// except durability across a process restart. A "restart" in tests is a new Dispatcher on the same MemStore.
type MemStore struct {
	mu         sync.Mutex
	endpoints  map[string]*Endpoint
	events     map[string]*Event
	deliveries map[string]*Delivery
	attempts   map[string][]Attempt // by delivery id, in number order
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{
		endpoints:  map[string]*Endpoint{},
		events:     map[string]*Event{},
		deliveries: map[string]*Delivery{},
		attempts:   map[string][]Attempt{},
	}
}

func copyEndpoint(e *Endpoint) Endpoint {
	c := *e
	c.EventTypes = slices.Clone(e.EventTypes)
	c.Secrets = slices.Clone(e.Secrets)
	return c
}

// CreateEndpoint implements Store.
func (m *MemStore) CreateEndpoint(_ context.Context, ep Endpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.endpoints[ep.ID]; ok {
		return fmt.Errorf("endpoint %s: %w", ep.ID, ErrExists)
	}
	c := copyEndpoint(&ep)
	m.endpoints[ep.ID] = &c
	return nil
}

// Endpoint implements Store.
func (m *MemStore) Endpoint(_ context.Context, id string) (Endpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ep, ok := m.endpoints[id]
	if !ok {
		return Endpoint{}, fmt.Errorf("endpoint %s: %w", id, ErrNotFound)
	}
	return copyEndpoint(ep), nil
}

// ListEndpoints implements Store.
func (m *MemStore) ListEndpoints(_ context.Context, tenantID string) ([]Endpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Endpoint
	for _, ep := range m.endpoints {
		if tenantID == "" || ep.TenantID == tenantID {
			out = append(out, copyEndpoint(ep))
		}
	}
	slices.SortFunc(out, func(a, b Endpoint) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.ID, a.ID))
	})
	return out, nil
}

// DeleteEndpoint implements Store.
func (m *MemStore) DeleteEndpoint(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.endpoints[id]; !ok {
		return fmt.Errorf("endpoint %s: %w", id, ErrNotFound)
	}
	delete(m.endpoints, id)
	for did, d := range m.deliveries {
		if d.EndpointID == id {
			delete(m.deliveries, did)
			delete(m.attempts, did)
		}
	}
	return nil
}

// RotateSecret implements Store.
func (m *MemStore) RotateSecret(_ context.Context, id string, next Secret, previousUntil, now time.Time) (Endpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ep, ok := m.endpoints[id]
	if !ok {
		return Endpoint{}, fmt.Errorf("endpoint %s: %w", id, ErrNotFound)
	}
	ep.Secrets = RotateSecrets(ep.Secrets, next, previousUntil, now)
	return copyEndpoint(ep), nil
}

// DisableEndpoint implements Store.
func (m *MemStore) DisableEndpoint(_ context.Context, id, reason string, at time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ep, ok := m.endpoints[id]
	if !ok {
		return 0, fmt.Errorf("endpoint %s: %w", id, ErrNotFound)
	}
	if !ep.Disabled {
		ep.Disabled, ep.DisabledReason, ep.DisabledAt = true, reason, at
	}
	n := 0
	for _, d := range m.deliveries {
		if d.EndpointID == id && d.Status == StatusPending {
			d.Status, d.Reason, d.NextAttemptAt = StatusFailed, "endpoint disabled: "+ep.DisabledReason, time.Time{}
			n++
		}
	}
	return n, nil
}

// EnableEndpoint implements Store.
func (m *MemStore) EnableEndpoint(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ep, ok := m.endpoints[id]
	if !ok {
		return fmt.Errorf("endpoint %s: %w", id, ErrNotFound)
	}
	ep.Disabled, ep.DisabledReason, ep.DisabledAt, ep.FailingSince = false, "", time.Time{}, time.Time{}
	return nil
}

// AddEvent implements Store.
func (m *MemStore) AddEvent(_ context.Context, ev Event, ds []Delivery) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.events[ev.ID]; ok {
		return nil
	}
	for i := range ds {
		if ds[i].EventID != ev.ID {
			return fmt.Errorf("delivery %s is for event %s, not %s", ds[i].ID, ds[i].EventID, ev.ID)
		}
		if _, ok := m.deliveries[ds[i].ID]; ok {
			return fmt.Errorf("delivery %s: %w", ds[i].ID, ErrExists)
		}
	}
	e := ev
	e.Payload = slices.Clone(ev.Payload)
	m.events[ev.ID] = &e
	for _, d := range ds {
		d.Status = StatusPending
		m.deliveries[d.ID] = &d
	}
	return nil
}

// Event implements Store.
func (m *MemStore) Event(_ context.Context, id string) (Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ev, ok := m.events[id]
	if !ok {
		return Event{}, fmt.Errorf("event %s: %w", id, ErrNotFound)
	}
	e := *ev
	e.Payload = slices.Clone(ev.Payload)
	return e, nil
}

// Delivery implements Store.
func (m *MemStore) Delivery(_ context.Context, id string) (Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.deliveries[id]
	if !ok {
		return Delivery{}, fmt.Errorf("delivery %s: %w", id, ErrNotFound)
	}
	return *d, nil
}

// ListDeliveries implements Store.
func (m *MemStore) ListDeliveries(_ context.Context, q DeliveryQuery) ([]Delivery, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	m.mu.Lock()
	var out []Delivery
	for _, d := range m.deliveries {
		if (q.EndpointID == "" || d.EndpointID == q.EndpointID) && (q.TenantID == "" || d.TenantID == q.TenantID) &&
			(q.Status == "" || d.Status == q.Status) && (q.Before == "" || d.ID < q.Before) {
			out = append(out, *d)
		}
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b Delivery) int { return cmp.Compare(b.ID, a.ID) })
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// Attempts implements Store.
func (m *MemStore) Attempts(_ context.Context, deliveryID string) ([]Attempt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.attempts[deliveryID]), nil
}

// Pending implements Store.
func (m *MemStore) Pending(ctx context.Context, fn func(Due) error) error {
	m.mu.Lock()
	var due []Due
	for _, d := range m.deliveries {
		if d.Status == StatusPending {
			due = append(due, d.due())
		}
	}
	m.mu.Unlock()
	for _, d := range due {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	return nil
}

// RecordAttempt implements Store.
func (m *MemStore) RecordAttempt(_ context.Context, r AttemptResult) error {
	a := r.Attempt
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.deliveries[a.DeliveryID]
	if !ok {
		return fmt.Errorf("delivery %s: %w", a.DeliveryID, ErrNotFound)
	}
	for _, old := range m.attempts[d.ID] {
		if old.Number == a.Number {
			return nil
		}
	}
	m.attempts[d.ID] = append(m.attempts[d.ID], a)
	d.Attempts, d.LastAttemptAt, d.LastStatus, d.LastError = a.Number, a.At, a.StatusCode, a.Error
	switch {
	case d.Status == StatusPending:
		d.Status, d.NextAttemptAt, d.Reason = r.Status, r.NextAttemptAt, r.Reason
	case a.Succeeded():
		d.Status, d.NextAttemptAt, d.Reason = StatusSucceeded, time.Time{}, ""
	}
	if ep, ok := m.endpoints[d.EndpointID]; ok {
		if a.Succeeded() {
			ep.FailingSince = time.Time{}
		} else if ep.FailingSince.IsZero() {
			ep.FailingSince = a.At
		}
	}
	return nil
}

// Requeue implements Store.
func (m *MemStore) Requeue(_ context.Context, deliveryID string, at time.Time) (Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.deliveries[deliveryID]
	if !ok {
		return Delivery{}, fmt.Errorf("delivery %s: %w", deliveryID, ErrNotFound)
	}
	if ep, ok := m.endpoints[d.EndpointID]; ok && ep.Disabled {
		return Delivery{}, fmt.Errorf("endpoint %s: %w", ep.ID, ErrEndpointDisabled)
	}
	d.Status, d.NextAttemptAt, d.Reason = StatusPending, at, ""
	return *d, nil
}

// RequeueFailed implements Store.
func (m *MemStore) RequeueFailed(_ context.Context, endpointID string, since, at time.Time) ([]Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ep, ok := m.endpoints[endpointID]
	if !ok {
		return nil, fmt.Errorf("endpoint %s: %w", endpointID, ErrNotFound)
	}
	if ep.Disabled {
		return nil, fmt.Errorf("endpoint %s: %w", endpointID, ErrEndpointDisabled)
	}
	var out []Delivery
	for _, d := range m.deliveries {
		if d.EndpointID == endpointID && d.Status == StatusFailed && !d.CreatedAt.Before(since) {
			d.Status, d.NextAttemptAt, d.Reason = StatusPending, at, ""
			out = append(out, *d)
		}
	}
	slices.SortFunc(out, func(a, b Delivery) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

var _ Store = (*MemStore)(nil)
