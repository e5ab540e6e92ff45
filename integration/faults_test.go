package integration

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// TestFailingDatabaseFailsClosed: while the ledger cannot commit (a full disk, a read-only file; here a trigger
// that makes every insert fail), calls get 503 ledger_unavailable instead of going through unrecorded, the
// metric says so, and once commits succeed again the gateway recovers by itself with nothing lost.
func TestFailingDatabaseFailsClosed(t *testing.T) {
	g := startBilling(t)
	key := g.tenantWithKey("acme", "open")
	body := `{"model":"test-model","messages":[{"role":"user","content":"a b"}]}`
	for i := 0; i < 3; i++ {
		if r := g.call(key, "/v1/chat/completions", body); r.status != 200 {
			t.Fatal(r.status)
		}
	}
	g.flush()
	raw, err := sql.Open("sqlite3", "file:"+g.vars["{DB}"]+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TRIGGER fail_inserts BEFORE INSERT ON operations BEGIN SELECT RAISE(ABORT, 'disk is full (simulated)'); END`); err != nil {
		t.Fatal(err)
	}
	// The call in flight when commits start failing is kept and retried; the ones after it are refused.
	g.call(key, "/v1/chat/completions", body)
	deadline := time.Now().Add(5 * time.Second)
	var r reply
	for time.Now().Before(deadline) {
		if r = g.call(key, "/v1/chat/completions", body); r.status == 503 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r.status != 503 || r.errorCode() != "ledger_unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("while commits fail: %d %s", r.status, r.raw)
	}
	m := string(g.admin("GET", "/metrics", "").raw)
	if !strings.Contains(m, "caddy_ai_gateway_ledger_healthy 0") {
		t.Error("ledger_healthy should be 0")
	}
	if _, err := raw.Exec(`DROP TRIGGER fail_inserts`); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if r = g.call(key, "/v1/chat/completions", body); r.status == 200 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r.status != 200 {
		t.Fatalf("after recovery: %d %s", r.status, r.raw)
	}
	ok := g.operations("acme", "ok")
	if ok < 5 { // three before, at least one kept through the failure, one after
		t.Errorf("ok records %d: the record in flight during the failure was lost", ok)
	}
	if n := g.operations("acme", ""); n != ok {
		t.Errorf("%d records but %d ok: refused calls must not be recorded as operations", n, ok)
	}
}
