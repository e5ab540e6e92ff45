package integration

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/helixgateway/caddy-ai-gateway/webhooks"
)

// receiver is a tenant's webhook endpoint on loopback: it verifies every signature and keeps what arrived.
type receiver struct {
	t        *testing.T
	srv      *httptest.Server
	secret   atomic.Value // string
	failNext atomic.Int64 // answer 500 to this many attempts first
	mu       sync.Mutex
	events   []map[string]any
	ids      []string
	badSigs  int
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if rc.failNext.Add(-1) >= 0 {
			http.Error(w, "not now", http.StatusInternalServerError)
			return
		}
		secret, _ := rc.secret.Load().(string)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if err := webhooks.VerifyRequest(secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
			rc.badSigs++
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var ev map[string]any
		json.Unmarshal(body, &ev)
		rc.events = append(rc.events, ev)
		rc.ids = append(rc.ids, r.Header.Get("webhook-id"))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// of returns the events of a type received so far.
func (rc *receiver) of(typ string) []map[string]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []map[string]any
	for _, ev := range rc.events {
		if ev["type"] == typ {
			out = append(out, ev)
		}
	}
	return out
}

func (rc *receiver) waitFor(typ string, n int) []map[string]any {
	rc.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if evs := rc.of(typ); len(evs) >= n {
			return evs
		}
		time.Sleep(20 * time.Millisecond)
	}
	rc.t.Fatalf("waited for %d %s events, got %d", n, typ, len(rc.of(typ)))
	return nil
}

// adminUntil polls an admin GET until ok accepts the reply (or 10 s pass): the receiver sees a delivery before the
// dispatcher has stored its result.
func (g *gateway) adminUntil(path string, ok func(reply) bool) reply {
	g.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := g.admin("GET", path, "")
		if ok(r) || time.Now().After(deadline) {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const hookBase = `		webhooks {
			allow_private_targets
			schedule 0s 200ms 200ms 200ms
			timeout 2s
		}
		plan warned {
			daily_operations 10
			warn_at 50%
		}
`

func startHooks(t *testing.T) *gateway {
	return start(t, strings.Replace(billingBase, "\t\tplan open daily_operations unlimited\n", "\t\tplan open daily_operations unlimited\n"+hookBase, 1), "{HANDLER}", "")
}

func (g *gateway) subscribe(rc *receiver, tenant string, types ...string) string {
	g.t.Helper()
	body := `{"url":"` + rc.srv.URL + `/hook"`
	if len(types) > 0 {
		raw, _ := json.Marshal(types)
		body += `,"event_types":` + string(raw)
	}
	r := g.admin("POST", "/ai_gateway/tenants/"+tenant+"/webhooks", body+"}")
	if r.status != 201 || !strings.HasPrefix(r.str("secret"), "whsec_") {
		g.t.Fatalf("subscribe: %d %s", r.status, r.raw)
	}
	rc.secret.Store(r.str("secret"))
	return r.str("id")
}

func TestWebhookOperationEvents(t *testing.T) {
	g := startHooks(t)
	key := g.tenantWithKey("acme", "open")
	rc := newReceiver(t)
	ep := g.subscribe(rc, "acme", "operation.completed", "operation.failed")
	if r := g.call(key, "/v1/chat/completions", `{"model":"test-model","messages":[{"role":"user","content":"a b c"}]}`); r.status != 200 {
		t.Fatal(r.status)
	}
	g.call(key, "/v1/chat/completions", `{"model":"test-model","messages":[]}`, "X-Mock-Status", "503")
	done := rc.waitFor("operation.completed", 1)[0]
	failed := rc.waitFor("operation.failed", 1)[0]
	op := g.lastOp("acme")
	data := done["data"].(map[string]any)
	if data["tenant_id"] != "acme" || data["model"] != "test-model" || data["input_tokens"] != 3.0 || data["cost"] == nil {
		t.Errorf("operation.completed data: %v", data)
	}
	if failed["data"].(map[string]any)["operation_id"] != op.ID {
		t.Errorf("operation.failed names %v, the record is %s", failed["data"], op.ID)
	}
	if rc.badSigs != 0 {
		t.Errorf("%d deliveries with bad signatures", rc.badSigs)
	}
	// The delivery history.
	list := g.adminUntil("/ai_gateway/webhooks/"+ep+"/deliveries?status=succeeded", func(r reply) bool {
		return r.status == 200 && len(r.body["data"].([]any)) == 2
	})
	if n := len(list.body["data"].([]any)); list.status != 200 || n != 2 {
		t.Fatalf("deliveries: %d %s", list.status, list.raw)
	}
	first := list.body["data"].([]any)[0].(map[string]any)
	one := g.admin("GET", "/ai_gateway/deliveries/"+first["id"].(string), "")
	if hist := one.body["attempt_history"].([]any); len(hist) != 1 || hist[0].(map[string]any)["status_code"] != 204.0 {
		t.Errorf("attempt history: %s", one.raw)
	}
	// The test route and the event filter: webhook.test always reaches the endpoint it tests.
	if r := g.admin("POST", "/ai_gateway/webhooks/"+ep+"/test", ""); r.status != 202 {
		t.Fatalf("test: %d %s", r.status, r.raw)
	}
	rc.waitFor("webhook.test", 1)
	if r := g.admin("GET", "/ai_gateway/tenants/acme/webhooks", ""); strings.Contains(string(r.raw), "whsec_") {
		t.Errorf("the secret is listed: %s", r.raw)
	}
}

func TestWebhookRetriedUntilItArrives(t *testing.T) {
	g := startHooks(t)
	g.tenantWithKey("acme", "open")
	rc := newReceiver(t)
	ep := g.subscribe(rc, "acme")
	rc.failNext.Store(2)
	g.admin("POST", "/ai_gateway/webhooks/"+ep+"/test", "")
	rc.waitFor("webhook.test", 1)
	list := g.admin("GET", "/ai_gateway/webhooks/"+ep+"/deliveries", "")
	d := list.body["data"].([]any)[0].(map[string]any)
	one := g.adminUntil("/ai_gateway/deliveries/"+d["id"].(string), func(r reply) bool { return r.str("status") == "succeeded" })
	hist := one.body["attempt_history"].([]any)
	if one.str("status") != "succeeded" || len(hist) != 3 || hist[0].(map[string]any)["status_code"] != 500.0 {
		t.Fatalf("delivery after two failures: %s", one.raw)
	}
	// Sent again by hand.
	if r := g.admin("POST", "/ai_gateway/deliveries/"+d["id"].(string)+"/retry", ""); r.status != 202 {
		t.Fatalf("retry: %d %s", r.status, r.raw)
	}
	rc.waitFor("webhook.test", 2)
	rc.mu.Lock()
	if rc.ids[0] != rc.ids[1] {
		t.Errorf("webhook-id differs between deliveries of one event: %v", rc.ids)
	}
	rc.mu.Unlock()
}

// TestWebhookSurvivesRestart: a delivery still being retried when the gateway stops arrives after it restarts.
func TestWebhookSurvivesRestart(t *testing.T) {
	g := startHooks(t)
	g.tenantWithKey("acme", "open")
	rc := newReceiver(t)
	ep := g.subscribe(rc, "acme")
	rc.failNext.Store(1_000_000) // down
	for i := 0; i < 5; i++ {
		g.admin("POST", "/ai_gateway/webhooks/"+ep+"/test", "")
	}
	time.Sleep(300 * time.Millisecond)
	g.restart() // pending deliveries are in the database
	rc.failNext.Store(0)
	rc.waitFor("webhook.test", 5)
}

// TestWebhookQuotaEventsOncePerPeriod: under concurrent load, quota.warning and quota.exceeded fire once a day.
func TestWebhookQuotaEventsOncePerPeriod(t *testing.T) {
	g := startHooks(t)
	key := g.tenantWithKey("acme", "warned") // 10 a day, warning at 50%
	rc := newReceiver(t)
	g.subscribe(rc, "acme", "quota.warning", "quota.exceeded", "rate_limit.exceeded")
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.call(key, "/v1/chat/completions", chatBody)
		}()
	}
	wg.Wait()
	rc.waitFor("quota.warning", 1)
	exceeded := rc.waitFor("quota.exceeded", 1)
	time.Sleep(500 * time.Millisecond)
	if n, m := len(rc.of("quota.warning")), len(rc.of("quota.exceeded")); n != 1 || m != 1 {
		t.Fatalf("quota.warning %d times, quota.exceeded %d times; want once each", n, m)
	}
	if d := exceeded[0]["data"].(map[string]any); d["limit"] != 10.0 || d["remaining"] != 0.0 {
		t.Errorf("quota.exceeded data %v", d)
	}
}

// TestWebhookNoticesNotResentAfterRestart: a restart does not send the day's quota.warning and quota.exceeded
// again: the throttle starts from the events already stored (the month's budget events: see
// TestWebhookBudgetAndRateLimitEvents).
func TestWebhookNoticesNotResentAfterRestart(t *testing.T) {
	g := startHooks(t)
	key := g.tenantWithKey("acme", "warned") // 10 a day, warning at 50%
	rc := newReceiver(t)
	g.subscribe(rc, "acme", "quota.warning", "quota.exceeded")
	calls := func(n int) {
		for range n {
			g.call(key, "/v1/chat/completions", chatBody)
		}
	}
	calls(6)
	rc.waitFor("quota.warning", 1)
	g.restart()
	calls(1) // admitted, past the warning share: the warning would fire again
	calls(5) // the last ones refused
	rc.waitFor("quota.exceeded", 1)
	g.restart()
	calls(2) // refused: quota.exceeded would fire again
	time.Sleep(500 * time.Millisecond)
	if n, m := len(rc.of("quota.warning")), len(rc.of("quota.exceeded")); n != 1 || m != 1 {
		t.Fatalf("quota.warning %d times, quota.exceeded %d times across two restarts; want once each", n, m)
	}
}

func TestWebhookInvoiceFinalized(t *testing.T) {
	g := startHooks(t)
	g.tenantWithKey("acme", "open")
	rc := newReceiver(t)
	g.subscribe(rc, "acme", "invoice.finalized")
	month := g.pastMonthRecords("acme", 3_000_000_000)
	inv := g.admin("POST", "/ai_gateway/tenants/acme/invoices", `{"month":"`+month+`"}`)
	ev := rc.waitFor("invoice.finalized", 1)[0]["data"].(map[string]any)
	if ev["number"] != inv.str("number") || ev["total_cents"] != 330.0 {
		t.Fatalf("invoice.finalized %v for %s", ev, inv.raw)
	}
	g.admin("POST", "/ai_gateway/tenants/acme/invoices", `{"month":"`+month+`"}`) // asked again: no second event
	time.Sleep(300 * time.Millisecond)
	if n := len(rc.of("invoice.finalized")); n != 1 {
		t.Fatalf("%d invoice.finalized events", n)
	}
}

func TestWebhookTargetsAndSelfService(t *testing.T) {
	g := start(t, billingBase, "{HANDLER}", "") // allow_private_targets off
	key := g.tenantWithKey("acme", "open")
	other := g.tenantWithKey("other", "open")
	for _, url := range []string{"http://127.0.0.1:9/hook", "http://[::1]/x", "http://169.254.169.254/latest", "http://10.0.0.1/",
		"http://[::ffff:127.0.0.1]/", "ftp://example.com/", "http://localhost/"} {
		r := g.admin("POST", "/ai_gateway/tenants/acme/webhooks", `{"url":"`+url+`"}`)
		if r.status != 400 || r.str("error", "param") != "url" {
			t.Errorf("%s: %d %s", url, r.status, r.raw)
		}
	}
	if r := g.admin("POST", "/ai_gateway/tenants/acme/webhooks", `{"url":"https://hooks.example.com/x","event_types":["nope"]}`); r.status != 400 {
		t.Errorf("unknown event type: %d", r.status)
	}
	// Self-service, with a public-looking URL (nothing is sent in this test).
	created := g.call(key, "/v1/gateway/webhooks", `{"url":"https://93.184.215.14/hook","event_types":["quota.exceeded"]}`)
	if created.status != 201 || created.str("tenant_id") != "acme" || !strings.HasPrefix(created.str("secret"), "whsec_") {
		t.Fatalf("self-service create: %d %s", created.status, created.raw)
	}
	id := created.str("id")
	if r := g.call(key, "/v1/gateway/webhooks", ""); r.status != 200 || !strings.Contains(string(r.raw), id) {
		t.Fatalf("self-service list: %s", r.raw)
	}
	if r := g.call(other, "/v1/gateway/webhooks/"+id+"/deliveries", ""); r.status != 404 {
		t.Errorf("another tenant's deliveries: %d", r.status)
	}
	req, _ := http.NewRequest("DELETE", "http://127.0.0.1:"+g.vars["{GATEWAY}"]+"/v1/gateway/webhooks/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+other)
	if resp, _ := g.client.Do(req); resp.StatusCode != 404 {
		t.Errorf("another tenant deleting: %d", resp.StatusCode)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if resp, _ := g.client.Do(req); resp.StatusCode != 204 {
		t.Errorf("deleting own: %d", resp.StatusCode)
	}
	if r := g.admin("GET", "/ai_gateway/deliveries/dlv_nope", ""); r.status != 404 {
		t.Errorf("unknown delivery: %d", r.status)
	}
}

// TestDeletingATenantRemovesItsEndpoints: no endpoint outlives its tenant.
func TestDeletingATenantRemovesItsEndpoints(t *testing.T) {
	g := startHooks(t)
	g.tenantWithKey("acme", "open")
	rc := newReceiver(t)
	ep := g.subscribe(rc, "acme")
	if r := g.admin("DELETE", "/ai_gateway/tenants/acme", ""); r.status != 204 {
		t.Fatal(r.status)
	}
	if eps, err := g.app().Webhooks().ListEndpoints(context.Background(), "acme"); err != nil || len(eps) != 0 {
		t.Fatalf("endpoints left: %v %v", eps, err)
	}
	if r := g.admin("POST", "/ai_gateway/webhooks/"+ep+"/test", ""); r.status != 404 {
		t.Fatalf("testing a deleted tenant's endpoint: %d", r.status)
	}
	if g.app().Webhooks().Subscriptions("acme").Len() != 0 {
		t.Fatal("the writer would still fan out to the deleted endpoint")
	}
}

// TestWebhookBudgetAndRateLimitEvents: budget.warning and budget.exceeded once a month, also across a restart,
// rate_limit.exceeded at most once a minute, each with the tenant's numbers.
func TestWebhookBudgetAndRateLimitEvents(t *testing.T) {
	cfg := strings.Replace(billingBase, "\t\tplan open daily_operations unlimited\n", "\t\tplan open daily_operations unlimited\n"+hookBase+`		plan throttled {
			daily_operations unlimited
			rate 1/h
			burst 1
		}
`, 1)
	g := start(t, cfg, "{HANDLER}", "")
	key := g.tenantWithKey("acme", "capped") // budget 0.001, warn at 80%
	slow := g.tenantWithKey("slow", "throttled")
	rc := newReceiver(t)
	g.subscribe(rc, "acme", "budget.warning", "budget.exceeded")
	rc2 := newReceiver(t)
	g.subscribe(rc2, "slow", "rate_limit.exceeded")

	body := `{"model":"test-model","max_tokens":10,"messages":[{"role":"user","content":"hello world"}]}` // 22,000 a call
	for i := 0; i < 60; i++ {
		g.call(key, "/v1/chat/completions", body)
	}
	warn := rc.waitFor("budget.warning", 1)[0]["data"].(map[string]any)
	exceeded := rc.waitFor("budget.exceeded", 1)[0]["data"].(map[string]any)
	if warn["budget"] != "0.001000000" || exceeded["budget"] != "0.001000000" {
		t.Errorf("budget events: %v %v", warn, exceeded)
	}
	for i := 0; i < 5; i++ {
		g.call(slow, "/v1/chat/completions", body)
	}
	rl := rc2.waitFor("rate_limit.exceeded", 1)[0]["data"].(map[string]any)
	g.restart()
	g.call(key, "/v1/chat/completions", body) // refused: budget.exceeded was sent this month already
	time.Sleep(300 * time.Millisecond)
	if n, m, k := len(rc.of("budget.warning")), len(rc.of("budget.exceeded")), len(rc2.of("rate_limit.exceeded")); n != 1 || m != 1 || k != 1 {
		t.Fatalf("budget.warning %d, budget.exceeded %d, rate_limit.exceeded %d: want once each", n, m, k)
	}
	if rl["plan"] != "throttled" || rl["retry_after_seconds"].(float64) < 3000 {
		t.Errorf("rate_limit.exceeded data %v", rl)
	}
}

// TestWebhookSecretsKeyFile: the gateway encrypts webhook secrets under a key file it creates beside the database
// (mode 0600); the database holds no secret in the clear, and deliveries are signed with the secret after a
// restart. A reload that names another key file is refused (the open ledger keeps its key), and so is a start
// with a key that does not open the stored secrets; the gateway starts again once the right key is back. A start
// with a new key file and the old one as the previous moves the secrets under the new key.
func TestWebhookSecretsKeyFile(t *testing.T) {
	g := startHooks(t)
	g.tenantWithKey("acme", "open")
	rc := newReceiver(t)
	ep := g.subscribe(rc, "acme")
	secret, _ := rc.secret.Load().(string)
	delivered := 0
	deliver := func() {
		t.Helper()
		delivered++
		g.admin("POST", "/ai_gateway/webhooks/"+ep+"/test", "")
		rc.waitFor("webhook.test", delivered)
	}
	deliver()

	db, keyFile := g.vars["{DB}"], g.vars["{DB}"]+".key"
	fi, err := os.Stat(keyFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %s: %v, %v", keyFile, fi, err)
	}
	g.flush()
	for _, f := range []string{db, db + "-wal"} {
		if data, err := os.ReadFile(f); err == nil && strings.Contains(string(data), strings.TrimPrefix(secret, "whsec_")) {
			t.Errorf("%s holds the webhook secret in the clear", f)
		}
	}

	other := strings.Replace(g.template, "database {DB}", "database {DB}\n\t\tsecrets_key_file {DB}.other", 1)
	if err := g.tryLoad(other); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Errorf("reload naming another key file: %v, want a refusal", err)
	}
	deliver() // the running config carried on

	g.restart()
	deliver()

	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte("9GjXhsOKvRUcC7TzeMmM3ocH0dfNb2JmKjnWiGIp4Mo=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.tryLoad(g.template); err == nil || !strings.Contains(err.Error(), "do not open with this key") {
		t.Errorf("start with another key: %v, want a refusal", err)
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	g.load(g.template)
	deliver()

	// A new key, the old one as the previous: the secrets move under the new key at start, and the tenant's
	// secret still signs; afterwards the new key alone opens them.
	rotated := strings.Replace(g.template, "database {DB}", "database {DB}\n\t\tsecrets_key_file {DB}.new", 1)
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	g.load(strings.Replace(rotated, "{DB}.new", "{DB}.new\n\t\tsecrets_previous_key_file {DB}.key", 1))
	deliver()
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	g.load(rotated)
	deliver()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.badSigs != 0 {
		t.Errorf("%d deliveries with a bad signature", rc.badSigs)
	}
}
