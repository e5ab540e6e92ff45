package integration

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// The admin API under /ai_gateway/ on Caddy's admin endpoint, through real HTTP, with the base Caddyfile
// (default_plan small: 5 a day; fifty; slow: 1/h burst 2; open: unlimited, no bucket).

// wantError checks that r is an error answer in the OpenAI shape {"error":{"message","type","code"}} and nothing
// else, with the given status and code; param, when not empty, must be error.param.
func wantError(t *testing.T, r reply, status int, code, param string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d; body %s", r.status, status, r.raw)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json; body %q", ct, r.raw)
	}
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(r.raw, &outer); err != nil {
		t.Fatalf("error body is not a JSON object: %v: %q", err, r.raw)
	}
	if len(outer) != 1 || outer["error"] == nil {
		t.Errorf("error body has members other than \"error\": %s", r.raw)
	}
	var e map[string]any
	if err := json.Unmarshal(outer["error"], &e); err != nil {
		t.Fatalf("\"error\" is not an object: %s", r.raw)
	}
	for _, f := range []string{"message", "type", "code"} {
		if s, ok := e[f].(string); !ok || s == "" {
			t.Errorf("error.%s = %v, want a non-empty string; body %s", f, e[f], r.raw)
		}
	}
	if got := e["code"]; code != "" && got != code {
		t.Errorf("error.code = %v, want %q; body %s", got, code, r.raw)
	}
	if got, _ := e["param"].(string); param != "" && got != param {
		t.Errorf("error.param = %q, want %q; body %s", got, param, r.raw)
	}
}

// rfc3339UTC parses an RFC 3339 time that must be in UTC.
func rfc3339UTC(t *testing.T, what, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !strings.HasSuffix(s, "Z") {
		t.Fatalf("%s = %q, want an RFC 3339 UTC time", what, s)
	}
	return at
}

// items returns the "data" list of a list answer.
func items(t *testing.T, r reply) []map[string]any {
	t.Helper()
	list, ok := r.body["data"].([]any)
	if !ok {
		t.Fatalf("no data list in %s", r.raw)
	}
	out := make([]map[string]any, len(list))
	for i, v := range list {
		out[i], _ = v.(map[string]any)
	}
	return out
}

func TestAdminCreateTenant(t *testing.T) {
	g := startMock(t)
	before := time.Now().UTC().Add(-time.Second)

	r := g.admin("POST", "/ai_gateway/tenants", `{"id":"acme","name":"Acme Corp","plan":"fifty"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	if r.str("id") != "acme" || r.str("name") != "Acme Corp" || r.str("plan") != "fifty" || r.str("status") != "active" {
		t.Errorf("create: %s", r.raw)
	}
	created := rfc3339UTC(t, "created_at", r.str("created_at"))
	updated := rfc3339UTC(t, "updated_at", r.str("updated_at"))
	if created.Before(before) || created.After(time.Now().Add(time.Second)) || !updated.Equal(created) {
		t.Errorf("created_at %s, updated_at %s: want now, and equal", created, updated)
	}
	if got := g.admin("GET", "/ai_gateway/tenants/acme", ""); got.status != 200 || !bytes.Equal(got.raw, r.raw) {
		t.Errorf("GET after create: %d %s, want the create answer %s", got.status, got.raw, r.raw)
	}

	// The plan defaults to default_plan (small), the name to "".
	r = g.admin("POST", "/ai_gateway/tenants", `{"id":"Beta_2.x-y"}`)
	if r.status != http.StatusCreated || r.str("plan") != "small" || r.str("name") != "" {
		t.Errorf("create without plan: %d %s, want plan small", r.status, r.raw)
	}

	wantError(t, g.admin("POST", "/ai_gateway/tenants", `{"id":"acme","plan":"small"}`), 409, "conflict", "")
	if r := g.admin("GET", "/ai_gateway/tenants/acme", ""); r.str("plan") != "fifty" {
		t.Errorf("a refused duplicate changed the tenant: %s", r.raw)
	}

	long := strings.Repeat("n", 201)
	for _, tc := range []struct {
		name, body, param string
	}{
		{"empty id", `{"id":""}`, "id"},
		{"missing id", `{"name":"x"}`, "id"},
		{"id with space", `{"id":"a b"}`, "id"},
		{"id with slash", `{"id":"a/b"}`, "id"},
		{"id starting with dash", `{"id":"-a"}`, "id"},
		{"id starting with dot", `{"id":".a"}`, "id"},
		{"id too long", `{"id":"` + strings.Repeat("a", 65) + `"}`, "id"},
		{"id non-ascii", `{"id":"café"}`, "id"},
		{"unknown plan", `{"id":"x1","plan":"gold"}`, "plan"},
		{"name too long", `{"id":"x2","name":"` + long + `"}`, "name"},
		{"unknown field", `{"id":"x3","colour":"red"}`, "colour"},
		{"id wrong type", `{"id":42}`, "id"},
		{"name wrong type", `{"id":"x4","name":["a"]}`, "name"},
		{"plan wrong type", `{"id":"x5","plan":true}`, "plan"},
		{"malformed JSON", `{"id":"x6",`, ""},
		{"not JSON", `id=x7`, ""},
		{"empty body", ``, ""},
		{"array", `[{"id":"x8"}]`, ""},
		{"trailing data", `{"id":"x9"} {"id":"x10"}`, ""},
		{"trailing garbage", `{"id":"x11"} x`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, g.admin("POST", "/ai_gateway/tenants", tc.body), 400, "invalid_field", tc.param)
		})
	}
	// A 64-character id is the longest allowed.
	if r := g.admin("POST", "/ai_gateway/tenants", `{"id":"`+strings.Repeat("a", 64)+`"}`); r.status != 201 {
		t.Errorf("64-character id: %d %s", r.status, r.raw)
	}
	// None of the refused bodies created anything.
	list := g.admin("GET", "/ai_gateway/tenants", "")
	if n := len(items(t, list)); n != 3 {
		t.Errorf("%d tenants after the refused creates, want 3: %s", n, list.raw)
	}
}

// TestAdminBodyTrailingBracket: a body must be exactly one JSON object; json.Decoder.More reports false before a
// stray '}' or ']', so decodeBody lets such a body through.
func TestAdminBodyTrailingBracket(t *testing.T) {
	g := startMock(t)
	for _, body := range []string{`{"id":"x1"}}`, `{"id":"x2"}]`} {
		r := g.admin("POST", "/ai_gateway/tenants", body)
		wantError(t, r, 400, "invalid_field", "")
	}
}

// TestAdminBodyErrors: every 400 names what is wrong in error.param; for a body that is not one JSON object the
// thing at fault is the body itself. And the message speaks JSON, not Go.
func TestAdminBodyErrors(t *testing.T) {
	g := startMock(t)
	for _, body := range []string{``, `{"id":`, `{"id":"x"} x`, `[]`, `"x"`} {
		r := g.admin("POST", "/ai_gateway/tenants", body)
		wantError(t, r, 400, "invalid_field", "")
		if p := r.str("error", "param"); p == "<nil>" || p == "" {
			t.Errorf("body %q: no error.param in %s", body, r.raw)
		}
		if m := r.str("error", "message"); strings.Contains(m, "struct") || strings.Contains(m, "Go value") {
			t.Errorf("body %q: the message shows Go internals: %q", body, m)
		}
	}
}

func TestAdminListTenantsPagination(t *testing.T) {
	g := startMock(t)
	var ids []string
	for i := 1; i <= 7; i++ {
		id := fmt.Sprintf("t%d", i)
		ids = append(ids, id)
		if r := g.admin("POST", "/ai_gateway/tenants", `{"id":"`+id+`"}`); r.status != 201 {
			t.Fatalf("create %s: %d %s", id, r.status, r.raw)
		}
	}

	all := g.admin("GET", "/ai_gateway/tenants", "")
	if all.status != 200 || all.str("has_more") != "false" || all.str("next_cursor") != "<nil>" {
		t.Fatalf("list: %d %s", all.status, all.raw)
	}
	var got []string
	for _, it := range items(t, all) {
		got = append(got, it["id"].(string))
		for _, f := range []string{"id", "name", "plan", "status", "created_at", "updated_at"} {
			if _, ok := it[f]; !ok {
				t.Errorf("list item lacks %q: %v", f, it)
			}
		}
	}
	if want := "t7 t6 t5 t4 t3 t2 t1"; strings.Join(got, " ") != want {
		t.Fatalf("list order %v, want newest first: %s", got, want)
	}

	seen := map[string]int{}
	var pages []string
	cursor := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("pagination does not end")
		}
		path := "/ai_gateway/tenants?limit=3"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := g.admin("GET", path, "")
		if r.status != 200 {
			t.Fatalf("page %d: %d %s", page, r.status, r.raw)
		}
		var ids []string
		for _, it := range items(t, r) {
			ids = append(ids, it["id"].(string))
			seen[it["id"].(string)]++
		}
		pages = append(pages, strings.Join(ids, ","))
		more := r.str("has_more") == "true"
		next := r.str("next_cursor")
		if more != (next != "<nil>" && next != "") {
			t.Fatalf("page %d: has_more %v but next_cursor %q", page, more, next)
		}
		if !more {
			break
		}
		cursor = next
	}
	if want := "t7,t6,t5 t4,t3,t2 t1"; strings.Join(pages, " ") != want {
		t.Errorf("pages %q, want %q", strings.Join(pages, " "), want)
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("tenant %s seen %d times over the pages, want once", id, seen[id])
		}
	}

	// Exactly a page's worth left: the last full page says there is no more.
	r := g.admin("GET", "/ai_gateway/tenants?limit=7", "")
	if len(items(t, r)) != 7 || r.str("has_more") != "false" {
		t.Errorf("limit=7 over 7 tenants: %s", r.raw)
	}

	for _, limit := range []string{"0", "-1", "abc", "501", "1.5", "3x"} {
		t.Run("limit="+limit, func(t *testing.T) {
			wantError(t, g.admin("GET", "/ai_gateway/tenants?limit="+limit, ""), 400, "invalid_field", "limit")
		})
	}
}

// TestAdminPaginationSurvivesDeletedCursor: a tenant deleted between two pages must not end the listing early.
// The cursor is the id of the last tenant of a page and the next page is found by looking that tenant up: once it
// is gone, the subquery is NULL, the comparison never true, and the list silently ends.
func TestAdminPaginationSurvivesDeletedCursor(t *testing.T) {
	g := startMock(t)
	for i := 1; i <= 7; i++ {
		if r := g.admin("POST", "/ai_gateway/tenants", fmt.Sprintf(`{"id":"t%d"}`, i)); r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
	}
	first := g.admin("GET", "/ai_gateway/tenants?limit=3", "")
	cursor := first.str("next_cursor")
	if len(items(t, first)) != 3 || first.str("has_more") != "true" {
		t.Fatalf("first page: %s", first.raw)
	}
	last := items(t, first)[2]["id"].(string)
	if r := g.admin("DELETE", "/ai_gateway/tenants/"+last, ""); r.status != 204 {
		t.Fatalf("delete %s: %d", last, r.status)
	}
	next := g.admin("GET", "/ai_gateway/tenants?limit=3&cursor="+cursor, "")
	if n := len(items(t, next)); n != 3 {
		t.Errorf("after deleting the cursor's tenant %s, the next page has %d tenants, want 3 (t4 t3 t2): %s", last, n, next.raw)
	}
}

// TestAdminUnknownCursor: a cursor the server never issued is bad input, not an empty page.
func TestAdminUnknownCursor(t *testing.T) {
	g := startMock(t)
	g.admin("POST", "/ai_gateway/tenants", `{"id":"t1"}`)
	wantError(t, g.admin("GET", "/ai_gateway/tenants?cursor=nosuchtenant", ""), 400, "invalid_field", "cursor")
}

func TestAdminGetPatchDeleteTenant(t *testing.T) {
	g := startMock(t)
	key := g.tenantWithKey("acme", "small")
	orig := g.admin("GET", "/ai_gateway/tenants/acme", "")
	if orig.status != 200 || orig.str("plan") != "small" || orig.str("status") != "active" {
		t.Fatalf("get: %d %s", orig.status, orig.raw)
	}

	wantError(t, g.admin("GET", "/ai_gateway/tenants/nobody", ""), 404, "not_found", "")
	wantError(t, g.admin("PATCH", "/ai_gateway/tenants/nobody", `{"name":"x"}`), 404, "not_found", "")
	wantError(t, g.admin("DELETE", "/ai_gateway/tenants/nobody", ""), 404, "not_found", "")

	time.Sleep(2 * time.Millisecond) // updated_at must move past created_at
	r := g.admin("PATCH", "/ai_gateway/tenants/acme", `{"name":"Acme Inc","plan":"fifty"}`)
	if r.status != 200 || r.str("name") != "Acme Inc" || r.str("plan") != "fifty" || r.str("status") != "active" {
		t.Fatalf("patch name+plan: %d %s", r.status, r.raw)
	}
	if r.str("created_at") != orig.str("created_at") {
		t.Errorf("PATCH changed created_at: %s -> %s", orig.str("created_at"), r.str("created_at"))
	}
	if !rfc3339UTC(t, "updated_at", r.str("updated_at")).After(rfc3339UTC(t, "created_at", r.str("created_at"))) {
		t.Errorf("PATCH did not move updated_at: %s", r.raw)
	}
	// Fields left out stay as they are.
	r = g.admin("PATCH", "/ai_gateway/tenants/acme", `{"status":"suspended"}`)
	if r.status != 200 || r.str("status") != "suspended" || r.str("name") != "Acme Inc" || r.str("plan") != "fifty" {
		t.Fatalf("patch status: %d %s", r.status, r.raw)
	}
	if c := g.call(key, "/v1/chat/completions", chatBody); c.status != 403 || c.errorCode() != "tenant_suspended" {
		t.Errorf("suspended tenant's call: %d %s", c.status, c.raw)
	}
	r = g.admin("PATCH", "/ai_gateway/tenants/acme", `{"status":"active"}`)
	if r.status != 200 || r.str("status") != "active" {
		t.Fatalf("reactivate: %d %s", r.status, r.raw)
	}
	if c := g.call(key, "/v1/chat/completions", chatBody); c.status != 200 {
		t.Errorf("reactivated tenant's call: %d %s", c.status, c.raw)
	}

	for _, tc := range []struct {
		name, body, param string
	}{
		{"bad status", `{"status":"deleted"}`, "status"},
		{"empty status", `{"status":""}`, "status"},
		{"unknown plan", `{"plan":"gold"}`, "plan"},
		{"empty plan", `{"plan":""}`, "plan"},
		{"name too long", `{"name":"` + strings.Repeat("n", 201) + `"}`, "name"},
		{"status wrong type", `{"status":1}`, "status"},
		{"unknown field", `{"id":"other"}`, "id"},
		{"malformed", `{"name":`, ""},
		{"empty body", ``, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, g.admin("PATCH", "/ai_gateway/tenants/acme", tc.body), 400, "invalid_field", tc.param)
		})
	}
	if r := g.admin("GET", "/ai_gateway/tenants/acme", ""); r.str("name") != "Acme Inc" || r.str("plan") != "fifty" || r.str("status") != "active" {
		t.Errorf("a refused PATCH changed the tenant: %s", r.raw)
	}

	// DELETE: 204 with no body, then the tenant, its keys, its key list and its usage are gone.
	r = g.admin("DELETE", "/ai_gateway/tenants/acme", "")
	if r.status != http.StatusNoContent || len(r.raw) != 0 {
		t.Fatalf("delete: %d %q", r.status, r.raw)
	}
	if c := g.call(key, "/v1/chat/completions", chatBody); c.status != 401 || c.errorCode() != "invalid_api_key" {
		t.Errorf("deleted tenant's key: %d %s, want 401", c.status, c.raw)
	}
	wantError(t, g.admin("GET", "/ai_gateway/tenants/acme", ""), 404, "not_found", "")
	wantError(t, g.admin("GET", "/ai_gateway/tenants/acme/keys", ""), 404, "not_found", "")
	wantError(t, g.admin("GET", "/ai_gateway/tenants/acme/usage", ""), 404, "not_found", "")
	wantError(t, g.admin("POST", "/ai_gateway/tenants/acme/keys", `{"name":"x"}`), 404, "not_found", "")
	wantError(t, g.admin("DELETE", "/ai_gateway/tenants/acme", ""), 404, "not_found", "")

	// A new tenant with the same id does not inherit the old one's keys.
	if r := g.admin("POST", "/ai_gateway/tenants", `{"id":"acme"}`); r.status != 201 {
		t.Fatalf("re-create: %d %s", r.status, r.raw)
	}
	if c := g.call(key, "/v1/chat/completions", chatBody); c.status != 401 {
		t.Errorf("the deleted tenant's key works for the new tenant of the same id: %d", c.status)
	}
	if r := g.admin("GET", "/ai_gateway/tenants/acme/keys", ""); len(items(t, r)) != 0 {
		t.Errorf("re-created tenant has keys: %s", r.raw)
	}
}

// TestAdminPlanChangeTakesEffect: a plan change applies to the very next gateway request, although the key's
// owner (with its plan) was cached by the requests before.
func TestAdminPlanChangeTakesEffect(t *testing.T) {
	g := startMock(t)
	key := g.tenantWithKey("acme", "small") // 5 a day
	for i := 1; i <= 5; i++ {
		if r := g.call(key, "/v1/chat/completions", chatBody); r.status != 200 {
			t.Fatalf("call %d: %d %s", i, r.status, r.raw)
		}
	}
	if r := g.call(key, "/v1/chat/completions", chatBody); r.status != 429 || r.errorCode() != "quota_exceeded" {
		t.Fatalf("6th call on small: %d %s", r.status, r.raw)
	}

	if r := g.admin("PATCH", "/ai_gateway/tenants/acme", `{"plan":"open"}`); r.status != 200 || r.str("plan") != "open" {
		t.Fatalf("patch plan: %d %s", r.status, r.raw)
	}
	for i := 0; i < 3; i++ {
		r := g.call(key, "/v1/chat/completions", chatBody)
		if r.status != 200 {
			t.Fatalf("call %d after the move to unlimited: %d %s", i, r.status, r.raw)
		}
		if p := r.header.Get("RateLimit-Policy"); p != "" {
			t.Errorf("unlimited plan with no bucket sends RateLimit-Policy %q", p)
		}
	}
	u := g.admin("GET", "/ai_gateway/tenants/acme/usage", "")
	if u.str("plan") != "open" || u.str("operations", "used") != "8" || u.str("operations", "limit") != "<nil>" ||
		u.str("operations", "remaining") != "<nil>" || u.str("bucket") != "<nil>" {
		t.Errorf("usage on the unlimited plan: %s", u.raw)
	}

	// And back: 8 used of 5.
	g.admin("PATCH", "/ai_gateway/tenants/acme", `{"plan":"small"}`)
	if r := g.call(key, "/v1/chat/completions", chatBody); r.status != 429 || r.errorCode() != "quota_exceeded" {
		t.Fatalf("back on small: %d %s", r.status, r.raw)
	}
	u = g.admin("GET", "/ai_gateway/tenants/acme/usage", "")
	if u.str("operations", "limit") != "5" || u.str("operations", "remaining") != "0" {
		t.Errorf("usage back on small: %s", u.raw)
	}
}

func TestAdminKeys(t *testing.T) {
	g := startMock(t)
	g.admin("POST", "/ai_gateway/tenants", `{"id":"acme","plan":"open"}`)
	before := time.Now().UTC().Add(-time.Second)

	r := g.admin("POST", "/ai_gateway/tenants/acme/keys", `{"name":"ci"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create key: %d %s", r.status, r.raw)
	}
	first, firstID := r.str("key"), r.str("id")
	if !regexp.MustCompile(`^hx_[0-9A-Za-z]{32,}$`).MatchString(first) || len(first) < 35 {
		t.Errorf("key %q: want hx_ and at least 32 base62 characters", first)
	}
	if firstID == "<nil>" || firstID == "" || strings.Contains(first, firstID) || strings.Contains(firstID, first[3:]) {
		t.Errorf("key id %q", firstID)
	}
	if p := r.str("prefix"); p == "<nil>" || len(p) < 4 || len(p) >= len(first)/2 || !strings.HasPrefix(first, p) {
		t.Errorf("prefix %q of key %q: want a short start of the key", p, first)
	}
	if at := rfc3339UTC(t, "created_at", r.str("created_at")); at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("created_at %s", at)
	}
	if r.str("tenant_id") != "acme" || r.str("name") != "ci" || r.str("revoked_at") != "<nil>" {
		t.Errorf("create key: %s", r.raw)
	}
	// The key works at once.
	if c := g.call(first, "/v1/chat/completions", chatBody); c.status != 200 {
		t.Fatalf("new key: %d %s", c.status, c.raw)
	}
	// And in the Anthropic spelling.
	if c := g.do("POST", "http://127.0.0.1:"+g.vars["{GATEWAY}"]+"/v1/messages", http.Header{"X-Api-Key": {first}},
		`{"model":"claude-3-5-haiku","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`); c.status != 200 {
		t.Errorf("new key as x-api-key: %d %s", c.status, c.raw)
	}

	second := g.admin("POST", "/ai_gateway/tenants/acme/keys", `{"name":"laptop"}`)
	if second.status != 201 || second.str("key") == first || second.str("id") == firstID {
		t.Fatalf("second key: %d %s", second.status, second.raw)
	}
	// An empty name is allowed.
	if r := g.admin("POST", "/ai_gateway/tenants/acme/keys", `{}`); r.status != 201 || r.str("name") != "" {
		t.Errorf("key without name: %d %s", r.status, r.raw)
	}

	wantError(t, g.admin("POST", "/ai_gateway/tenants/nobody/keys", `{"name":"x"}`), 404, "not_found", "")
	wantError(t, g.admin("POST", "/ai_gateway/tenants/acme/keys", `{"name":"`+strings.Repeat("n", 201)+`"}`), 400, "invalid_field", "name")
	wantError(t, g.admin("POST", "/ai_gateway/tenants/acme/keys", `{"label":"x"}`), 400, "invalid_field", "label")
	wantError(t, g.admin("POST", "/ai_gateway/tenants/acme/keys", `{"name":1}`), 400, "invalid_field", "name")
	wantError(t, g.admin("POST", "/ai_gateway/tenants/acme/keys", `{"name":`), 400, "invalid_field", "")

	// Revoke the first: 200 with revoked_at, effective at once though the key is cached.
	rv := g.admin("DELETE", "/ai_gateway/keys/"+firstID, "")
	if rv.status != 200 || rv.str("id") != firstID || rv.str("key") != "<nil>" {
		t.Fatalf("revoke: %d %s", rv.status, rv.raw)
	}
	revokedAt := rfc3339UTC(t, "revoked_at", rv.str("revoked_at"))
	if c := g.call(first, "/v1/chat/completions", chatBody); c.status != 401 || c.errorCode() != "invalid_api_key" {
		t.Errorf("revoked key: %d %s", c.status, c.raw)
	}
	if c := g.call(second.str("key"), "/v1/chat/completions", chatBody); c.status != 200 {
		t.Errorf("the other key after a revoke: %d %s", c.status, c.raw)
	}
	// Revoking again keeps the first time.
	if again := g.admin("DELETE", "/ai_gateway/keys/"+firstID, ""); again.status != 200 || !rfc3339UTC(t, "revoked_at", again.str("revoked_at")).Equal(revokedAt) {
		t.Errorf("second revoke: %d %s, want revoked_at %s", again.status, again.raw, revokedAt)
	}
	wantError(t, g.admin("DELETE", "/ai_gateway/keys/key_nosuchkey", ""), 404, "not_found", "")

	// The list: newest first, no secret anywhere, revoked_at on the revoked key only.
	l := g.admin("GET", "/ai_gateway/tenants/acme/keys", "")
	if l.status != 200 {
		t.Fatalf("list keys: %d %s", l.status, l.raw)
	}
	for _, secret := range []string{first, second.str("key")} {
		if bytes.Contains(l.raw, []byte(secret)) || bytes.Contains(l.raw, []byte(secret[len(secret)-20:])) {
			t.Errorf("the key list shows a secret: %s", l.raw)
		}
	}
	list := items(t, l)
	if len(list) != 3 {
		t.Fatalf("list has %d keys, want 3: %s", len(list), l.raw)
	}
	if list[1]["id"] != second.str("id") || list[2]["id"] != firstID {
		t.Errorf("list order: %s, want newest first", l.raw)
	}
	for _, k := range list {
		if _, ok := k["key"]; ok {
			t.Errorf("list item has a key field: %v", k)
		}
		if _, ok := k["hash"]; ok {
			t.Errorf("list item has a hash field: %v", k)
		}
		rev, present := k["revoked_at"]
		switch {
		case !present:
			t.Errorf("list item lacks revoked_at: %v", k)
		case k["id"] == firstID && rev == nil:
			t.Errorf("revoked key without revoked_at: %v", k)
		case k["id"] != firstID && rev != nil:
			t.Errorf("valid key with revoked_at: %v", k)
		}
	}
	wantError(t, g.admin("GET", "/ai_gateway/tenants/nobody/keys", ""), 404, "not_found", "")
}

func TestAdminUsage(t *testing.T) {
	g := startMock(t)
	small := g.tenantWithKey("acme", "small")
	slow := g.tenantWithKey("snail", "slow")
	g.tenantWithKey("wide", "open")
	for i := 0; i < 2; i++ {
		if r := g.call(small, "/v1/chat/completions", chatBody); r.status != 200 {
			t.Fatalf("call: %d %s", r.status, r.raw)
		}
	}
	g.call(slow, "/v1/chat/completions", chatBody)

	now := time.Now().UTC()
	midnight := now.Truncate(24 * time.Hour).Add(24 * time.Hour)

	u := g.admin("GET", "/ai_gateway/tenants/acme/usage", "")
	if u.status != 200 {
		t.Fatalf("usage: %d %s", u.status, u.raw)
	}
	for _, f := range []string{"tenant_id", "plan", "day", "operations", "bucket"} {
		if _, ok := u.body[f]; !ok {
			t.Errorf("usage lacks %q: %s", f, u.raw)
		}
	}
	if u.str("tenant_id") != "acme" || u.str("plan") != "small" || u.str("day") != now.Format(time.DateOnly) {
		t.Errorf("usage: %s", u.raw)
	}
	if u.str("operations", "used") != "2" || u.str("operations", "in_flight") != "0" ||
		u.str("operations", "limit") != "5" || u.str("operations", "remaining") != "3" {
		t.Errorf("operations: %s", u.raw)
	}
	if at := rfc3339UTC(t, "resets_at", u.str("operations", "resets_at")); !at.Equal(midnight) {
		t.Errorf("resets_at %s, want the next UTC midnight %s", at, midnight)
	}
	// small: 1000/s, burst 1000, two taken (they refill within 2ms, so 998 to 1000).
	if u.str("bucket", "burst") != "1000" || u.str("bucket", "refill_per_hour") != "3600000" {
		t.Errorf("bucket: %s", u.raw)
	}
	if rem := u.str("bucket", "remaining"); rem != "998" && rem != "999" && rem != "1000" {
		t.Errorf("bucket remaining %s", rem)
	}
	rfc3339UTC(t, "full_at", u.str("bucket", "full_at"))

	// slow: 1/h, burst 2, one taken: full again in about an hour.
	u = g.admin("GET", "/ai_gateway/tenants/snail/usage", "")
	if u.str("operations", "limit") != "<nil>" || u.str("operations", "remaining") != "<nil>" || u.str("operations", "used") != "1" {
		t.Errorf("unlimited operations: %s", u.raw)
	}
	if u.str("bucket", "burst") != "2" || u.str("bucket", "remaining") != "1" || u.str("bucket", "refill_per_hour") != "1" {
		t.Errorf("slow bucket: %s", u.raw)
	}
	if full := rfc3339UTC(t, "full_at", u.str("bucket", "full_at")); full.Sub(now) < 59*time.Minute || full.Sub(now) > 61*time.Minute {
		t.Errorf("full_at %s, want about an hour from now", full)
	}

	// open: unlimited, no bucket, nothing used yet.
	u = g.admin("GET", "/ai_gateway/tenants/wide/usage", "")
	if u.status != 200 || u.str("operations", "used") != "0" || u.str("operations", "limit") != "<nil>" ||
		u.str("operations", "remaining") != "<nil>" || u.str("bucket") != "<nil>" {
		t.Errorf("open usage: %s", u.raw)
	}
	if !bytes.Contains(u.raw, []byte(`"limit":null`)) || !bytes.Contains(u.raw, []byte(`"remaining":null`)) || !bytes.Contains(u.raw, []byte(`"bucket":null`)) {
		t.Errorf("unlimited fields must be present as null: %s", u.raw)
	}

	wantError(t, g.admin("GET", "/ai_gateway/tenants/nobody/usage", ""), 404, "not_found", "")
}

func TestAdminUnknownRoute(t *testing.T) {
	g := startMock(t)
	g.admin("POST", "/ai_gateway/tenants", `{"id":"acme"}`)
	for _, tc := range []struct{ method, path string }{
		{"GET", "/ai_gateway/"},
		{"GET", "/ai_gateway/nope"},
		{"GET", "/ai_gateway/tenants/acme/nope"},
		{"POST", "/ai_gateway/tenants/acme/keys/extra"},
		{"GET", "/ai_gateway/keys"},
		{"DELETE", "/ai_gateway/keys/"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			wantError(t, g.admin(tc.method, tc.path, ""), 404, "not_found", "")
		})
	}
}

// TestAdminWrongMethod: a known path with a method it does not serve is 405 with Allow, as JSON. The catch-all
// "/ai_gateway/" pattern matches every method, so Go's ServeMux never gets to answer 405 itself.
func TestAdminWrongMethod(t *testing.T) {
	g := startMock(t)
	g.admin("POST", "/ai_gateway/tenants", `{"id":"acme"}`)
	for _, tc := range []struct{ method, path, allow string }{
		{"PUT", "/ai_gateway/tenants", "GET, HEAD, POST"},
		{"DELETE", "/ai_gateway/tenants", "GET, HEAD, POST"},
		{"POST", "/ai_gateway/tenants/acme", "DELETE, GET, HEAD, PATCH"},
		{"PUT", "/ai_gateway/tenants/acme", "DELETE, GET, HEAD, PATCH"},
		{"DELETE", "/ai_gateway/tenants/acme/keys", "GET, HEAD, POST"},
		{"GET", "/ai_gateway/keys/key_x", "DELETE"},
		{"POST", "/ai_gateway/tenants/acme/usage", "GET, HEAD"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := g.admin(tc.method, tc.path, "")
			wantError(t, r, http.StatusMethodNotAllowed, "", "")
			if got := sortedList(r.header.Get("Allow")); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
		})
	}
	// The tenant is still there.
	if r := g.admin("GET", "/ai_gateway/tenants/acme", ""); r.status != 200 {
		t.Errorf("get after wrong methods: %d", r.status)
	}
}

// sortedList sorts a comma-separated header list.
func sortedList(s string) string {
	var items []string
	for _, it := range strings.Split(s, ",") {
		if it = strings.TrimSpace(it); it != "" {
			items = append(items, it)
		}
	}
	slices.Sort(items)
	return strings.Join(items, ", ")
}

// TestKeysStoredHashed: the database holds only the SHA-256 of a key: not in api_keys, not anywhere in the file
// or its write-ahead log.
func TestKeysStoredHashed(t *testing.T) {
	g := startMock(t)
	secret := g.tenantWithKey("acme", "small")
	if r := g.call(secret, "/v1/chat/completions", chatBody); r.status != 200 {
		t.Fatalf("call: %d %s", r.status, r.raw)
	}
	g.flush()

	db, err := sql.Open("sqlite3", "file:"+g.vars["{DB}"]+"?mode=ro&_query_only=1&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT * FROM api_keys`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	want := sha256.Sum256([]byte(secret))
	var n int
	for rows.Next() {
		n++
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			var text []byte
			switch x := v.(type) {
			case string:
				text = []byte(x)
			case []byte:
				text = x
			default:
				text = fmt.Append(nil, x)
			}
			if bytes.Contains(text, []byte(secret)) || bytes.Contains(text, []byte(secret[len(secret)-16:])) {
				t.Errorf("api_keys.%s holds the secret: %q", cols[i], text)
			}
			if cols[i] == "hash" && !bytes.Equal(text, want[:]) {
				t.Errorf("api_keys.hash = %x, want the SHA-256 of the key %x", text, want)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("api_keys has %d rows, want 1", n)
	}

	for _, suffix := range []string{"", "-wal"} {
		raw, err := os.ReadFile(g.vars["{DB}"] + suffix)
		if err != nil {
			if suffix != "" && os.IsNotExist(err) {
				continue
			}
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte(secret[len(secret)-16:])) {
			t.Errorf("the secret key is in the database file helix.db%s", suffix)
		}
	}
}
