package ledger

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/helixgateway/caddy-ai-gateway/webhooks"
)

// TestFiredNotices: the quota and budget events stored since a time come back with their tenant, type and period
// end; operation events, older events and events without a resets_at do not.
func TestFiredNotices(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	w := s.Webhooks()
	ep := webhooks.Endpoint{ID: "ep_1", TenantID: "acme", URL: "https://a.example/h"}
	if err := w.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	monthStart := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	dayEnd := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	monthEnd := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	add := func(typ, tenant string, at time.Time, data map[string]any) {
		t.Helper()
		ev, err := webhooks.NewEvent(typ, tenant, data, at)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddEvent(ctx, ev, webhooks.Deliveries(ev, []webhooks.Endpoint{ep})); err != nil {
			t.Fatal(err)
		}
	}
	at := dayEnd.Add(-time.Hour)
	add(webhooks.EventQuotaWarning, "acme", at, map[string]any{"resets_at": dayEnd})
	add(webhooks.EventQuotaWarning, "acme", at.Add(time.Minute), map[string]any{"resets_at": dayEnd}) // the same, twice
	add(webhooks.EventQuotaExceeded, "beta", at, map[string]any{"resets_at": dayEnd})
	add(webhooks.EventBudgetWarning, "acme", monthStart.Add(time.Hour), map[string]any{"resets_at": monthEnd})
	add(webhooks.EventBudgetExceeded, "acme", at, map[string]any{"resets_at": monthEnd})
	add(webhooks.EventOperationCompleted, "acme", at, map[string]any{"resets_at": dayEnd})                        // not once a period
	add(webhooks.EventQuotaExceeded, "acme", monthStart.Add(-time.Hour), map[string]any{"resets_at": monthStart}) // last month
	add(webhooks.EventQuotaExceeded, "gamma", at, map[string]any{"n": 1})                                         // no resets_at

	fired, err := s.FiredNotices(ctx, monthStart)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Time{}
	for _, f := range fired {
		got[f.TenantID+" "+f.Type] = f.ResetsAt
	}
	want := map[string]time.Time{
		"acme quota.warning":   dayEnd,
		"beta quota.exceeded":  dayEnd,
		"acme budget.warning":  monthEnd,
		"acme budget.exceeded": monthEnd,
	}
	if len(fired) != len(want) {
		t.Errorf("%d notices, want %d: %+v", len(fired), len(want), fired)
	}
	for k, end := range want {
		if !got[k].Equal(end) || got[k].Location() != time.UTC {
			t.Errorf("%s: resets at %v, want %v", k, got[k], end)
		}
	}
	// The partial index keeps the month's operation events out of the read.
	assertNoTableScan(t, s, strings.Replace(firedNoticesQuery, "?", "5", 1))
}
