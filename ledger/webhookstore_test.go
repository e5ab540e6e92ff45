package ledger

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/helixgateway/caddy-ai-gateway/webhooks"
	"github.com/helixgateway/caddy-ai-gateway/webhooks/storetest"
)

// TestWebhookStore runs the webhooks.Store contract suite against the SQLite store.
func TestWebhookStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) webhooks.Store {
		s, err := Open(filepath.Join(t.TempDir(), "helix.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s.Webhooks()
	})
}

// TestSubscriptionIndex: the in-memory index routes each event type to the endpoints that take it, follows
// creates, disables and deletes, and still fits every event type in its mask.
func TestSubscriptionIndex(t *testing.T) {
	if len(webhooks.EventTypes) > 16 {
		t.Fatalf("%d event types do not fit a uint16 mask", len(webhooks.EventTypes))
	}
	s := openTestStore(t)
	ctx := context.Background()
	w := s.Webhooks()
	all := webhooks.Endpoint{ID: "ep_all", TenantID: "acme", URL: "https://a.example/h"}
	quota := webhooks.Endpoint{ID: "ep_quota", TenantID: "acme", URL: "https://a.example/q",
		EventTypes: []string{webhooks.EventQuotaWarning, webhooks.EventQuotaExceeded}}
	other := webhooks.Endpoint{ID: "ep_other", TenantID: "other", URL: "https://o.example/h",
		EventTypes: []string{webhooks.EventInvoiceFinalized}}
	for _, ep := range []webhooks.Endpoint{all, quota, other} {
		if err := w.CreateEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
	}
	routed := func(tenant, typ string) []string {
		ev := webhooks.Event{ID: "msg_1", Type: typ, TenantID: tenant}
		var ids []string
		for _, d := range w.Subscriptions(tenant).deliveries(ev) {
			ids = append(ids, d.EndpointID)
		}
		slices.Sort(ids)
		return ids
	}
	for _, c := range []struct {
		tenant, typ string
		want        []string
	}{
		{"acme", webhooks.EventQuotaWarning, []string{"ep_all", "ep_quota"}},
		{"acme", webhooks.EventOperationCompleted, []string{"ep_all"}},
		{"acme", webhooks.EventWebhookTest, []string{"ep_all", "ep_quota"}},
		{"acme", "no.such.type", []string{"ep_all"}},
		{"other", webhooks.EventInvoiceFinalized, []string{"ep_other"}},
		{"other", webhooks.EventQuotaWarning, nil},
		{"nobody", webhooks.EventWebhookTest, nil},
	} {
		if got := routed(c.tenant, c.typ); !slices.Equal(got, c.want) {
			t.Errorf("%s %s: routed to %v, want %v", c.tenant, c.typ, got, c.want)
		}
		if got := w.Subscriptions(c.tenant).Wants(c.typ); got != (len(c.want) > 0) {
			t.Errorf("%s %s: Wants = %v", c.tenant, c.typ, got)
		}
	}
	held := w.Subscriptions("acme")
	if _, err := w.DisableEndpoint(ctx, "ep_all", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := routed("acme", webhooks.EventOperationCompleted); got != nil {
		t.Errorf("a disabled endpoint still routed: %v", got)
	}
	if held.Len() != 2 {
		t.Errorf("a list handed out changed: %v", held)
	}
	if err := w.DeleteEndpoint(ctx, "ep_other"); err != nil {
		t.Fatal(err)
	}
	if got := w.Subscriptions("other"); got.Len() != 0 {
		t.Errorf("a deleted endpoint is still indexed: %v", got)
	}
	// A store opened afresh loads the same index.
	s2, err := Open(s.path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := s2.Webhooks().Subscriptions("acme"); got.Len() != 1 || got.first.id != "ep_quota" || got.Wants(webhooks.EventOperationCompleted) {
		t.Errorf("reloaded index: %v", got)
	}
}

// A tenant with one endpoint is one object in the index: its id and the endpoint's share a string, the map's key
// holding the first part. That stays so after the tenant's entry is replaced.
func TestSubscriptionIndexOneStringATenant(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	w := s.Webhooks()
	shared := func(when string) {
		t.Helper()
		w.mu.RLock()
		defer w.mu.RUnlock()
		for key, ss := range w.subs {
			if key != "acme" {
				continue
			}
			if unsafe.StringData(ss.first.id) != (*byte)(unsafe.Add(unsafe.Pointer(unsafe.StringData(key)), len(key))) {
				t.Errorf("%s: the tenant's id and its endpoint's are two strings", when)
			}
			return
		}
		t.Fatalf("%s: acme not indexed", when)
	}
	for _, id := range []string{"ep_1", "ep_2"} {
		if err := w.CreateEndpoint(ctx, webhooks.Endpoint{ID: id, TenantID: "acme", URL: "https://a.example/h"}); err != nil {
			t.Fatal(err)
		}
		shared("after creating " + id)
	}
	if err := w.DeleteEndpoint(ctx, "ep_1"); err != nil {
		t.Fatal(err)
	}
	shared("after a delete")
	if got := w.Subscriptions("acme"); got.Len() != 1 || got.first.id != "ep_2" {
		t.Errorf("after a delete: %+v", got)
	}
}
