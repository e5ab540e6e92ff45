// Package integration runs Caddy in-process from a Caddyfile, with real HTTP on loopback and a real SQLite file.
// Caddy's running config is process-global, so these tests run one at a time in this one package.
package integration

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	aigateway "github.com/helixgateway/caddy-ai-gateway"
)

// gateway is a running Caddy with Helix, on loopback ports chosen for this test.
type gateway struct {
	t        *testing.T
	vars     map[string]string
	template string
	client   *http.Client
}

// usedPorts are the ports freePort has handed out in this process.
var usedPorts sync.Map

// freePort is a loopback port free now and not handed out before in this process: an earlier test's server
// may still hold its ports for a moment (Caddy stops a replaced admin endpoint after starting the new one),
// and a port the kernel hands out again then reaches the wrong server (a proxied call answered 403 by an old
// admin endpoint, seen once in CI).
func freePort(t *testing.T) string {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if _, seen := usedPorts.LoadOrStore(port, true); !seen {
			return strconv.Itoa(port)
		}
	}
}

// start loads template (a Caddyfile body, without the global options block's admin/http settings, which the
// harness adds) with {ADMIN}, {GATEWAY}, {MOCK}, {DB} and any extra vars substituted.
func start(t *testing.T, template string, extra ...string) *gateway {
	t.Helper()
	g := &gateway{t: t, template: template, vars: map[string]string{
		"{ADMIN}":   freePort(t),
		"{GATEWAY}": freePort(t),
		"{MOCK}":    freePort(t),
		"{DB}":      filepath.Join(t.TempDir(), "helix.db"),
	}, client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}
	for i := 0; i+1 < len(extra); i += 2 {
		g.vars[extra[i]] = extra[i+1]
	}
	g.load(template)
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping caddy: %v", err)
		}
	})
	return g
}

// load adapts and runs a Caddyfile, replacing the running config (a reload when one runs).
func (g *gateway) load(template string) {
	g.t.Helper()
	if err := g.tryLoad(template); err != nil {
		g.t.Fatalf("loading config: %v", err)
	}
	g.template = template
	// The old config's server closes its idle keep-alive connections; a POST sent on one just then fails
	// with EOF, and Go's client does not retry a POST. Start fresh ones.
	g.client.CloseIdleConnections()
}

// tryLoad adapts and runs a Caddyfile, and returns Caddy's error if it refuses the config (the running one
// then carries on).
func (g *gateway) tryLoad(template string) error {
	g.t.Helper()
	text := template
	for k, v := range g.vars {
		text = strings.ReplaceAll(text, k, v)
	}
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(text), nil)
	if err != nil {
		g.t.Fatalf("adapting Caddyfile: %v\n%s", err, text)
	}
	return caddy.Load(cfg, true)
}

// restart stops Caddy completely (closing the database) and starts it again on the same database.
func (g *gateway) restart() {
	g.t.Helper()
	if err := caddy.Stop(); err != nil {
		g.t.Fatalf("stopping caddy: %v", err)
	}
	g.load(g.template)
}

func (g *gateway) app() *aigateway.App {
	g.t.Helper()
	app, err := caddy.ActiveContext().App("ai_gateway")
	if err != nil {
		g.t.Fatal(err)
	}
	return app.(*aigateway.App)
}

// flush waits until every operation record so far is committed.
func (g *gateway) flush() {
	g.t.Helper()
	if err := g.app().Writer().Flush(context.Background()); err != nil {
		g.t.Fatal(err)
	}
}

func (g *gateway) operations(tenant, outcome string) int64 {
	g.t.Helper()
	g.flush()
	n, err := g.app().Ledger().OperationCount(context.Background(), tenant, outcome)
	if err != nil {
		g.t.Fatal(err)
	}
	return n
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (r reply) errorCode() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (r reply) str(path ...string) string {
	var v any = r.body
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return "<nil>"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (g *gateway) do(method, url string, header http.Header, body string) reply {
	g.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		g.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.client.Do(req)
	// A reload closes the old server's keep-alive connections, and a request sent on one just then fails
	// before reaching any handler (plain reverse_proxy too: see TestReloadUnderLoad). Retry as SDKs do.
	for retry := 0; err != nil && retry < 3; retry++ {
		if body != "" {
			req.Body, _ = req.GetBody()
		}
		resp, err = g.client.Do(req)
	}
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// admin calls the admin API.
func (g *gateway) admin(method, path, body string) reply {
	g.t.Helper()
	return g.do(method, "http://127.0.0.1:"+g.vars["{ADMIN}"]+path, nil, body)
}

// call sends a tenant request to the gateway with key as a Bearer token.
func (g *gateway) call(key, path, body string, header ...string) reply {
	g.t.Helper()
	h := http.Header{}
	if key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	method := http.MethodGet
	if body != "" {
		method = http.MethodPost
	}
	return g.do(method, "http://127.0.0.1:"+g.vars["{GATEWAY}"]+path, h, body)
}

// tenantWithKey creates a tenant on a plan and returns a fresh key for it.
func (g *gateway) tenantWithKey(id, plan string) string {
	g.t.Helper()
	if r := g.admin("POST", "/ai_gateway/tenants", `{"id":"`+id+`","plan":"`+plan+`"}`); r.status != http.StatusCreated {
		g.t.Fatalf("creating tenant %s: %d %s", id, r.status, r.raw)
	}
	r := g.admin("POST", "/ai_gateway/tenants/"+id+"/keys", `{"name":"test"}`)
	if r.status != http.StatusCreated {
		g.t.Fatalf("creating key for %s: %d %s", id, r.status, r.raw)
	}
	return r.str("key")
}

const chatBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello there"}]}`

// recordingUpstream is a loopback upstream that counts requests and keeps the last request's headers.
type recordingUpstream struct {
	count   atomic.Int64
	headers atomic.Pointer[http.Header]
	status  atomic.Int64
	srv     *http.Server
	addr    string
}

func newRecordingUpstream(t *testing.T) *recordingUpstream {
	t.Helper()
	u := &recordingUpstream{}
	u.status.Store(200)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = l.Addr().String()
	u.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.count.Add(1)
		h := r.Header.Clone()
		u.headers.Store(&h)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(u.status.Load()))
		w.Write([]byte(`{"ok":true}`))
	})}
	go u.srv.Serve(l)
	t.Cleanup(func() { u.srv.Close() })
	return u
}

func TestMain(m *testing.M) {
	// Caddy keeps autosave and data under these; keep them out of the user's home.
	dir, err := os.MkdirTemp("", "helix-integration-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_DATA_HOME", dir)
	os.Setenv("XDG_CONFIG_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
