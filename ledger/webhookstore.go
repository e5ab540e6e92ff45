package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/helixgateway/caddy-ai-gateway/webhooks"
)

// webhookSchema is the outbox: endpoints, events (the body delivered, frozen), deliveries and their attempts.
// Signing needs each endpoint's secret itself, so secrets cannot be hashed: they are encrypted (secrets.go), and
// leave the database only in signatures and in the one answer that creates or rotates them.
const webhookSchema = `CREATE TABLE webhook_endpoints (
		id              TEXT PRIMARY KEY,
		tenant_id       TEXT NOT NULL,
		url             TEXT NOT NULL,
		event_types     TEXT NOT NULL, -- JSON array; [] for every type
		secrets         TEXT NOT NULL, -- JSON array of {value, created_at, expires_at}, encrypted (secrets.go)
		disabled        INTEGER NOT NULL DEFAULT 0,
		disabled_reason TEXT NOT NULL DEFAULT '',
		disabled_at     INTEGER NOT NULL DEFAULT 0,
		failing_since   INTEGER NOT NULL DEFAULT 0,
		created_at      INTEGER NOT NULL
	) STRICT;
	CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints(tenant_id, created_at);
	CREATE TABLE webhook_events (
		id        TEXT PRIMARY KEY,
		type      TEXT NOT NULL,
		tenant_id TEXT NOT NULL,
		at        INTEGER NOT NULL,
		payload   BLOB NOT NULL
	) STRICT;
	CREATE TABLE webhook_deliveries (
		id              TEXT PRIMARY KEY,
		event_id        TEXT NOT NULL,
		endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
		tenant_id       TEXT NOT NULL,
		event_type      TEXT NOT NULL,
		status          TEXT NOT NULL,
		reason          TEXT NOT NULL DEFAULT '',
		attempts        INTEGER NOT NULL DEFAULT 0,
		next_attempt_at INTEGER NOT NULL DEFAULT 0,
		last_attempt_at INTEGER NOT NULL DEFAULT 0,
		last_status     INTEGER NOT NULL DEFAULT 0,
		last_error      TEXT NOT NULL DEFAULT '',
		created_at      INTEGER NOT NULL
	) STRICT;
	CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, id);
	CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries(tenant_id, id);
	CREATE INDEX webhook_deliveries_pending ON webhook_deliveries(status) WHERE status = 'pending';
	CREATE TABLE webhook_attempts (
		delivery_id   TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
		number        INTEGER NOT NULL,
		at            INTEGER NOT NULL,
		status_code   INTEGER NOT NULL,
		error         TEXT NOT NULL,
		duration_ns   INTEGER NOT NULL,
		response_body TEXT NOT NULL,
		PRIMARY KEY (delivery_id, number)
	) STRICT, WITHOUT ROWID;`

// WebhookStore is the SQLite webhooks.Store. It also keeps every tenant's enabled endpoints in memory, as much of
// them as routing needs, so the writer can fan an operation's events out to them inside the operation's
// transaction without a query.
type WebhookStore struct {
	s         *Store
	refreshMu sync.Mutex   // serializes refreshes: each reads a tenant's endpoints and installs them
	mu        sync.RWMutex // guards subs
	subs      map[string]Subscriptions
}

// Subscriptions are a tenant's enabled endpoints as event routing needs them: with an endpoint per tenant and
// 10,000 tenants, whole endpoints (URLs, secrets, times) would hold about 4 MB more for nothing. The first is
// held in the map's slot, and its id shares one string with the tenant's id, the map's key: a tenant with one
// endpoint (most) is one object, not three (the index's were a third of a loaded gateway's objects, and the
// collector's work grows with them).
type Subscriptions struct {
	first subscription   // id "" when there is none
	rest  []subscription // replaced, never changed in place
}

type subscription struct {
	id    string
	types uint16 // bit i set: the endpoint takes webhooks.EventTypes[i]; allTypes: every type
}

const allTypes = math.MaxUint16

// typeBit is typ's bit in a subscription's mask; 0 for a type not in webhooks.EventTypes.
func typeBit(typ string) uint16 {
	if i := slices.Index(webhooks.EventTypes, typ); i >= 0 {
		return 1 << i
	}
	return 0
}

// typeMask is the mask of an endpoint's event types; an empty list means every type.
func typeMask(types []string) uint16 {
	if len(types) == 0 {
		return allTypes
	}
	var m uint16
	for _, t := range types {
		m |= typeBit(t)
	}
	return m
}

// takes reports whether the endpoint takes events of type typ, as webhooks.Endpoint.Wants does: webhook.test
// reaches every endpoint.
func (s subscription) takes(typ string) bool {
	return s.types == allTypes || typ == webhooks.EventWebhookTest || s.types&typeBit(typ) != 0
}

// indexed is the tenant's entry in the index: its endpoints, the first sharing a string with the tenant's id,
// which the returned key holds.
func indexed(tenantID string, subs []subscription) (key string, ss Subscriptions) {
	ids := tenantID + subs[0].id
	ss.first = subscription{ids[len(tenantID):], subs[0].types}
	if len(subs) > 1 {
		ss.rest = slices.Clone(subs[1:])
	}
	return ids[:len(tenantID)], ss
}

// Len is the number of endpoints.
func (ss Subscriptions) Len() int {
	if ss.first.id == "" {
		return 0
	}
	return 1 + len(ss.rest)
}

// all yields the endpoints.
func (ss Subscriptions) all(yield func(subscription) bool) {
	if ss.first.id == "" || !yield(ss.first) {
		return
	}
	for _, s := range ss.rest {
		if !yield(s) {
			return
		}
	}
}

// Wants reports whether any of the endpoints takes events of type typ.
func (ss Subscriptions) Wants(typ string) bool {
	for s := range ss.all {
		if s.takes(typ) {
			return true
		}
	}
	return false
}

// deliveries are ev's deliveries, one to each endpoint that takes its type.
func (ss Subscriptions) deliveries(ev webhooks.Event) []webhooks.Delivery {
	var eps []webhooks.Endpoint
	for s := range ss.all {
		if s.takes(ev.Type) {
			eps = append(eps, webhooks.Endpoint{ID: s.id, TenantID: ev.TenantID})
		}
	}
	return webhooks.Deliveries(ev, eps)
}

// Webhooks returns the store's webhook side, loading the subscriptions on first use.
func (s *Store) Webhooks() *WebhookStore {
	s.hooksOnce.Do(func() {
		s.hooks = &WebhookStore{s: s, subs: map[string]Subscriptions{}}
		if eps, err := s.hooks.ListEndpoints(context.Background(), ""); err == nil {
			byTenant := map[string][]subscription{}
			for _, ep := range eps {
				if !ep.Disabled {
					byTenant[ep.TenantID] = append(byTenant[ep.TenantID], subscription{ep.ID, typeMask(ep.EventTypes)})
				}
			}
			for tenant, subs := range byTenant {
				key, ss := indexed(tenant, subs)
				s.hooks.subs[key] = ss
			}
		}
	})
	return s.hooks
}

// Subscriptions returns a tenant's enabled endpoints.
func (w *WebhookStore) Subscriptions(tenantID string) Subscriptions {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.subs[tenantID]
}

// refresh reloads one tenant's subscriptions after a change to its endpoints. A tenant's list is replaced, never
// changed in place, so a list already handed out stays as it was.
func (w *WebhookStore) refresh(tenantID string) {
	w.refreshMu.Lock()
	defer w.refreshMu.Unlock()
	eps, err := w.listEndpoints(context.Background(), w.s.w, tenantID)
	if err != nil {
		return
	}
	var subs []subscription
	for _, ep := range eps {
		if !ep.Disabled {
			subs = append(subs, subscription{ep.ID, typeMask(ep.EventTypes)})
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(subs) == 0 {
		delete(w.subs, tenantID)
		return
	}
	key, ss := indexed(tenantID, subs)
	w.subs[key] = ss // the new key replaces the old one (Go updates string keys), whose string can go
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

type storedSecret struct {
	Value     string `json:"value"`
	CreatedAt int64  `json:"created_at"`
	ExpiresAt int64  `json:"expires_at"`
}

// encodeSecrets is the secrets column of endpoint id: its secrets as JSON, encrypted.
func (w *WebhookStore) encodeSecrets(id string, ss []webhooks.Secret) string {
	out := make([]storedSecret, len(ss))
	for i, s := range ss {
		out[i] = storedSecret{s.Value, nanos(s.CreatedAt), nanos(s.ExpiresAt)}
	}
	raw, _ := json.Marshal(out)
	return w.s.box.seal(raw, id)
}

func (w *WebhookStore) decodeSecrets(id, stored string) ([]webhooks.Secret, error) {
	raw, err := w.s.box.open(stored, id)
	if err != nil {
		return nil, err
	}
	var in []storedSecret
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("endpoint %s: secrets: %w", id, err)
	}
	out := make([]webhooks.Secret, len(in))
	for i, s := range in {
		out[i] = webhooks.Secret{Value: s.Value, CreatedAt: fromNanos(s.CreatedAt), ExpiresAt: fromNanos(s.ExpiresAt)}
	}
	return out, nil
}

const endpointColumns = `id, tenant_id, url, event_types, secrets, disabled, disabled_reason, disabled_at, failing_since, created_at`

func (w *WebhookStore) scanEndpoint(row interface{ Scan(...any) error }) (webhooks.Endpoint, error) {
	var ep webhooks.Endpoint
	var types, secrets string
	var disabledAt, failingSince, created int64
	if err := row.Scan(&ep.ID, &ep.TenantID, &ep.URL, &types, &secrets, &ep.Disabled, &ep.DisabledReason, &disabledAt,
		&failingSince, &created); err != nil {
		return ep, err
	}
	if err := json.Unmarshal([]byte(types), &ep.EventTypes); err != nil {
		return ep, err
	}
	var err error
	ep.Secrets, err = w.decodeSecrets(ep.ID, secrets)
	ep.DisabledAt, ep.FailingSince, ep.CreatedAt = fromNanos(disabledAt), fromNanos(failingSince), fromNanos(created)
	return ep, err
}

// CreateEndpoint implements webhooks.Store.
func (w *WebhookStore) CreateEndpoint(ctx context.Context, ep webhooks.Endpoint) error {
	types, _ := json.Marshal(nonNil(ep.EventTypes))
	_, err := w.s.w.ExecContext(ctx, `INSERT INTO webhook_endpoints (`+endpointColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ep.ID, ep.TenantID, ep.URL, string(types), w.encodeSecrets(ep.ID, ep.Secrets), ep.Disabled, ep.DisabledReason,
		nanos(ep.DisabledAt), nanos(ep.FailingSince), nanos(ep.CreatedAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("endpoint %s: %w", ep.ID, webhooks.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("creating endpoint %s: %w", ep.ID, err)
	}
	w.refresh(ep.TenantID)
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func endpointNotFound(id string) error {
	return fmt.Errorf("endpoint %s: %w", id, webhooks.ErrNotFound)
}

// Endpoint implements webhooks.Store.
func (w *WebhookStore) Endpoint(ctx context.Context, id string) (webhooks.Endpoint, error) {
	ep, err := w.scanEndpoint(w.s.r.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return ep, endpointNotFound(id)
	}
	return ep, err
}

// ListEndpoints implements webhooks.Store.
func (w *WebhookStore) ListEndpoints(ctx context.Context, tenantID string) ([]webhooks.Endpoint, error) {
	return w.listEndpoints(ctx, w.s.r, tenantID)
}

func (w *WebhookStore) listEndpoints(ctx context.Context, db *sql.DB, tenantID string) ([]webhooks.Endpoint, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE ? = '' OR tenant_id = ?
		ORDER BY created_at DESC, id DESC`, tenantID, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []webhooks.Endpoint
	for rows.Next() {
		ep, err := w.scanEndpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ep)
	}
	return out, rows.Err()
}

// endpointTenant reads the tenant of endpoint id in tx; ErrNotFound if there is no such endpoint.
func endpointTenant(ctx context.Context, tx *sql.Tx, id string, tenant *string) error {
	err := tx.QueryRowContext(ctx, `SELECT tenant_id FROM webhook_endpoints WHERE id = ?`, id).Scan(tenant)
	if errors.Is(err, sql.ErrNoRows) {
		return endpointNotFound(id)
	}
	return err
}

// tx runs fn in a transaction on the writer connection.
func (w *WebhookStore) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := w.s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// DeleteEndpoint implements webhooks.Store. Deliveries and attempts go with it (ON DELETE CASCADE).
func (w *WebhookStore) DeleteEndpoint(ctx context.Context, id string) error {
	var tenant string
	err := w.tx(ctx, func(tx *sql.Tx) error {
		if err := endpointTenant(ctx, tx, id, &tenant); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE id = ?`, id)
		return err
	})
	if err == nil {
		w.refresh(tenant)
	}
	return err
}

// RotateSecret implements webhooks.Store.
func (w *WebhookStore) RotateSecret(ctx context.Context, id string, next webhooks.Secret, previousUntil, now time.Time) (webhooks.Endpoint, error) {
	var ep webhooks.Endpoint
	err := w.tx(ctx, func(tx *sql.Tx) error {
		var err error
		ep, err = w.scanEndpoint(tx.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return endpointNotFound(id)
		}
		if err != nil {
			return err
		}
		ep.Secrets = webhooks.RotateSecrets(ep.Secrets, next, previousUntil, now)
		_, err = tx.ExecContext(ctx, `UPDATE webhook_endpoints SET secrets = ? WHERE id = ?`, w.encodeSecrets(id, ep.Secrets), id)
		return err
	})
	if err == nil {
		w.refresh(ep.TenantID)
	}
	return ep, err
}

// DisableEndpoint implements webhooks.Store.
func (w *WebhookStore) DisableEndpoint(ctx context.Context, id, reason string, at time.Time) (int, error) {
	var n int64
	var tenant string
	err := w.tx(ctx, func(tx *sql.Tx) error {
		if err := endpointTenant(ctx, tx, id, &tenant); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET disabled = 1, disabled_reason = ?, disabled_at = ?
			WHERE id = ? AND NOT disabled`, reason, nanos(at), id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = 0,
			reason = 'endpoint disabled: ' || (SELECT disabled_reason FROM webhook_endpoints WHERE id = ?)
			WHERE endpoint_id = ? AND status = 'pending'`, id, id)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err == nil {
		w.refresh(tenant)
	}
	return int(n), err
}

// EnableEndpoint implements webhooks.Store.
func (w *WebhookStore) EnableEndpoint(ctx context.Context, id string) error {
	var tenant string
	err := w.tx(ctx, func(tx *sql.Tx) error {
		if err := endpointTenant(ctx, tx, id, &tenant); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET disabled = 0, disabled_reason = '', disabled_at = 0,
			failing_since = 0 WHERE id = ?`, id)
		return err
	})
	if err == nil {
		w.refresh(tenant)
	}
	return err
}

// AddEvent implements webhooks.Store.
func (w *WebhookStore) AddEvent(ctx context.Context, ev webhooks.Event, ds []webhooks.Delivery) error {
	return w.tx(ctx, func(tx *sql.Tx) error {
		_, err := addEventTx(ctx, tx, ev, ds)
		return err
	})
}

// execer runs statements inside a transaction: a *sql.Tx, or the writer's driver connection (rawExec).
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// addEventTx writes an event and its pending deliveries in tx; an event already stored writes nothing (false).
func addEventTx(ctx context.Context, tx execer, ev webhooks.Event, ds []webhooks.Delivery) (bool, error) {
	for i := range ds {
		if ds[i].EventID != ev.ID {
			return false, fmt.Errorf("delivery %s is for event %s, not %s", ds[i].ID, ds[i].EventID, ev.ID)
		}
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO webhook_events (id, type, tenant_id, at, payload) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, ev.ID, ev.Type, ev.TenantID, nanos(ev.Timestamp), ev.Payload)
	if err != nil {
		return false, fmt.Errorf("storing event %s: %w", ev.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	for _, d := range ds {
		_, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (id, event_id, endpoint_id, tenant_id, event_type, status,
			next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`,
			d.ID, d.EventID, d.EndpointID, d.TenantID, d.EventType, nanos(d.NextAttemptAt), nanos(d.CreatedAt))
		if isUniqueViolation(err) {
			return false, fmt.Errorf("delivery %s: %w", d.ID, webhooks.ErrExists)
		}
		if err != nil {
			return false, fmt.Errorf("storing delivery %s: %w", d.ID, err)
		}
	}
	return true, nil
}

// Event implements webhooks.Store.
func (w *WebhookStore) Event(ctx context.Context, id string) (webhooks.Event, error) {
	var ev webhooks.Event
	var at int64
	err := w.s.r.QueryRowContext(ctx, `SELECT id, type, tenant_id, at, payload FROM webhook_events WHERE id = ?`, id).
		Scan(&ev.ID, &ev.Type, &ev.TenantID, &at, &ev.Payload)
	if errors.Is(err, sql.ErrNoRows) {
		return ev, fmt.Errorf("event %s: %w", id, webhooks.ErrNotFound)
	}
	ev.Timestamp = fromNanos(at)
	return ev, err
}

const deliveryColumns = `id, event_id, endpoint_id, tenant_id, event_type, status, reason, attempts, next_attempt_at,
	last_attempt_at, last_status, last_error, created_at`

func scanDelivery(row interface{ Scan(...any) error }) (webhooks.Delivery, error) {
	var d webhooks.Delivery
	var next, last, created int64
	err := row.Scan(&d.ID, &d.EventID, &d.EndpointID, &d.TenantID, &d.EventType, &d.Status, &d.Reason, &d.Attempts, &next,
		&last, &d.LastStatus, &d.LastError, &created)
	d.NextAttemptAt, d.LastAttemptAt, d.CreatedAt = fromNanos(next), fromNanos(last), fromNanos(created)
	return d, err
}

// Delivery implements webhooks.Store.
func (w *WebhookStore) Delivery(ctx context.Context, id string) (webhooks.Delivery, error) {
	return w.delivery(ctx, w.s.r, id)
}

func (w *WebhookStore) delivery(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id string) (webhooks.Delivery, error) {
	d, err := scanDelivery(q.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("delivery %s: %w", id, webhooks.ErrNotFound)
	}
	return d, err
}

// ListDeliveries implements webhooks.Store.
func (w *WebhookStore) ListDeliveries(ctx context.Context, q webhooks.DeliveryQuery) ([]webhooks.Delivery, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	var where []string
	var args []any
	for _, c := range []struct {
		col string
		val string
	}{{"endpoint_id = ?", q.EndpointID}, {"tenant_id = ?", q.TenantID}, {"status = ?", string(q.Status)}, {"id < ?", q.Before}} {
		if c.val != "" {
			where, args = append(where, c.col), append(args, c.val)
		}
	}
	query := `SELECT ` + deliveryColumns + ` FROM webhook_deliveries`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	rows, err := w.s.r.QueryContext(ctx, query+` ORDER BY id DESC LIMIT ?`, append(args, q.Limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []webhooks.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Attempts implements webhooks.Store.
func (w *WebhookStore) Attempts(ctx context.Context, deliveryID string) ([]webhooks.Attempt, error) {
	rows, err := w.s.r.QueryContext(ctx, `SELECT delivery_id, number, at, status_code, error, duration_ns, response_body
		FROM webhook_attempts WHERE delivery_id = ? ORDER BY number`, deliveryID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []webhooks.Attempt
	for rows.Next() {
		var a webhooks.Attempt
		var at, dur int64
		if err := rows.Scan(&a.DeliveryID, &a.Number, &at, &a.StatusCode, &a.Error, &dur, &a.ResponseBody); err != nil {
			return nil, err
		}
		a.At, a.Duration = fromNanos(at), time.Duration(dur)
		out = append(out, a)
	}
	return out, rows.Err()
}

// Pending implements webhooks.Store.
func (w *WebhookStore) Pending(ctx context.Context, fn func(webhooks.Due) error) error {
	rows, err := w.s.r.QueryContext(ctx, `SELECT id, endpoint_id, next_attempt_at, attempts, created_at FROM webhook_deliveries
		WHERE status = 'pending'`)
	if err != nil {
		return err
	}
	var due []webhooks.Due
	for rows.Next() {
		var d webhooks.Due
		var next, created int64
		if err := rows.Scan(&d.DeliveryID, &d.EndpointID, &next, &d.Attempts, &created); err != nil {
			rows.Close()
			return err
		}
		d.NextAttemptAt, d.CreatedAt = fromNanos(next), fromNanos(created)
		due = append(due, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
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

// RecordAttempt implements webhooks.Store.
func (w *WebhookStore) RecordAttempt(ctx context.Context, r webhooks.AttemptResult) error {
	a := r.Attempt
	return w.tx(ctx, func(tx *sql.Tx) error {
		d, err := w.delivery(ctx, tx, a.DeliveryID)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO webhook_attempts (delivery_id, number, at, status_code, error, duration_ns,
			response_body) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			a.DeliveryID, a.Number, nanos(a.At), a.StatusCode, a.Error, int64(a.Duration), a.ResponseBody)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // a retried write of the same attempt
		}
		status, next, reason := d.Status, d.NextAttemptAt, d.Reason
		switch {
		case d.Status == webhooks.StatusPending:
			status, next, reason = r.Status, r.NextAttemptAt, r.Reason
		case a.Succeeded():
			status, next, reason = webhooks.StatusSucceeded, time.Time{}, ""
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET attempts = ?, last_attempt_at = ?, last_status = ?,
			last_error = ?, status = ?, next_attempt_at = ?, reason = ? WHERE id = ?`,
			a.Number, nanos(a.At), a.StatusCode, a.Error, string(status), nanos(next), reason, d.ID); err != nil {
			return err
		}
		if a.Succeeded() {
			_, err = tx.ExecContext(ctx, `UPDATE webhook_endpoints SET failing_since = 0 WHERE id = ? AND failing_since != 0`, d.EndpointID)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE webhook_endpoints SET failing_since = ? WHERE id = ? AND failing_since = 0`,
				nanos(a.At), d.EndpointID)
		}
		return err
	})
}

// Requeue implements webhooks.Store.
func (w *WebhookStore) Requeue(ctx context.Context, deliveryID string, at time.Time) (webhooks.Delivery, error) {
	var d webhooks.Delivery
	err := w.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if d, err = w.delivery(ctx, tx, deliveryID); err != nil {
			return err
		}
		var disabled bool
		if err := tx.QueryRowContext(ctx, `SELECT disabled FROM webhook_endpoints WHERE id = ?`, d.EndpointID).Scan(&disabled); err == nil && disabled {
			return fmt.Errorf("endpoint %s: %w", d.EndpointID, webhooks.ErrEndpointDisabled)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, reason = ''
			WHERE id = ?`, nanos(at), deliveryID); err != nil {
			return err
		}
		d.Status, d.NextAttemptAt, d.Reason = webhooks.StatusPending, at, ""
		return nil
	})
	return d, err
}

// RequeueFailed implements webhooks.Store.
func (w *WebhookStore) RequeueFailed(ctx context.Context, endpointID string, since, at time.Time) ([]webhooks.Delivery, error) {
	var out []webhooks.Delivery
	err := w.tx(ctx, func(tx *sql.Tx) error {
		var disabled bool
		err := tx.QueryRowContext(ctx, `SELECT disabled FROM webhook_endpoints WHERE id = ?`, endpointID).Scan(&disabled)
		if errors.Is(err, sql.ErrNoRows) {
			return endpointNotFound(endpointID)
		}
		if err != nil {
			return err
		}
		if disabled {
			return fmt.Errorf("endpoint %s: %w", endpointID, webhooks.ErrEndpointDisabled)
		}
		rows, err := tx.QueryContext(ctx, `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, reason = ''
			WHERE endpoint_id = ? AND status = 'failed' AND created_at >= ? RETURNING `+deliveryColumns, nanos(at), endpointID, nanos(since))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return rows.Err()
	})
	slices.SortFunc(out, func(a, b webhooks.Delivery) int { return strings.Compare(a.ID, b.ID) })
	return out, err
}

var _ webhooks.Store = (*WebhookStore)(nil)
