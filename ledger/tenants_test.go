package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func TestCreateTenant(t *testing.T) {
	tests := []struct {
		name       string
		in         Tenant
		wantStatus string
	}{
		{"status defaults to active", Tenant{ID: "acme", Name: "Acme Inc.", Plan: "pro"}, StatusActive},
		{"explicit status kept", Tenant{ID: "globex", Plan: "free", Status: StatusSuspended}, StatusSuspended},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestStore(t)
			clk := newStepClock(testEpoch, time.Second)
			s.now = clk.now
			ctx := context.Background()

			in := tt.in
			if err := s.CreateTenant(ctx, &in); err != nil {
				t.Fatal(err)
			}
			if !in.CreatedAt.Equal(testEpoch) || !in.UpdatedAt.Equal(testEpoch) {
				t.Errorf("timestamps = %v / %v, want both %v", in.CreatedAt, in.UpdatedAt, testEpoch)
			}
			if in.Status != tt.wantStatus {
				t.Errorf("returned status = %q, want %q", in.Status, tt.wantStatus)
			}
			got, err := s.Tenant(ctx, in.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := Tenant{ID: tt.in.ID, Name: tt.in.Name, Plan: tt.in.Plan, Status: tt.wantStatus, CreatedAt: testEpoch, UpdatedAt: testEpoch}
			if !tenantsEqual(got, want) {
				t.Errorf("stored tenant = %+v, want %+v", got, want)
			}
		})
	}
}

func TestCreateTenantErrors(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	if err := s.CreateTenant(ctx, &Tenant{ID: "acme", Plan: "pro"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		tenant Tenant
		want   error // nil: some error that is not ErrExists
	}{
		{"duplicate id", Tenant{ID: "acme", Plan: "free"}, ErrExists},
		{"invalid status", Tenant{ID: "other", Plan: "free", Status: "deleted"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CreateTenant(ctx, &tt.tenant)
			switch {
			case err == nil:
				t.Fatal("CreateTenant succeeded")
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("err = %v, want %v", err, tt.want)
			case tt.want == nil && errors.Is(err, ErrExists):
				t.Errorf("err = %v, must not be ErrExists", err)
			}
		})
	}
	if got, _ := s.Tenant(ctx, "acme"); got.Plan != "pro" {
		t.Errorf("duplicate create changed the tenant: plan = %q", got.Plan)
	}
}

func TestTenantUnknown(t *testing.T) {
	s := openTestStore(t)
	if _, err := s.Tenant(context.Background(), "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
}

func TestTenantsPagination(t *testing.T) {
	const n = 7
	tests := []struct {
		name  string
		step  time.Duration // 0: every tenant created in the same nanosecond, order falls to the id
		limit int
	}{
		{"one per page", time.Second, 1},
		{"pages of two", time.Second, 2},
		{"pages of three", time.Second, 3},
		{"exactly one full page", time.Second, n},
		{"limit above count", time.Second, n + 5},
		{"same created_at, pages of two", 0, 2},
		{"same created_at, pages of three", 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestStore(t)
			s.now = newStepClock(testEpoch, tt.step).now
			ctx := context.Background()
			// Ids not in creation order, so that ordering by id alone would be visibly wrong; with the cursor's
			// separator in them, so that a cursor is not cut at the wrong place.
			ids := []string{"t.3", "t.6", "t.1", "t.5", "t.0", "t.4", "t.2"}
			for _, id := range ids {
				if err := s.CreateTenant(ctx, &Tenant{ID: id, Plan: "free"}); err != nil {
					t.Fatal(err)
				}
			}
			want := slices.Clone(ids)
			if tt.step == 0 {
				slices.Sort(want) // ties broken by id, descending
			}
			slices.Reverse(want)

			var got []string
			cursor, pages := "", 0
			for {
				list, next, err := s.Tenants(ctx, tt.limit, cursor)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(list) > tt.limit {
					t.Fatalf("page %d has %d tenants, limit %d", pages, len(list), tt.limit)
				}
				for _, tn := range list {
					got = append(got, tn.ID)
				}
				if next == "" {
					break
				}
				if pages > n+1 {
					t.Fatal("pagination does not end")
				}
				cursor = next
			}
			if !slices.Equal(got, want) {
				t.Errorf("tenants across pages = %v, want newest first %v", got, want)
			}
			if wantPages := (n + tt.limit - 1) / tt.limit; pages != wantPages {
				t.Errorf("pages = %d, want %d (no empty trailing page)", pages, wantPages)
			}
		})
	}
}

func TestTenantsCursor(t *testing.T) {
	s := openTestStore(t)
	s.now = newStepClock(testEpoch, time.Second).now
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		if err := s.CreateTenant(ctx, &Tenant{ID: id, Plan: "free"}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("the tenant at the cursor is deleted between pages", func(t *testing.T) {
		first, next, err := s.Tenants(ctx, 2, "")
		if err != nil || len(first) != 2 || first[1].ID != "d" || next == "" {
			t.Fatalf("first page = %v, %q, %v; want e, d and a cursor", first, next, err)
		}
		if _, err := s.DeleteTenant(ctx, "d"); err != nil {
			t.Fatal(err)
		}
		rest, next, err := s.Tenants(ctx, 10, next)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, tn := range rest {
			ids = append(ids, tn.ID)
		}
		if !slices.Equal(ids, []string{"c", "b", "a"}) || next != "" {
			t.Errorf("after deleting the cursor's tenant the listing continued with %v, next %q; want c, b, a", ids, next)
		}
	})
	for _, bad := range []string{"not base64!", "YWJj" /* abc */, "MTIzLg" /* 123. */, "eC5hY21l" /* x.acme */} {
		t.Run("bad cursor "+bad, func(t *testing.T) {
			if _, _, err := s.Tenants(ctx, 2, bad); !errors.Is(err, ErrBadCursor) {
				t.Errorf("err = %v, want ErrBadCursor", err)
			}
		})
	}
}

func TestTenantsEmpty(t *testing.T) {
	s := openTestStore(t)
	list, next, err := s.Tenants(context.Background(), 10, "")
	if err != nil || len(list) != 0 || next != "" {
		t.Errorf("Tenants on an empty ledger = %v, %q, %v", list, next, err)
	}
}

func TestUpdateTenant(t *testing.T) {
	tests := []struct {
		name   string
		change TenantChange
		want   Tenant // ID, timestamps filled below
	}{
		{"nothing", TenantChange{}, Tenant{Name: "Acme", Plan: "free", Status: StatusActive}},
		{"name only", TenantChange{Name: ptr("Acme Corp")}, Tenant{Name: "Acme Corp", Plan: "free", Status: StatusActive}},
		{"plan only", TenantChange{Plan: ptr("pro")}, Tenant{Name: "Acme", Plan: "pro", Status: StatusActive}},
		{"status only", TenantChange{Status: ptr(StatusSuspended)}, Tenant{Name: "Acme", Plan: "free", Status: StatusSuspended}},
		{"name to empty", TenantChange{Name: ptr("")}, Tenant{Name: "", Plan: "free", Status: StatusActive}},
		{"everything", TenantChange{Name: ptr("A"), Plan: ptr("enterprise"), Status: ptr(StatusSuspended)},
			Tenant{Name: "A", Plan: "enterprise", Status: StatusSuspended}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestStore(t)
			clk := newStepClock(testEpoch, time.Minute)
			s.now = clk.now
			ctx := context.Background()
			if err := s.CreateTenant(ctx, &Tenant{ID: "acme", Name: "Acme", Plan: "free"}); err != nil {
				t.Fatal(err)
			}
			hashes := [][]byte{[]byte("hash-a"), []byte("hash-b")}
			for i, h := range hashes {
				if err := s.CreateKey(ctx, &Key{ID: fmt.Sprint("key", i), TenantID: "acme", Prefix: "hx_"}, h); err != nil {
					t.Fatal(err)
				}
			}
			updatedAt := clk.peek()

			got, gotHashes, err := s.UpdateTenant(ctx, "acme", tt.change)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.ID, want.CreatedAt, want.UpdatedAt = "acme", testEpoch, updatedAt
			if !tenantsEqual(got, want) {
				t.Errorf("returned %+v, want %+v", got, want)
			}
			if stored, _ := s.Tenant(ctx, "acme"); !tenantsEqual(stored, want) {
				t.Errorf("stored %+v, want %+v", stored, want)
			}
			if !sameHashes(gotHashes, hashes) {
				t.Errorf("hashes = %q, want the tenant's key hashes %q", gotHashes, hashes)
			}
		})
	}
}

func TestUpdateTenantErrors(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	if err := s.CreateTenant(ctx, &Tenant{ID: "acme", Plan: "free"}); err != nil {
		t.Fatal(err)
	}
	t.Run("unknown tenant", func(t *testing.T) {
		if _, _, err := s.UpdateTenant(ctx, "nobody", TenantChange{Plan: ptr("pro")}); !errors.Is(err, ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("invalid status leaves the tenant unchanged", func(t *testing.T) {
		if _, _, err := s.UpdateTenant(ctx, "acme", TenantChange{Plan: ptr("pro"), Status: ptr("gone")}); err == nil {
			t.Fatal("UpdateTenant accepted status gone")
		}
		if got, _ := s.Tenant(ctx, "acme"); got.Plan != "free" || got.Status != StatusActive {
			t.Errorf("tenant after refused update = %+v", got)
		}
	})
}

func TestDeleteTenant(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	for _, id := range []string{"acme", "globex"} {
		if err := s.CreateTenant(ctx, &Tenant{ID: id, Plan: "free"}); err != nil {
			t.Fatal(err)
		}
	}
	hashes := [][]byte{[]byte("acme-1"), []byte("acme-2")}
	for i, h := range hashes {
		if err := s.CreateKey(ctx, &Key{ID: fmt.Sprint("acme-key", i), TenantID: "acme"}, h); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateKey(ctx, &Key{ID: "globex-key", TenantID: "globex"}, []byte("globex-1")); err != nil {
		t.Fatal(err)
	}
	w := newTestWriter(t, s, WriterOptions{})
	day := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := range 3 {
		if err := w.Record(ctx, testOp(fmt.Sprint("op", i), "acme", day)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Record(ctx, testOp("op-globex", "globex", day)); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	got, err := s.DeleteTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if !sameHashes(got, hashes) {
		t.Errorf("DeleteTenant hashes = %q, want %q", got, hashes)
	}
	if _, err := s.Tenant(ctx, "acme"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Tenant after delete: %v, want ErrNotFound", err)
	}
	var keys int
	if err := s.r.QueryRow(`SELECT count(*) FROM api_keys WHERE tenant_id = 'acme'`).Scan(&keys); err != nil {
		t.Fatal(err)
	}
	if keys != 0 {
		t.Errorf("%d keys left after deleting their tenant: ON DELETE CASCADE not in effect (foreign_keys off?)", keys)
	}
	for _, h := range hashes {
		if _, err := s.LookupKey(ctx, h); !errors.Is(err, ErrNotFound) {
			t.Errorf("LookupKey(%s) after delete: %v, want ErrNotFound", h, err)
		}
	}
	if n, err := s.OperationCount(ctx, "acme", ""); err != nil || n != 3 {
		t.Errorf("operation records after delete = %d, %v; want 3 kept", n, err)
	}
	// The quota counter goes with the tenant: a new tenant of the same id starts afresh, even after a restart.
	if u := usageOn(t, s, day); !maps.Equal(u, map[string]int64{"globex": 1}) {
		t.Errorf("daily usage after delete = %v, want only globex's", u)
	}
	if _, err := s.LookupKey(ctx, []byte("globex-1")); err != nil {
		t.Errorf("another tenant's key affected: %v", err)
	}
	if _, err := s.DeleteTenant(ctx, "acme"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
}

func tenantsEqual(a, b Tenant) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Plan == b.Plan && a.Status == b.Status &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

// sameHashes compares as sets: the order of returned hashes is not part of the contract.
func sameHashes(got, want [][]byte) bool {
	if len(got) != len(want) {
		return false
	}
	g, w := slices.Clone(got), slices.Clone(want)
	slices.SortFunc(g, bytes.Compare)
	slices.SortFunc(w, bytes.Compare)
	return slices.EqualFunc(g, w, bytes.Equal)
}
