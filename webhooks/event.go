package webhooks

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// NewEvent builds an event of type typ for tenantID with data (anything that marshals to a JSON object, or nil)
// and freezes its body: {"type", "timestamp" (RFC 3339, UTC), "data"}. data always carries tenant_id; it is
// added in front when missing, and a data object naming another tenant is refused.
func NewEvent(typ, tenantID string, data any, at time.Time) (Event, error) {
	if typ == "" || tenantID == "" {
		return Event{}, errors.New("webhook event needs a type and a tenant")
	}
	raw, err := eventData(tenantID, data)
	if err != nil {
		return Event{}, fmt.Errorf("webhook event %s: %w", typ, err)
	}
	at = at.UTC()
	body, err := json.Marshal(struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}{typ, at.Format(time.RFC3339Nano), raw})
	if err != nil {
		return Event{}, fmt.Errorf("webhook event %s: %w", typ, err)
	}
	return Event{ID: NewID("msg_"), Type: typ, Timestamp: at, TenantID: tenantID, Payload: body}, nil
}

// eventData marshals data and makes sure it is an object carrying tenant_id.
func eventData(tenantID string, data any) (json.RawMessage, error) {
	raw := []byte("{}")
	if data != nil {
		var err error
		if raw, err = json.Marshal(data); err != nil {
			return nil, err
		}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, errors.New("data must be a JSON object")
	}
	if t, ok := fields["tenant_id"]; ok {
		var got string
		if json.Unmarshal(t, &got) != nil || got != tenantID {
			return nil, fmt.Errorf("data.tenant_id %s is not the event's tenant", t)
		}
		return raw, nil
	}
	// Splice tenant_id in front rather than re-marshal the map, so the caller's field order is kept.
	id, _ := json.Marshal(tenantID)
	rest := bytes.TrimSpace(raw)[1:] // after '{'
	out := make([]byte, 0, len(raw)+len(id)+16)
	out = append(out, `{"tenant_id":`...)
	out = append(out, id...)
	if len(bytes.TrimSpace(rest)) > 1 { // more than the closing brace
		out = append(out, ',')
	}
	return append(out, rest...), nil
}

// TestEvent is the webhook.test event sent by the test route to one endpoint.
func TestEvent(ep *Endpoint, at time.Time) (Event, error) {
	return NewEvent(EventWebhookTest, ep.TenantID, map[string]string{
		"endpoint_id": ep.ID,
		"message":     "This is a test event from Helix.",
	}, at)
}

// Deliveries fans ev out: one pending delivery per endpoint of ev's tenant that is enabled and wants ev's type,
// due at the event's time. The ledger writes them with the event, in the transaction of the operation that
// caused it, then announces them to the Dispatcher with Notify once committed.
func Deliveries(ev Event, endpoints []Endpoint) []Delivery {
	var out []Delivery
	for i := range endpoints {
		ep := &endpoints[i]
		if ep.Disabled || ep.TenantID != ev.TenantID || !ep.Wants(ev.Type) {
			continue
		}
		out = append(out, Delivery{
			ID:            NewID("dlv_"),
			EventID:       ev.ID,
			EndpointID:    ep.ID,
			TenantID:      ev.TenantID,
			EventType:     ev.Type,
			Status:        StatusPending,
			NextAttemptAt: ev.Timestamp,
			CreatedAt:     ev.Timestamp,
		})
	}
	return out
}

// NewEndpoint makes a subscription for tenantID with a fresh secret. eventTypes must be known types (empty means
// all); duplicates are dropped. The URL is taken as is: check it with a Guard's ValidateURL first.
func NewEndpoint(tenantID, url string, eventTypes []string, now time.Time) (Endpoint, error) {
	if tenantID == "" {
		return Endpoint{}, errors.New("endpoint needs a tenant")
	}
	if url == "" {
		return Endpoint{}, errors.New("url: required")
	}
	types := make([]string, 0, len(eventTypes))
	for _, t := range eventTypes {
		if !KnownEventType(t) {
			return Endpoint{}, fmt.Errorf("event_types: unknown event type %q", t)
		}
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	now = now.UTC()
	return Endpoint{
		ID:         NewID("ep_"),
		TenantID:   tenantID,
		URL:        url,
		EventTypes: types,
		Secrets:    []Secret{{Value: NewSecret(), CreatedAt: now}},
		CreatedAt:  now,
	}, nil
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewID returns prefix, the current Unix millisecond as 8 base62 digits, and 14 random base62 characters, the
// same shape as the ledger's ids: ids sort by creation time, which makes them good cursors and index keys.
func NewID(prefix string) string {
	b := make([]byte, 0, len(prefix)+22)
	b = append(b, prefix...)
	ms := uint64(time.Now().UnixMilli())
	var digits [8]byte
	for i := len(digits) - 1; i >= 0; i-- {
		digits[i] = base62[ms%62]
		ms /= 62
	}
	b = append(b, digits[:]...)
	var r [24]byte
	for n := 0; n < 14; {
		rand.Read(r[:]) // never fails (Go 1.24+)
		for _, c := range r {
			if c >= 248 { // 4*62: keep every character equally likely
				continue
			}
			b = append(b, base62[c%62])
			if n++; n == 14 {
				break
			}
		}
	}
	return string(b)
}
