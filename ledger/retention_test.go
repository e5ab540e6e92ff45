package ledger

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helixgateway/caddy-ai-gateway/webhooks"
)

var retentionNow = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

// writeAged records n calls per tenant at each age before retentionNow.
func writeAged(tb testing.TB, w *Writer, tenants []string, ages []time.Duration, n int) {
	tb.Helper()
	for _, age := range ages {
		for _, tenant := range tenants {
			for i := range n {
				op := testOp(NewID("op_"), tenant, retentionNow.Add(-age).Add(time.Duration(i)*time.Second))
				op.Model, op.Cost, op.Usage.InputTokens = "m", 1000, 10
				if tenant == "" {
					op.Outcome, op.Status, op.Counted = OutcomeUnauthorized, 401, false
				}
				if err := w.Record(context.Background(), op); err != nil {
					tb.Fatal(err)
				}
			}
		}
	}
	if err := w.Flush(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

func countWhere(tb testing.TB, s *Store, query string, args ...any) int64 {
	tb.Helper()
	var n int64
	if err := s.r.QueryRow(query, args...).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// snapshot is the data retention must never touch, as text.
func snapshot(tb testing.TB, s *Store, tables ...string) string {
	tb.Helper()
	var b strings.Builder
	for _, table := range tables {
		rows, err := s.r.Query(`SELECT * FROM ` + table + ` ORDER BY 1, 2, 3`)
		if err != nil {
			tb.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				tb.Fatal(err)
			}
			fmt.Fprintln(&b, table, vals)
		}
		rows.Close()
	}
	return b.String()
}

func TestPruneOperations(t *testing.T) {
	s := openTestStore(t)
	w := newTestWriter(t, s, WriterOptions{})
	tenants := []string{"", "acme", "beta", "gamma"}
	writeAged(t, w, tenants, []time.Duration{200 * 24 * time.Hour, 91 * 24 * time.Hour, 89 * 24 * time.Hour, time.Hour}, 23)
	ctx := testCtx(t)
	// A past month's invoice, issued before pruning.
	oldMonth := Month(retentionNow.Add(-91 * 24 * time.Hour))
	inv, _, err := s.FinalizeInvoice(ctx, "acme", oldMonth, "T", "USD", 100000)
	if err != nil || inv.SubtotalExact == 0 {
		t.Fatalf("invoice: %v %+v", err, inv)
	}
	kept := snapshot(t, s, "hourly_usage", "hourly_usage_all", "monthly_usage", "daily_usage", "invoices")

	deleted, err := s.PruneOperations(ctx, retentionNow.Add(-DefaultOperationRetention), 7)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(2 * len(tenants) * 23); deleted != want {
		t.Errorf("deleted %d, want %d (two old ages, four tenants, 23 each)", deleted, want)
	}
	if n := totalOps(t, s); n != int64(2*len(tenants)*23) {
		t.Errorf("%d records left, want the %d younger than 90 days", n, 2*len(tenants)*23)
	}
	if n := countWhere(t, s, `SELECT count(*) FROM operations WHERE at < ?`, retentionNow.Add(-DefaultOperationRetention).UnixNano()); n != 0 {
		t.Errorf("%d records older than 90 days left", n)
	}
	if got := snapshot(t, s, "hourly_usage", "hourly_usage_all", "monthly_usage", "daily_usage", "invoices"); got != kept {
		t.Error("pruning records changed rollups, usage or invoices")
	}
	again, _, err := s.FinalizeInvoice(ctx, "acme", oldMonth, "T", "USD", 100000)
	if err != nil || again.Number != inv.Number || again.TotalCents != inv.TotalCents {
		t.Errorf("the invoice after pruning: %v %+v", err, again)
	}
	// Analytics of the pruned months still answer from the rollups.
	a := mustAnalytics(t, s, AnalyticsQuery{TenantID: "acme", From: retentionNow.Add(-201 * 24 * time.Hour), To: retentionNow})
	if a.Total.Requests != 4*23 || a.Total.Cost != 4*23*1000 {
		t.Errorf("analytics after pruning: %d requests, cost %d; want %d, %d", a.Total.Requests, a.Total.Cost, 4*23, 4*23*1000)
	}
	if n, err := s.PruneOperations(ctx, retentionNow.Add(-DefaultOperationRetention), 7); n != 0 || err != nil {
		t.Errorf("a second pass deleted %d: %v", n, err)
	}
}

func TestPruneRollups(t *testing.T) {
	s := openTestStore(t)
	w := newTestWriter(t, s, WriterOptions{})
	writeAged(t, w, []string{"", "acme"}, []time.Duration{400 * 24 * time.Hour, 10 * 24 * time.Hour}, 3)
	ctx := testCtx(t)
	billing := snapshot(t, s, "monthly_usage", "daily_usage")
	p, err := s.Prune(ctx, retentionNow, RetentionPolicy{Operations: 0, Rollups: 365 * 24 * time.Hour}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p.Operations != 0 || p.Rollups != 3 { // acme's and ""'s hours, and the all-tenants hour
		t.Errorf("pruned %+v, want 3 rollup rows and no records (operations kept forever)", p)
	}
	if n := totalOps(t, s); n != 12 {
		t.Errorf("%d records, want all 12", n)
	}
	for _, table := range []string{"hourly_usage", "hourly_usage_all"} {
		if n := countWhere(t, s, `SELECT count(*) FROM `+table+` WHERE hour < ?`, retentionNow.Add(-365*24*time.Hour).Unix()); n != 0 {
			t.Errorf("%s: %d old rows left", table, n)
		}
		if n := countWhere(t, s, `SELECT count(*) FROM `+table); n == 0 {
			t.Errorf("%s: the young rows went too", table)
		}
	}
	if snapshot(t, s, "monthly_usage", "daily_usage") != billing {
		t.Error("pruning rollups changed billing data")
	}
}

// TestPruneUsesIndexes: pruning seeks indexes; it never scans the records table.
func TestPruneUsesIndexes(t *testing.T) {
	s := openTestStore(t)
	for _, q := range []string{
		strings.NewReplacer("at < ?", "at < 5", "LIMIT ?", "LIMIT 10").Replace(pruneOperationsQuery),
		`DELETE FROM hourly_usage WHERE (tenant_id, hour, model, op_type) IN
			(SELECT tenant_id, hour, model, op_type FROM hourly_usage WHERE hour < 5 LIMIT 10)`,
		strings.NewReplacer("at < ?", "at < 5", "LIMIT ?", "LIMIT 10").Replace(pruneWebhooksQuery),
		`DELETE FROM webhook_deliveries WHERE event_id IN (SELECT value FROM json_each('["a"]'))`,
	} {
		assertNoTableScan(t, s, q)
	}
}

// assertNoTableScan fails t if q's plan reads a stored table from end to end.
func assertNoTableScan(t *testing.T, s *Store, q string) {
	t.Helper()
	rows, err := s.w.Query(`EXPLAIN QUERY PLAN ` + q)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		rows.Scan(&id, &parent, &unused, &detail)
		plan = append(plan, detail)
	}
	rows.Close()
	for _, step := range plan {
		// A subquery's rows and json_each's are not stored tables.
		if strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, "INDEX") &&
			!strings.HasPrefix(step, "SCAN (subquery") && !strings.Contains(step, "json_each") {
			t.Errorf("%s\nplan %q scans a table", q, plan)
		}
	}
}

// TestPruneWhileWriting: records keep being committed, none lost, while a large prune runs.
func TestPruneWhileWriting(t *testing.T) {
	s := openTestStore(t)
	w := newTestWriter(t, s, WriterOptions{Interval: time.Millisecond})
	writeAged(t, w, []string{"acme", "beta"}, []time.Duration{100 * 24 * time.Hour}, 5000)
	var wg sync.WaitGroup
	wg.Add(1)
	var deleted int64
	var pruneErr error
	go func() {
		defer wg.Done()
		deleted, pruneErr = s.PruneOperations(context.Background(), retentionNow.Add(-90*24*time.Hour), 500)
	}()
	for i := range 2000 {
		if err := w.Record(testCtx(t), testOp(NewID("op_"), "acme", retentionNow.Add(time.Duration(i)))); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := w.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if pruneErr != nil || deleted != 10_000 {
		t.Fatalf("pruned %d: %v", deleted, pruneErr)
	}
	if n := totalOps(t, s); n != 2000 {
		t.Fatalf("%d records, want the 2000 new ones", n)
	}
	if a := mustAnalytics(t, s, AnalyticsQuery{AllTenants: true, From: retentionNow.Add(-101 * 24 * time.Hour), To: retentionNow.Add(time.Hour)}); a.Total.Requests != 12_000 {
		t.Fatalf("rollups hold %d requests, want 12000", a.Total.Requests)
	}
}

func TestPruner(t *testing.T) {
	s := openTestStore(t)
	w := newTestWriter(t, s, WriterOptions{})
	writeAged(t, w, []string{"acme"}, []time.Duration{100 * 24 * time.Hour, time.Hour}, 4)
	now := retentionNow
	p := s.NewPruner(PrunerOptions{Policy: RetentionPolicy{}, Interval: time.Hour, Now: func() time.Time { return now }})
	if got, err := p.Run(testCtx(t)); err != nil || got != (Pruned{}) {
		t.Fatalf("keep-forever policy pruned %+v: %v", got, err)
	}
	p.SetPolicy(DefaultRetention)
	p.SetInterval(time.Millisecond) // passes one after the other: Stop must still end them
	p.Start()
	p.Start() // no second goroutine
	if !waitFor(10*time.Second, func() bool { return totalOps(t, s) == 4 }) {
		t.Fatalf("the first pass at Start did not prune: %d records", totalOps(t, s))
	}
	p.Stop()
	p.Stop()
	if got, err := p.Run(testCtx(t)); err != nil || got != (Pruned{}) {
		t.Errorf("nothing left to prune, got %+v: %v", got, err)
	}
	// Stop interrupts a pass: a cancelled context ends it with the context's error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	writeAged(t, w, []string{"acme"}, []time.Duration{100 * 24 * time.Hour}, 4)
	if _, err := p.Run(ctx); err == nil {
		t.Error("a cancelled pass reported no error")
	}
}

// TestPruneWebhooks: events older than the retention go with their deliveries and attempts, in batches; an old
// event with a delivery still pending stays, and so does every newer event.
func TestPruneWebhooks(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	w := s.Webhooks()
	eps := []webhooks.Endpoint{{ID: "ep_1", TenantID: "acme", URL: "https://a.example/h"}, {ID: "ep_2", TenantID: "acme", URL: "https://b.example/h"}}
	for _, ep := range eps {
		if err := w.CreateEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
	}
	// event adds an event at age before retentionNow, delivered to both endpoints: the first attempt succeeds,
	// or with pending set, fails and leaves the delivery pending.
	event := func(age time.Duration, pending bool) webhooks.Event {
		ev, err := webhooks.NewEvent(webhooks.EventQuotaWarning, "acme", map[string]any{"n": 1}, retentionNow.Add(-age))
		if err != nil {
			t.Fatal(err)
		}
		ds := webhooks.Deliveries(ev, eps)
		if err := w.AddEvent(ctx, ev, ds); err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			r := webhooks.AttemptResult{Attempt: webhooks.Attempt{DeliveryID: d.ID, Number: 1, At: ev.Timestamp, StatusCode: 200},
				Status: webhooks.StatusSucceeded}
			if pending {
				r.Attempt.StatusCode, r.Status, r.NextAttemptAt = 500, webhooks.StatusPending, retentionNow
			}
			if err := w.RecordAttempt(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		return ev
	}
	var kept []string
	for i := range 7 {
		event(40*24*time.Hour+time.Duration(i)*time.Minute, false) // old and done: pruned
	}
	kept = append(kept, event(45*24*time.Hour, true).ID) // old but still pending
	for i := range 3 {
		kept = append(kept, event(time.Duration(i+1)*time.Hour, false).ID) // recent
	}
	before := snapshot(t, s, "daily_usage", "monthly_usage", "invoices")

	pruned, err := s.Prune(ctx, retentionNow, RetentionPolicy{Webhooks: 30 * 24 * time.Hour}, 3)
	if err != nil || pruned.WebhookEvents != 7 {
		t.Fatalf("pruned %+v, %v; want 7 webhook events", pruned, err)
	}
	if n := countWhere(t, s, `SELECT count(*) FROM webhook_events`); n != int64(len(kept)) {
		t.Errorf("%d events left, want %d", n, len(kept))
	}
	for _, id := range kept {
		if n := countWhere(t, s, `SELECT count(*) FROM webhook_deliveries WHERE event_id = ?`, id); n != 2 {
			t.Errorf("event %s: %d deliveries left, want 2", id, n)
		}
	}
	if n := countWhere(t, s, `SELECT count(*) FROM webhook_deliveries`); n != int64(2*len(kept)) {
		t.Errorf("%d deliveries left, want %d", n, 2*len(kept))
	}
	if n := countWhere(t, s, `SELECT count(*) FROM webhook_attempts`); n != int64(2*len(kept)) {
		t.Errorf("%d attempts left, want %d: a pruned delivery's attempts stayed", n, 2*len(kept))
	}
	if n := countWhere(t, s, `SELECT count(*) FROM webhook_endpoints`); n != 2 {
		t.Errorf("%d endpoints left, want 2", n)
	}
	if after := snapshot(t, s, "daily_usage", "monthly_usage", "invoices"); after != before {
		t.Error("pruning webhooks changed billing data")
	}
	if again, err := s.Prune(ctx, retentionNow, RetentionPolicy{Webhooks: 30 * 24 * time.Hour}, 3); err != nil || again.WebhookEvents != 0 {
		t.Errorf("a second pass: %+v, %v", again, err)
	}
}
