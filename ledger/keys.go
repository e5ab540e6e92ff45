package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Key is an API key's public record. Only the SHA-256 of the secret is stored.
type Key struct {
	ID        string
	TenantID  string
	Name      string
	Prefix    string // the first characters of the secret, so a person can tell keys apart
	Static    bool   // declared in the Caddyfile rather than created through the API
	CreatedAt time.Time
	RevokedAt time.Time // zero while the key is valid
}

// KeyOwner is what authenticating a key needs to know.
type KeyOwner struct {
	KeyID    string
	TenantID string
	Plan     string
	Status   string
}

// CreateKey stores a key for an existing tenant; ErrNotFound if the tenant does not exist, ErrExists if the
// hash or id is taken.
func (s *Store) CreateKey(ctx context.Context, k *Key, hash []byte) error {
	k.CreatedAt = s.now().UTC()
	res, err := s.w.ExecContext(ctx, `INSERT INTO api_keys (id, tenant_id, name, prefix, hash, static, created_at)
		SELECT ?, id, ?, ?, ?, ?, ? FROM tenants WHERE id = ?`,
		k.ID, k.Name, k.Prefix, hash, k.Static, k.CreatedAt.UnixNano(), k.TenantID)
	if isUniqueViolation(err) {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("creating key for tenant %s: %w", k.TenantID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound // the INSERT ... SELECT found no tenant
	}
	return nil
}

const keyColumns = `id, tenant_id, name, prefix, static, created_at, revoked_at`

func scanKey(row interface{ Scan(...any) error }) (Key, error) {
	var k Key
	var created int64
	var revoked sql.NullInt64
	err := row.Scan(&k.ID, &k.TenantID, &k.Name, &k.Prefix, &k.Static, &created, &revoked)
	k.CreatedAt = time.Unix(0, created).UTC()
	if revoked.Valid {
		k.RevokedAt = time.Unix(0, revoked.Int64).UTC()
	}
	return k, err
}

// Keys lists a tenant's keys, newest first, revoked ones included.
func (s *Store) Keys(ctx context.Context, tenantID string) ([]Key, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE tenant_id = ?
		ORDER BY created_at DESC, id DESC`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	list := []Key{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, k)
	}
	return list, rows.Err()
}

// RevokeKey marks a key revoked and returns it with its hash. Revoking twice keeps the first time.
func (s *Store) RevokeKey(ctx context.Context, id string) (Key, []byte, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return Key{}, nil, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`,
		s.now().UTC().UnixNano(), id); err != nil {
		return Key{}, nil, fmt.Errorf("revoking key %s: %w", id, err)
	}
	var hash []byte
	row := tx.QueryRowContext(ctx, `SELECT `+keyColumns+`, hash FROM api_keys WHERE id = ?`, id)
	var k Key
	var created int64
	var revoked sql.NullInt64
	err = row.Scan(&k.ID, &k.TenantID, &k.Name, &k.Prefix, &k.Static, &created, &revoked, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, nil, ErrNotFound
	}
	if err != nil {
		return Key{}, nil, err
	}
	k.CreatedAt, k.RevokedAt = time.Unix(0, created).UTC(), time.Unix(0, revoked.Int64).UTC()
	return k, hash, tx.Commit()
}

// LookupKey finds the owner of a key by its hash. A revoked or unknown key is ErrNotFound: to a caller they are
// the same thing.
func (s *Store) LookupKey(ctx context.Context, hash []byte) (KeyOwner, error) {
	var o KeyOwner
	err := s.r.QueryRowContext(ctx, `SELECT k.id, t.id, t.plan, t.status FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
		WHERE k.hash = ? AND k.revoked_at IS NULL`, hash).Scan(&o.KeyID, &o.TenantID, &o.Plan, &o.Status)
	if errors.Is(err, sql.ErrNoRows) {
		return o, ErrNotFound
	}
	return o, err
}

// StaticKeys returns the hashes of a tenant's valid Caddyfile-declared keys, by key id.
func (s *Store) StaticKeys(ctx context.Context, tenantID string) (map[string][]byte, error) {
	rows, err := s.w.QueryContext(ctx, `SELECT id, hash FROM api_keys WHERE tenant_id = ? AND static AND revoked_at IS NULL`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	keys := map[string][]byte{}
	for rows.Next() {
		var id string
		var h []byte
		if err := rows.Scan(&id, &h); err != nil {
			return nil, err
		}
		keys[id] = h
	}
	return keys, rows.Err()
}

// ReinstateStaticKey makes a revoked Caddyfile-declared key of this tenant valid again; ErrExists if the id
// belongs to another tenant or to a key created through the API.
func (s *Store) ReinstateStaticKey(ctx context.Context, id, tenantID string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE api_keys SET revoked_at = NULL WHERE id = ? AND tenant_id = ? AND static`, id, tenantID)
	if err != nil {
		return fmt.Errorf("reinstating key %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrExists
	}
	return nil
}
