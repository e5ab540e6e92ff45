package ledger

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"
)

// keyFixture is a store with tenants acme (pro) and globex (free), each with one API key.
func keyFixture(t *testing.T) (*Store, *stepClock) {
	t.Helper()
	s := openTestStore(t)
	clk := newStepClock(testEpoch, time.Second)
	s.now = clk.now
	ctx := context.Background()
	for _, tn := range []Tenant{{ID: "acme", Plan: "pro"}, {ID: "globex", Plan: "free"}} {
		if err := s.CreateTenant(ctx, &tn); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []Key{{ID: "k-acme", TenantID: "acme", Name: "prod", Prefix: "hx_ab"}, {ID: "k-globex", TenantID: "globex"}} {
		if err := s.CreateKey(ctx, &k, []byte("hash-"+k.ID)); err != nil {
			t.Fatal(err)
		}
	}
	return s, clk
}

func TestCreateKey(t *testing.T) {
	s, clk := keyFixture(t)
	ctx := context.Background()
	at := clk.peek()
	k := Key{ID: "k2", TenantID: "acme", Name: "ci", Prefix: "hx_cd", Static: true}
	if err := s.CreateKey(ctx, &k, []byte("hash-k2")); err != nil {
		t.Fatal(err)
	}
	if !k.CreatedAt.Equal(at) {
		t.Errorf("CreatedAt = %v, want the clock's %v", k.CreatedAt, at)
	}
	keys, err := s.Keys(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	want := Key{ID: "k2", TenantID: "acme", Name: "ci", Prefix: "hx_cd", Static: true, CreatedAt: at}
	if len(keys) == 0 || !keysEqual(keys[0], want) {
		t.Errorf("Keys()[0] = %+v, want %+v", keys, want)
	}
}

func TestCreateKeyErrors(t *testing.T) {
	s, _ := keyFixture(t)
	ctx := context.Background()
	tests := []struct {
		name string
		key  Key
		hash string
		want error
	}{
		{"unknown tenant", Key{ID: "k9", TenantID: "nobody"}, "hash-new", ErrNotFound},
		{"duplicate hash", Key{ID: "k9", TenantID: "acme"}, "hash-k-globex", ErrExists},
		{"duplicate id", Key{ID: "k-acme", TenantID: "acme"}, "hash-new", ErrExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.CreateKey(ctx, &tt.key, []byte(tt.hash)); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// Nothing was stored by the refused creations.
	if o, err := s.LookupKey(ctx, []byte("hash-k-globex")); err != nil || o.TenantID != "globex" {
		t.Errorf("existing key changed: %+v, %v", o, err)
	}
	if _, err := s.LookupKey(ctx, []byte("hash-new")); !errors.Is(err, ErrNotFound) {
		t.Errorf("refused key stored: %v", err)
	}
}

func TestLookupKey(t *testing.T) {
	s, _ := keyFixture(t)
	ctx := context.Background()
	if _, _, err := s.UpdateTenant(ctx, "globex", TenantChange{Status: ptr(StatusSuspended)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RevokeKey(ctx, "k-acme"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateKey(ctx, &Key{ID: "k-acme-2", TenantID: "acme"}, []byte("hash-acme-2")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		hash    string
		want    KeyOwner
		wantErr error
	}{
		{"valid key", "hash-acme-2", KeyOwner{KeyID: "k-acme-2", TenantID: "acme", Plan: "pro", Status: StatusActive}, nil},
		{"suspended tenant still resolves, with its status", "hash-k-globex", KeyOwner{KeyID: "k-globex", TenantID: "globex", Plan: "free", Status: StatusSuspended}, nil},
		{"revoked key", "hash-k-acme", KeyOwner{}, ErrNotFound},
		{"unknown key", "hash-nothing", KeyOwner{}, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.LookupKey(ctx, []byte(tt.hash))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("owner = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRevokeKey(t *testing.T) {
	s, clk := keyFixture(t)
	ctx := context.Background()
	first := clk.peek()
	k, hash, err := s.RevokeKey(ctx, "k-acme")
	if err != nil {
		t.Fatal(err)
	}
	if !k.RevokedAt.Equal(first) {
		t.Errorf("RevokedAt = %v, want %v", k.RevokedAt, first)
	}
	if !bytes.Equal(hash, []byte("hash-k-acme")) {
		t.Errorf("hash = %q, want hash-k-acme", hash)
	}
	if k.ID != "k-acme" || k.TenantID != "acme" || k.Name != "prod" || k.Prefix != "hx_ab" {
		t.Errorf("revoked key = %+v", k)
	}

	again, _, err := s.RevokeKey(ctx, "k-acme")
	if err != nil {
		t.Fatal(err)
	}
	if !again.RevokedAt.Equal(first) {
		t.Errorf("second revoke moved RevokedAt to %v, want the first %v", again.RevokedAt, first)
	}
	keys, _ := s.Keys(ctx, "acme")
	if len(keys) != 1 || !keys[0].RevokedAt.Equal(first) {
		t.Errorf("stored RevokedAt = %+v, want %v", keys, first)
	}

	if _, _, err := s.RevokeKey(ctx, "nothing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking an unknown key: %v, want ErrNotFound", err)
	}
}

func TestKeysNewestFirstWithRevoked(t *testing.T) {
	s, clk := keyFixture(t)
	ctx := context.Background()
	created := map[string]time.Time{"k-acme": testEpoch.Add(2 * time.Second)} // third clock reading in keyFixture
	for _, id := range []string{"k-b", "k-c"} {
		created[id] = clk.peek()
		if err := s.CreateKey(ctx, &Key{ID: id, TenantID: "acme", Static: id == "k-c"}, []byte("hash-"+id)); err != nil {
			t.Fatal(err)
		}
	}
	revokedAt := clk.peek()
	if _, _, err := s.RevokeKey(ctx, "k-b"); err != nil {
		t.Fatal(err)
	}

	keys, err := s.Keys(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
		if !k.CreatedAt.Equal(created[k.ID]) {
			t.Errorf("%s CreatedAt = %v, want %v", k.ID, k.CreatedAt, created[k.ID])
		}
		wantRevoked := time.Time{}
		if k.ID == "k-b" {
			wantRevoked = revokedAt
		}
		if !k.RevokedAt.Equal(wantRevoked) {
			t.Errorf("%s RevokedAt = %v, want %v", k.ID, k.RevokedAt, wantRevoked)
		}
		if k.Static != (k.ID == "k-c") {
			t.Errorf("%s Static = %v", k.ID, k.Static)
		}
	}
	if want := []string{"k-c", "k-b", "k-acme"}; !slices.Equal(ids, want) {
		t.Errorf("Keys = %v, want newest first, revoked included, other tenants excluded: %v", ids, want)
	}

	none, err := s.Keys(ctx, "nobody")
	if err != nil || none == nil || len(none) != 0 {
		t.Errorf("Keys of an unknown tenant = %#v, %v; want an empty, non-nil list", none, err)
	}
}

func TestStaticKeysAndReinstate(t *testing.T) {
	s, _ := keyFixture(t) // k-acme is an API key
	ctx := context.Background()
	for _, k := range []Key{
		{ID: "s-acme-1", TenantID: "acme", Static: true},
		{ID: "s-acme-2", TenantID: "acme", Static: true},
		{ID: "s-globex", TenantID: "globex", Static: true},
	} {
		if err := s.CreateKey(ctx, &k, []byte("hash-"+k.ID)); err != nil {
			t.Fatal(err)
		}
	}
	staticKeys := func() map[string][]byte {
		t.Helper()
		m, err := s.StaticKeys(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	want := map[string][]byte{"s-acme-1": []byte("hash-s-acme-1"), "s-acme-2": []byte("hash-s-acme-2")}
	if got := staticKeys(); !maps.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("StaticKeys = %q, want %q (no API keys, no other tenant's)", got, want)
	}

	if _, _, err := s.RevokeKey(ctx, "s-acme-2"); err != nil {
		t.Fatal(err)
	}
	if got := staticKeys(); len(got) != 1 || got["s-acme-1"] == nil {
		t.Errorf("StaticKeys after revoking s-acme-2 = %q, want only s-acme-1", got)
	}

	tests := []struct {
		name, id, tenant string
		want             error
	}{
		{"revoked static key of this tenant", "s-acme-2", "acme", nil},
		{"valid static key of this tenant", "s-acme-1", "acme", nil},
		{"static key of another tenant", "s-globex", "acme", ErrExists},
		{"key created through the API", "k-acme", "acme", ErrExists},
	}
	if _, _, err := s.RevokeKey(ctx, "k-acme"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.ReinstateStaticKey(ctx, tt.id, tt.tenant); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if got := staticKeys(); !maps.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("StaticKeys after reinstating = %q, want %q", got, want)
	}
	if o, err := s.LookupKey(ctx, []byte("hash-s-acme-2")); err != nil || o.KeyID != "s-acme-2" {
		t.Errorf("reinstated key does not authenticate: %+v, %v", o, err)
	}
	if _, err := s.LookupKey(ctx, []byte("hash-k-acme")); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoked API key reinstated: %v", err)
	}
}

func keysEqual(a, b Key) bool {
	return a.ID == b.ID && a.TenantID == b.TenantID && a.Name == b.Name && a.Prefix == b.Prefix &&
		a.Static == b.Static && a.CreatedAt.Equal(b.CreatedAt) && a.RevokedAt.Equal(b.RevokedAt)
}
