package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// Admin API injection attempts and cross-tenant isolation of the self-service routes.

// schema lists the database's tables and indexes, read over a separate read-only connection.
func (g *gateway) schema() []string {
	g.t.Helper()
	db, err := sql.Open("sqlite3", "file:"+g.vars["{DB}"]+"?mode=ro")
	if err != nil {
		g.t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(context.Background(), `SELECT type || ' ' || name FROM sqlite_master ORDER BY 1`)
	if err != nil {
		g.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			g.t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		g.t.Fatal(err)
	}
	return out
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestAdminInjection: ids and names carrying SQL, path traversal, NULs, quotes, unicode or excess length are refused
// with 400 naming the field or stored verbatim and harmless; afterwards the schema and the other tenants are intact.
func TestAdminInjection(t *testing.T) {
	g := startBilling(t)
	victimKey := g.tenantWithKey("victim", "open")
	if r := g.call(victimKey, "/v1/chat/completions", `{"model":"test-model","messages":[{"role":"user","content":"hello"}]}`); r.status != 200 {
		t.Fatalf("victim call: %d %s", r.status, r.raw)
	}
	victim := g.admin("GET", "/ai_gateway/tenants/victim", "")
	schemaBefore := g.schema()

	t.Run("bad tenant ids", func(t *testing.T) {
		for _, id := range []string{
			"'; DROP TABLE tenants;--", "victim' OR '1'='1", `victim"`, "victim;", "../victim", "..", ".", "a/b", `a\b`,
			"%2e%2e", strings.Repeat("a", 65), strings.Repeat("a", 10_000), "tenänt", "テナント", "a\u0000b", "\u0000", "a b",
			"", " victim", "victim\n", "-victim", "_x", "a\u202eb", "victim\u200b",
		} {
			r := g.admin("POST", "/ai_gateway/tenants", `{"id":`+quoteJSON(id)+`}`)
			if r.status != 400 || r.str("error", "param") != "id" || r.str("error", "code") != "invalid_field" {
				t.Errorf("id %q: %d %s, want 400 naming id", id, r.status, r.raw)
			}
		}
		for _, body := range []string{`{"id":1}`, `{"id":null}`, `{"id":["x"]}`, `{"id":{"$ne":""}}`} {
			if r := g.admin("POST", "/ai_gateway/tenants", body); r.status != 400 || r.str("error", "param") != "id" {
				t.Errorf("%s: %d %s, want 400 naming id", body, r.status, r.raw)
			}
		}
	})

	t.Run("odd but valid ids", func(t *testing.T) {
		for _, id := range []string{strings.Repeat("a", 64), "a.b-c_d", "0", "A..B", "x.."} {
			if r := g.admin("POST", "/ai_gateway/tenants", `{"id":`+quoteJSON(id)+`}`); r.status != 201 || r.str("id") != id {
				t.Errorf("id %q: %d %s", id, r.status, r.raw)
			}
			if r := g.admin("GET", "/ai_gateway/tenants/"+url.PathEscape(id), ""); r.status != 200 || r.str("id") != id {
				t.Errorf("reading back %q: %d %s", id, r.status, r.raw)
			}
		}
	})

	names := []string{
		"Robert'); DROP TABLE tenants;--", `"quoted" and \backslashed\`, "nul\u0000byte", "ünïcödé 🚀 名前", "<script>alert(1)</script>",
		"%s%n%x", "line\nbreak\ttab", strings.Repeat("é", 60), "\u202eevil",
	}
	t.Run("names stored verbatim", func(t *testing.T) {
		for i, name := range names {
			id := "named" + string(rune('a'+i))
			r := g.admin("POST", "/ai_gateway/tenants", `{"id":"`+id+`","name":`+quoteJSON(name)+`}`)
			if r.status != 201 || r.str("name") != name {
				t.Errorf("name %q: %d %s", name, r.status, r.raw)
				continue
			}
			if got := g.admin("GET", "/ai_gateway/tenants/"+id, ""); got.str("name") != name {
				t.Errorf("name %q read back as %q", name, got.str("name"))
			}
			if r := g.admin("PATCH", "/ai_gateway/tenants/"+id, `{"name":`+quoteJSON(name+"'--")+`}`); r.status != 200 || r.str("name") != name+"'--" {
				t.Errorf("patching name %q: %d %s", name, r.status, r.raw)
			}
			k := g.admin("POST", "/ai_gateway/tenants/"+id+"/keys", `{"name":`+quoteJSON(name)+`}`)
			if k.status != 201 || k.str("name") != name {
				t.Errorf("key name %q: %d %s", name, k.status, k.raw)
			}
		}
		for _, tc := range []struct{ method, path, body, param string }{
			{"POST", "/ai_gateway/tenants", `{"id":"long","name":"` + strings.Repeat("n", 201) + `"}`, "name"},
			{"POST", "/ai_gateway/tenants", `{"id":"p","plan":"'; DROP TABLE plans;--"}`, "plan"},
			{"POST", "/ai_gateway/tenants", `{"id":"p","plan":"open","is_admin":true}`, "is_admin"},
			{"POST", "/ai_gateway/tenants", `{"id":"p","name":7}`, "name"},
			{"PATCH", "/ai_gateway/tenants/victim", `{"status":"active' --"}`, "status"},
			{"PATCH", "/ai_gateway/tenants/victim", `{"plan":"open' OR '1'='1"}`, "plan"},
			{"PATCH", "/ai_gateway/tenants/victim", `{"id":"other"}`, "id"},
			{"POST", "/ai_gateway/tenants/victim/keys", `{"name":"` + strings.Repeat("k", 201) + `"}`, "name"},
			{"POST", "/ai_gateway/tenants/victim/keys", `{"name":"k","tenant_id":"other"}`, "tenant_id"},
			{"POST", "/ai_gateway/tenants/victim/invoices", `{"month":"2026-01' OR '1'='1"}`, "month"},
			{"POST", "/ai_gateway/tenants/victim/invoices", `{"month":"../../etc"}`, "month"},
			{"POST", "/ai_gateway/tenants/victim/invoices", `{"month":"2026-13"}`, "month"},
			{"POST", "/ai_gateway/tenants/victim/webhooks", `{"url":"file:///etc/passwd"}`, "url"},
			{"POST", "/ai_gateway/tenants/victim/webhooks", `{"url":"javascript:alert(1)"}`, "url"},
			{"POST", "/ai_gateway/tenants/victim/webhooks", `{"url":"http://user:pass@93.184.215.14/"}`, "url"},
			{"POST", "/ai_gateway/tenants/victim/webhooks", `{"url":"http://127.0.0.1:2019/load"}`, "url"},
			{"POST", "/ai_gateway/tenants/victim/webhooks", `{"url":"https://93.184.215.14/x","event_types":["'; DROP TABLE webhook_endpoints;--"]}`, "event_types"},
			{"POST", "/ai_gateway/tenants", "{\"id\":\"x\"," + strings.Repeat(" ", 1<<20) + "}", "body"},
			{"POST", "/ai_gateway/tenants", strings.Repeat("[", 20_000), "body"},
			{"POST", "/ai_gateway/tenants", `{"id":"x"}{"id":"y"}`, "body"},
		} {
			r := g.admin(tc.method, tc.path, tc.body)
			if r.status != 400 || r.str("error", "param") != tc.param {
				t.Errorf("%s %s %.80s: %d %.300s, want 400 naming %s", tc.method, tc.path, tc.body, r.status, r.raw, tc.param)
			}
		}
	})

	t.Run("ids in paths and queries", func(t *testing.T) {
		inj := url.PathEscape("' OR '1'='1")
		for _, tc := range []struct {
			method, path string
			want         int
		}{
			{"GET", "/ai_gateway/tenants/" + inj, 404},
			{"DELETE", "/ai_gateway/tenants/" + inj, 404},
			{"PATCH", "/ai_gateway/tenants/" + url.PathEscape("victim' --"), 404},
			{"DELETE", "/ai_gateway/keys/" + inj, 404},
			{"GET", "/ai_gateway/tenants/" + url.PathEscape("../tenants/victim") + "/usage", 404},
			{"GET", "/ai_gateway/invoices/" + inj, 404},
			{"GET", "/ai_gateway/deliveries/" + inj, 404},
			{"POST", "/ai_gateway/deliveries/" + inj + "/retry", 404},
			{"DELETE", "/ai_gateway/webhooks/" + inj, 404},
			{"GET", "/ai_gateway/webhooks/" + inj + "/deliveries", 404},
			{"GET", "/ai_gateway/tenants/victim/billing?month=" + url.QueryEscape("2026-01' OR 1=1--"), 400},
			{"GET", "/ai_gateway/tenants/victim/analytics?from=" + url.QueryEscape("' OR 1=1"), 400},
			{"GET", "/ai_gateway/tenants/victim/analytics?operation_type=" + url.QueryEscape("chat' OR '1'='1"), 400},
			{"GET", "/ai_gateway/tenants?limit=" + url.QueryEscape("1; DROP TABLE tenants"), 400},
			{"GET", "/ai_gateway/tenants?limit=-1", 400},
			{"GET", "/ai_gateway/tenants?limit=1000000", 400},
			{"GET", "/ai_gateway/tenants?cursor=" + url.QueryEscape("' OR 1=1--"), 400},
		} {
			body := ""
			if tc.method == "PATCH" {
				body = `{"name":"x"}`
			}
			r := g.admin(tc.method, tc.path, body)
			if r.status != tc.want || r.str("error", "code") == "<nil>" {
				t.Errorf("%s %s: %d %s, want %d with an error body", tc.method, tc.path, r.status, r.raw, tc.want)
			}
		}
		// Dot segments (Go's client sends them as written) are not reinterpreted into another route: whatever the
		// mux does with them, no 5xx and no deletion.
		for _, p := range []string{"/ai_gateway/tenants/../tenants/victim", "/ai_gateway/tenants/victim/../victim", "/ai_gateway/keys/../tenants/victim"} {
			req, _ := http.NewRequest("DELETE", "http://127.0.0.1:"+g.vars["{ADMIN}"]+p, nil)
			a, err := sendRaw(&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, req)
			if err != nil || a.status >= 500 {
				t.Errorf("DELETE %s: %d %v", p, a.status, err)
			}
		}
	})

	if got := g.schema(); !slices.Equal(got, schemaBefore) {
		t.Errorf("the schema changed:\nbefore %v\nafter  %v", schemaBefore, got)
	}
	if r := g.admin("GET", "/ai_gateway/tenants/victim", ""); r.status != 200 || string(r.raw) != string(victim.raw) {
		t.Errorf("victim changed: %s -> %s", victim.raw, r.raw)
	}
	if r := g.call(victimKey, "/v1/chat/completions", `{"model":"test-model","messages":[{"role":"user","content":"again"}]}`); r.status != 200 {
		t.Errorf("victim's key after the attempts: %d %s", r.status, r.raw)
	}
	if n := g.operations("victim", ""); n != 2 {
		t.Errorf("victim has %d records, want 2", n)
	}
	list := g.admin("GET", "/ai_gateway/tenants?limit=500", "")
	if n := len(list.body["data"].([]any)); n != 1+5+len(names) {
		t.Errorf("%d tenants exist, want %d: %s", n, 1+5+len(names), list.raw)
	}
}

// isolationHooks lets webhook endpoints on loopback, for the isolation test's receiver.
const isolationHooks = `		webhooks {
			allow_private_targets
			schedule 0s
			timeout 2s
		}
`

// TestCrossTenantIsolation: tenant A's key, whatever ids it guesses and whatever it puts in the path or query,
// reads and changes only A's data; another tenant's resources are 404 exactly like ids that do not exist.
func TestCrossTenantIsolation(t *testing.T) {
	cfg := strings.Replace(billingBase, "\t\tplan open daily_operations unlimited\n", "\t\tplan open daily_operations unlimited\n"+isolationHooks, 1)
	g := start(t, cfg, "{HANDLER}", "")
	alpha := g.tenantWithKey("alpha", "open")
	bravo := g.tenantWithKey("bravo", "open")
	rc := newReceiver(t)

	// Bravo's data: calls with a distinctive model, a webhook with a delivery, a past month's invoice.
	const secretModel = "bravo-secret-model"
	for range 2 {
		if r := g.call(bravo, "/v1/chat/completions", `{"model":"`+secretModel+`","messages":[{"role":"user","content":"private words"}]}`); r.status != 200 {
			t.Fatalf("bravo call: %d %s", r.status, r.raw)
		}
	}
	hook := g.call(bravo, "/v1/gateway/webhooks", `{"url":"`+rc.srv.URL+`/bravo-private-hook"}`)
	if hook.status != 201 {
		t.Fatalf("bravo webhook: %d %s", hook.status, hook.raw)
	}
	rc.secret.Store(hook.str("secret"))
	hookID := hook.str("id")
	if r := g.admin("POST", "/ai_gateway/webhooks/"+hookID+"/test", ""); r.status != 202 {
		t.Fatalf("test event: %d %s", r.status, r.raw)
	}
	deliveries := g.admin("GET", "/ai_gateway/webhooks/"+hookID+"/deliveries", "")
	deliveryID := deliveries.body["data"].([]any)[0].(map[string]any)["id"].(string)
	month := g.pastMonthRecords("bravo", 1_000_000_000)
	invoice := g.admin("POST", "/ai_gateway/tenants/bravo/invoices", `{"month":"`+month+`"}`).str("number")

	if r := g.call(alpha, "/v1/chat/completions", `{"model":"test-model","messages":[{"role":"user","content":"mine"}]}`); r.status != 200 {
		t.Fatalf("alpha call: %d %s", r.status, r.raw)
	}
	secrets := []string{"bravo", secretModel, "bravo-private-hook", hook.str("secret"), invoice, deliveryID}

	// Reads: alpha's own numbers, never bravo's, whatever the query says.
	for _, path := range []string{
		"/v1/gateway/usage", "/v1/gateway/usage?tenant_id=bravo", "/v1/gateway/usage?tenant=bravo&id=bravo",
		"/v1/gateway/billing", "/v1/gateway/billing?month=" + month, "/v1/gateway/billing?tenant_id=bravo",
		"/v1/gateway/invoices", "/v1/gateway/invoices?tenant_id=bravo",
		"/v1/gateway/analytics", "/v1/gateway/analytics?model=" + secretModel, "/v1/gateway/analytics?tenant_id=bravo",
		"/v1/gateway/webhooks", "/v1/gateway/webhooks?tenant_id=bravo",
	} {
		r := g.call(alpha, path, "")
		if r.status != 200 {
			t.Errorf("%s: %d %s", path, r.status, r.raw)
			continue
		}
		raw := string(r.raw)
		if strings.Contains(path, "model=") { // the filter is echoed back; what it matched must be nothing
			raw = strings.ReplaceAll(raw, `"filter":{"model":"`+secretModel+`"}`, "")
			if r.str("total", "requests") != "0" {
				t.Errorf("%s counts bravo's calls: %s", path, r.raw)
			}
		}
		for _, s := range secrets {
			if strings.Contains(raw, s) {
				t.Errorf("%s shows alpha %q: %s", path, s, r.raw)
			}
		}
		if tid := r.str("tenant_id"); tid != "<nil>" && tid != "alpha" {
			t.Errorf("%s answers for tenant %q", path, tid)
		}
	}

	// Bravo's resources by id: 404, with the very body an id that never existed gets.
	missing := map[string]string{invoice: "TEST-209901-0001", hookID: "wh_doesnotexist0000000000", deliveryID: "dlv_doesnotexist000000000"}
	for _, tc := range []struct{ method, path, id string }{
		{"GET", "/v1/gateway/invoices/%s", invoice},
		{"DELETE", "/v1/gateway/webhooks/%s", hookID},
		{"GET", "/v1/gateway/webhooks/%s/deliveries", hookID},
		{"GET", "/v1/gateway/webhooks/%s/deliveries?status=pending", hookID},
		{"GET", "/v1/gateway/deliveries/%s", deliveryID},
		{"POST", "/v1/gateway/deliveries/%s/retry", deliveryID},
		{"POST", "/v1/gateway/webhooks/%s/test", hookID},
		{"GET", "/v1/gateway/invoices/../webhooks/%s/deliveries", hookID},
	} {
		theirs := g.selfService(alpha, tc.method, strings.Replace(tc.path, "%s", tc.id, 1))
		none := g.selfService(alpha, tc.method, strings.Replace(tc.path, "%s", missing[tc.id], 1))
		if theirs.status != 404 {
			t.Errorf("%s %s with bravo's id: %d %s, want 404", tc.method, tc.path, theirs.status, theirs.raw)
		}
		if theirs.status != none.status || strings.ReplaceAll(string(theirs.raw), tc.id, "ID") != strings.ReplaceAll(string(none.raw), missing[tc.id], "ID") {
			t.Errorf("%s %s tells bravo's id from a missing one:\n%d %s\n%d %s", tc.method, tc.path, theirs.status, theirs.raw, none.status, none.raw)
		}
	}
	// Alpha cannot create a webhook for bravo.
	if r := g.call(alpha, "/v1/gateway/webhooks", `{"url":"`+rc.srv.URL+`/x","tenant_id":"bravo"}`); r.status != 400 || r.str("error", "param") != "tenant_id" {
		t.Errorf("a webhook with tenant_id: %d %s", r.status, r.raw)
	}

	// Bravo is untouched.
	if r := g.admin("GET", "/ai_gateway/tenants/bravo/webhooks", ""); !strings.Contains(string(r.raw), hookID) {
		t.Errorf("bravo's webhook is gone: %s", r.raw)
	}
	if r := g.call(bravo, "/v1/gateway/usage", ""); r.str("operations", "used") != "2" {
		t.Errorf("bravo's usage: %s", r.raw)
	}
	if r := g.call(bravo, "/v1/gateway/invoices/"+invoice, ""); r.status != 200 {
		t.Errorf("bravo's own invoice: %d %s", r.status, r.raw)
	}

	// Admin routes for ids that do not exist: 404 not_found, for every kind of resource.
	for _, p := range []struct{ method, path string }{
		{"GET", "/ai_gateway/tenants/nobody"}, {"PATCH", "/ai_gateway/tenants/nobody"}, {"DELETE", "/ai_gateway/tenants/nobody"},
		{"GET", "/ai_gateway/tenants/nobody/keys"}, {"POST", "/ai_gateway/tenants/nobody/keys"}, {"GET", "/ai_gateway/tenants/nobody/usage"},
		{"GET", "/ai_gateway/tenants/nobody/billing"}, {"GET", "/ai_gateway/tenants/nobody/invoices"}, {"POST", "/ai_gateway/tenants/nobody/invoices"},
		{"GET", "/ai_gateway/tenants/nobody/webhooks"}, {"POST", "/ai_gateway/tenants/nobody/webhooks"}, {"GET", "/ai_gateway/tenants/nobody/analytics"},
		{"DELETE", "/ai_gateway/keys/key_nobody"}, {"GET", "/ai_gateway/invoices/TEST-209901-0001"}, {"DELETE", "/ai_gateway/webhooks/wh_nobody"},
		{"POST", "/ai_gateway/webhooks/wh_nobody/test"}, {"GET", "/ai_gateway/webhooks/wh_nobody/deliveries"},
		{"GET", "/ai_gateway/deliveries/dlv_nobody"}, {"POST", "/ai_gateway/deliveries/dlv_nobody/retry"},
	} {
		body := ""
		switch {
		case p.method == "PATCH":
			body = `{"name":"x"}`
		case strings.HasSuffix(p.path, "/keys") && p.method == "POST":
			body = `{"name":"x"}`
		case strings.HasSuffix(p.path, "/invoices") && p.method == "POST":
			body = `{"month":"` + month + `"}`
		case strings.HasSuffix(p.path, "/webhooks") && p.method == "POST":
			body = `{"url":"` + rc.srv.URL + `/x"}`
		}
		r := g.admin(p.method, p.path, body)
		if r.status != 404 || r.errorCode() != "not_found" {
			t.Errorf("%s %s: %d %s, want 404 not_found", p.method, p.path, r.status, r.raw)
		}
	}

	// A deleted tenant's key is refused everywhere, not an error.
	if r := g.admin("DELETE", "/ai_gateway/tenants/alpha", ""); r.status != 204 {
		t.Fatalf("deleting alpha: %d %s", r.status, r.raw)
	}
	for _, path := range []string{"/v1/gateway/usage", "/v1/gateway/billing", "/v1/gateway/webhooks", "/v1/chat/completions"} {
		if r := g.call(alpha, path, ""); r.status != 401 || r.errorCode() != "invalid_api_key" {
			t.Errorf("deleted tenant's key on %s: %d %s", path, r.status, r.raw)
		}
	}
}

// selfService sends a tenant's self-service request with any method.
func (g *gateway) selfService(key, method, path string) reply {
	g.t.Helper()
	return g.do(method, g.url(path), http.Header{"Authorization": {"Bearer " + key}}, "")
}
