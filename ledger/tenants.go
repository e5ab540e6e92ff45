package ledger

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Tenant statuses.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
)

// Tenant is a customer of the operator.
type Tenant struct {
	ID        string
	Name      string
	Plan      string
	Status    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// TenantChange is a partial update; nil fields stay as they are.
type TenantChange struct {
	Name   *string
	Plan   *string
	Status *string
}

// CreateTenant inserts t; ErrExists if its id is taken. CreatedAt and UpdatedAt are set here.
func (s *Store) CreateTenant(ctx context.Context, t *Tenant) error {
	now := s.now().UTC()
	if t.Status == "" {
		t.Status = StatusActive
	}
	_, err := s.w.ExecContext(ctx,
		`INSERT INTO tenants (id, name, plan, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		t.ID, t.Name, t.Plan, t.Status, now.UnixNano(), now.UnixNano())
	if isUniqueViolation(err) {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("creating tenant %s: %w", t.ID, err)
	}
	t.CreatedAt, t.UpdatedAt = now, now
	return nil
}

const tenantColumns = `id, name, plan, status, created_at, updated_at`

func scanTenant(row interface{ Scan(...any) error }) (Tenant, error) {
	var t Tenant
	var created, updated int64
	err := row.Scan(&t.ID, &t.Name, &t.Plan, &t.Status, &created, &updated)
	t.CreatedAt, t.UpdatedAt = time.Unix(0, created).UTC(), time.Unix(0, updated).UTC()
	return t, err
}

// Tenant reads one tenant.
func (s *Store) Tenant(ctx context.Context, id string) (Tenant, error) {
	t, err := scanTenant(s.r.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrNotFound
	}
	return t, err
}

// ErrBadCursor is a page cursor this package did not make.
var ErrBadCursor = errors.New("invalid cursor")

// Tenants lists tenants newest first, limit at a time, starting after cursor ("" for the first page). next is the
// cursor for the following page, "" at the end. A cursor holds the position itself (creation time and id), so a
// tenant deleted between two pages does not end the listing.
func (s *Store) Tenants(ctx context.Context, limit int, cursor string) (list []Tenant, next string, err error) {
	limit = max(limit, 1)
	q := `SELECT ` + tenantColumns + ` FROM tenants`
	args := []any{}
	if cursor != "" {
		at, id, ok := decodeCursor(cursor)
		if !ok {
			return nil, "", ErrBadCursor
		}
		q += ` WHERE (created_at, id) < (?, ?)`
		args = append(args, at, id)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, "", err
		}
		list = append(list, t)
	}
	if len(list) > limit {
		list = list[:limit]
		next = encodeCursor(list[limit-1].CreatedAt.UnixNano(), list[limit-1].ID)
	}
	return list, next, rows.Err()
}

// UpdateTenant applies c and returns the tenant as it now is, with the hashes of its keys so that
// cached authentications can be dropped.
func (s *Store) UpdateTenant(ctx context.Context, id string, c TenantChange) (Tenant, [][]byte, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return Tenant{}, nil, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE tenants SET name = coalesce(?, name), plan = coalesce(?, plan),
		status = coalesce(?, status), updated_at = ? WHERE id = ?`,
		nullable(c.Name), nullable(c.Plan), nullable(c.Status), s.now().UTC().UnixNano(), id)
	if err != nil {
		return Tenant{}, nil, fmt.Errorf("updating tenant %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Tenant{}, nil, ErrNotFound
	}
	t, err := scanTenant(tx.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = ?`, id))
	if err != nil {
		return Tenant{}, nil, err
	}
	hashes, err := keyHashes(ctx, tx, id)
	if err != nil {
		return Tenant{}, nil, err
	}
	return t, hashes, tx.Commit()
}

// DeleteTenant removes a tenant, its keys and its quota counters, returning the keys' hashes. Operation records
// stay: they are the history that invoices and analytics are built from.
func (s *Store) DeleteTenant(ctx context.Context, id string) ([][]byte, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	hashes, err := keyHashes(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM tenants WHERE id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("deleting tenant %s: %w", id, err)
	}
	// The quota counter goes with the tenant (the limiter forgets it too); a new tenant with the same id
	// starts afresh, before and after a restart alike.
	if _, err := tx.ExecContext(ctx, `DELETE FROM daily_usage WHERE tenant_id = ?`, id); err != nil {
		return nil, fmt.Errorf("deleting tenant %s: %w", id, err)
	}
	// Its webhook endpoints go too (their deliveries and attempts cascade); events stay, like the records.
	if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE tenant_id = ?`, id); err != nil {
		return nil, fmt.Errorf("deleting tenant %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, ErrNotFound
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	s.Webhooks().refresh(id)
	return hashes, nil
}

func keyHashes(ctx context.Context, tx *sql.Tx, tenantID string) ([][]byte, error) {
	rows, err := tx.QueryContext(ctx, `SELECT hash FROM api_keys WHERE tenant_id = ?`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var hashes [][]byte
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		hashes = append(hashes, h)
	}
	return hashes, rows.Err()
}

func nullable(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func encodeCursor(at int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at, 10) + "." + id))
}

func decodeCursor(c string) (at int64, id string, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", false
	}
	ns, id, found := strings.Cut(string(raw), ".")
	at, err = strconv.ParseInt(ns, 10, 64)
	return at, id, found && err == nil && id != ""
}
