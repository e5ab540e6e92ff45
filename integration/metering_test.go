package integration

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helixgateway/caddy-ai-gateway/ledger"
	"github.com/helixgateway/caddy-ai-gateway/mock"
)

// billingBase prices two test models so that costs are easy to predict: test-model costs 1000 nano per input
// token and 2000 per output token; claude-test 3000 and 15000.
const billingBase = `{
	admin 127.0.0.1:{ADMIN}
	auto_https off
	persist_config off
	grace_period 2s
	ai_gateway {
		database {DB}
		durability batch 10ms
		default_plan open
		tax_rate 10%
		invoice_prefix TEST
		price test-model input 1.00 output 2.00
		price claude-test input 3 output 15
		plan open daily_operations unlimited
		plan capped {
			daily_operations unlimited
			monthly_budget 0.001
		}
	}
}
http://127.0.0.1:{GATEWAY} {
	ai_gateway {HANDLER}
	reverse_proxy 127.0.0.1:{MOCK}
}
http://127.0.0.1:{MOCK} {
	ai_mock
}
`

func startBilling(t *testing.T, handler ...string) *gateway {
	h := ""
	if len(handler) > 0 {
		h = handler[0]
	}
	return start(t, billingBase, "{HANDLER}", h)
}

// lastOp is the tenant's newest operation record.
func (g *gateway) lastOp(tenant string) ledger.Operation {
	g.t.Helper()
	g.flush()
	ops, err := g.app().Ledger().Operations(context.Background(), tenant, 1)
	if err != nil || len(ops) != 1 {
		g.t.Fatalf("reading the last operation of %s: %v (%d)", tenant, err, len(ops))
	}
	return ops[0]
}

func promptTokens(t *testing.T, path, body string) int64 {
	n, err := mock.PromptTokens([]byte(body), path)
	if err != nil {
		t.Fatal(err)
	}
	return int64(n)
}

func TestMeteredJSON(t *testing.T) {
	g := startBilling(t)
	key := g.tenantWithKey("acme", "open")
	for _, tc := range []struct {
		path, body string
		output     int64
		opType     string
	}{
		{"/v1/chat/completions", `{"model":"test-model","messages":[{"role":"user","content":"one two three four"}]}`, 16, "chat"},
		{"/v1/chat/completions", `{"model":"test-model","max_tokens":5,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}`, 5, "chat"},
		{"/v1/completions", `{"model":"test-model","prompt":"complete this sentence","max_tokens":7}`, 7, "completion"},
		{"/v1/embeddings", `{"model":"test-model","input":["alpha beta","gamma"]}`, 0, "embedding"},
		{"/v1/responses", `{"model":"test-model","input":"tell me a story","max_output_tokens":9}`, 9, "response"},
		{"/v1/messages", `{"model":"claude-test","max_tokens":12,"messages":[{"role":"user","content":"hello claude"}]}`, 12, "message"},
	} {
		t.Run(tc.opType+tc.path, func(t *testing.T) {
			h := http.Header{"Authorization": {"Bearer " + key}}
			if tc.opType == "message" {
				h = http.Header{"X-Api-Key": {key}}
			}
			r := g.do("POST", "http://127.0.0.1:"+g.vars["{GATEWAY}"]+tc.path, h, tc.body)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			op := g.lastOp("acme")
			in := promptTokens(t, tc.path, tc.body)
			inPrice, outPrice := int64(1000), int64(2000)
			if tc.opType == "message" {
				inPrice, outPrice = 3000, 15000
			}
			if op.Type != tc.opType || op.Usage.InputTokens != in || op.Usage.OutputTokens != tc.output ||
				op.Usage.Source != "reported" || op.Usage.Interrupted || op.Stream {
				t.Fatalf("record %+v, want %d in, %d out, reported", op, in, tc.output)
			}
			if want := in*inPrice + tc.output*outPrice; op.Cost != want {
				t.Errorf("cost %d, want %d", op.Cost, want)
			}
			if op.Price.Version != "config" || op.Price.Input != inPrice*1000 || op.Price.Output != outPrice*1000 || op.TTFB <= 0 {
				t.Errorf("price %+v, ttfb %s", op.Price, op.TTFB)
			}
		})
	}
}

// readSSE returns the data lines of a stream, and when each arrived.
func readSSE(t *testing.T, resp *http.Response) (lines []string, at []time.Time) {
	t.Helper()
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if s := sc.Text(); strings.HasPrefix(s, "data:") {
			lines, at = append(lines, s), append(at, time.Now())
		}
	}
	return lines, at
}

func (g *gateway) stream(key, path, body string, header ...string) *http.Response {
	g.t.Helper()
	req, _ := http.NewRequest("POST", "http://127.0.0.1:"+g.vars["{GATEWAY}"]+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("X-Api-Key", key)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := g.client.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	return resp
}

func TestMeteredStreams(t *testing.T) {
	g := startBilling(t)
	key := g.tenantWithKey("acme", "open")
	for _, tc := range []struct {
		name, path, body string
		output           int64
	}{
		{"chat without include_usage", "/v1/chat/completions", `{"model":"test-model","stream":true,"max_tokens":6,"messages":[{"role":"user","content":"a b c"}]}`, 6},
		{"chat with include_usage", "/v1/chat/completions", `{"model":"test-model","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"a b"}]}`, 16},
		{"completion", "/v1/completions", `{"model":"test-model","stream":true,"prompt":"x y z w","max_tokens":4}`, 4},
		{"responses", "/v1/responses", `{"model":"test-model","stream":true,"input":"q r","max_output_tokens":8}`, 8},
		{"anthropic", "/v1/messages", `{"model":"claude-test","stream":true,"max_tokens":10,"messages":[{"role":"user","content":"m n o"}]}`, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := g.stream(key, tc.path, tc.body)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			lines, _ := readSSE(t, resp)
			op := g.lastOp("acme")
			if in := promptTokens(t, tc.path, tc.body); op.Usage.InputTokens != in || op.Usage.OutputTokens != tc.output ||
				op.Usage.Source != "reported" || op.Usage.Interrupted || !op.Stream {
				t.Fatalf("record usage %+v stream %v, want %d in, %d out, reported", op.Usage, op.Stream, in, tc.output)
			}
			if tc.name == "chat without include_usage" && !strings.Contains(strings.Join(lines, "\n"), `"usage":{"prompt_tokens"`) {
				t.Errorf("the gateway should have asked for the stream's usage, and the client sees it")
			}
		})
	}
}

func TestStreamUsageOffIsEstimated(t *testing.T) {
	g := startBilling(t, "{\n\t\tstream_usage off\n\t}")
	key := g.tenantWithKey("acme", "open")
	body := `{"model":"test-model","stream":true,"max_tokens":6,"messages":[{"role":"user","content":"a b c"}]}`
	lines, _ := readSSE(t, g.stream(key, "/v1/chat/completions", body))
	if strings.Contains(strings.Join(lines, "\n"), `"usage":{`) {
		t.Fatal("stream_usage off must leave the request alone")
	}
	op := g.lastOp("acme")
	// 6 words of about 5 characters stream; the estimate is a quarter token a character, and never zero.
	if op.Usage.Source != "estimated" || op.Usage.OutputTokens < 1 || op.Usage.InputTokens < 1 || op.Cost <= 0 {
		t.Fatalf("usage %+v cost %d: want a non-zero estimate", op.Usage, op.Cost)
	}
}

// TestStreamChunkByChunk: the gateway never holds a stream back.
func TestStreamChunkByChunk(t *testing.T) {
	g := startBilling(t)
	key := g.tenantWithKey("acme", "open")
	start := time.Now()
	resp := g.stream(key, "/v1/chat/completions", `{"model":"test-model","stream":true,"max_tokens":6,"messages":[{"role":"user","content":"go"}]}`,
		"X-Mock-Chunk-Gap", "150ms")
	lines, at := readSSE(t, resp)
	if len(lines) < 6 {
		t.Fatalf("%d lines", len(lines))
	}
	first, last := at[0].Sub(start), at[len(at)-1].Sub(start)
	if first > 500*time.Millisecond || last-first < 600*time.Millisecond {
		t.Fatalf("first chunk after %s, last after %s: the stream was buffered", first, last)
	}
}

var volatile = regexp.MustCompile(`"(id|created|created_at)":("[^"]*"|\d+)`)

// TestStreamByteIdentical: apart from ids and timestamps (the mock numbers its answers), the client gets the
// upstream's bytes unchanged when it asks for usage itself.
func TestStreamByteIdentical(t *testing.T) {
	g := startBilling(t)
	key := g.tenantWithKey("acme", "open")
	for _, tc := range []struct{ path, body string }{
		{"/v1/chat/completions", `{"model":"test-model","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"same bytes"}]}`},
		{"/v1/messages", `{"model":"claude-test","stream":true,"max_tokens":20,"messages":[{"role":"user","content":"same bytes"}]}`},
		{"/v1/chat/completions", `{"model":"test-model","messages":[{"role":"user","content":"same bytes"}]}`},
	} {
		direct, err := http.Post("http://127.0.0.1:"+g.vars["{MOCK}"]+tc.path, "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := io.ReadAll(direct.Body)
		direct.Body.Close()
		resp := g.stream(key, tc.path, tc.body)
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if a, b := volatile.ReplaceAll(got, nil), volatile.ReplaceAll(want, nil); string(a) != string(b) {
			t.Errorf("%s: through the gateway (%s)\n%s\ndirect (%s)\n%s", tc.path, resp.Status, got, direct.Status, want)
		}
	}
}

func TestInterruptedStreamsAreBilled(t *testing.T) {
	g := startBilling(t)
	key := g.tenantWithKey("acme", "open")
	body := `{"model":"test-model","stream":true,"max_tokens":40,"messages":[{"role":"user","content":"long answer please"}]}`

	t.Run("client leaves", func(t *testing.T) {
		resp := g.stream(key, "/v1/chat/completions", body, "X-Mock-Chunk-Gap", "30ms")
		rd := bufio.NewReader(resp.Body)
		for n := 0; n < 4; {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(line, "data:") {
				n++
			}
		}
		resp.Body.Close() // mid-stream
		deadline := time.Now().Add(5 * time.Second)
		for g.operations("acme", "") < 1 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		op := g.lastOp("acme")
		if !op.Usage.Interrupted || op.Usage.Source != "estimated" || op.Usage.OutputTokens < 1 ||
			op.Usage.OutputTokens >= 40 || op.Cost <= 0 || op.Outcome != "ok" {
			t.Fatalf("record %+v: want an interrupted call billed for what streamed", op)
		}
	})
	t.Run("upstream cuts", func(t *testing.T) {
		before := g.operations("acme", "")
		lines, _ := readSSE(t, g.stream(key, "/v1/chat/completions", body, "X-Mock-Cut-After", "5"))
		if strings.Contains(strings.Join(lines, ""), "[DONE]") {
			t.Fatal("the mock did not cut the stream")
		}
		if g.operations("acme", "") != before+1 {
			t.Fatal("no record")
		}
		op := g.lastOp("acme")
		if !op.Usage.Interrupted || op.Usage.Source != "estimated" || op.Usage.OutputTokens < 1 || op.Cost <= 0 {
			t.Fatalf("record %+v: want an interrupted call billed for what streamed", op.Usage)
		}
	})
}

// TestReconciliation: the sum of the records' costs, the billing total and the invoice subtotal are equal.
func TestReconciliation(t *testing.T) {
	g := startBilling(t)
	key := g.tenantWithKey("acme", "open")
	bodies := []struct{ path, body string }{
		{"/v1/chat/completions", `{"model":"test-model","messages":[{"role":"user","content":"one"}]}`},
		{"/v1/chat/completions", `{"model":"test-model","stream":true,"messages":[{"role":"user","content":"two words"}]}`},
		{"/v1/embeddings", `{"model":"test-model","input":"three words here"}`},
		{"/v1/messages", `{"model":"claude-test","max_tokens":3,"messages":[{"role":"user","content":"four"}]}`},
		{"/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"built-in price"}]}`},
		{"/v1/chat/completions", `{"model":"no-such-model","messages":[{"role":"user","content":"unpriced"}]}`},
	}
	for i := 0; i < 30; i++ {
		b := bodies[i%len(bodies)]
		resp := g.stream(key, b.path, b.body)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	now := time.Now().UTC()
	month := now.Format("2006-01")
	start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	g.flush()
	recorded, err := g.app().Ledger().RecordedCost(context.Background(), "acme", start, start.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	billing := g.admin("GET", "/ai_gateway/tenants/acme/billing?month="+month, "")
	draft := g.admin("POST", "/ai_gateway/tenants/acme/invoices", `{"month":"`+month+`"}`)
	self := g.call(key, "/v1/gateway/billing", "")
	if recorded <= 0 || billing.str("total", "cost") != money(recorded) || draft.str("subtotal_exact") != money(recorded) ||
		self.str("total", "cost") != money(recorded) || billing.str("total", "operations") != "30" {
		t.Fatalf("records %s, billing %s, invoice %s, self-service %s",
			money(recorded), billing.str("total", "cost"), draft.str("subtotal_exact"), self.str("total", "cost"))
	}
	if draft.status != 200 || draft.str("status") != "draft" || draft.str("number") != "" {
		t.Errorf("the current month is a draft without a number: %d %s", draft.status, draft.raw)
	}
	op := g.lastOp("acme")
	if op.Model != "no-such-model" || !op.Price.Unpriced || op.Cost != 0 {
		t.Errorf("an unpriced model: %+v", op)
	}
}

func money(nano int64) string { return fmt.Sprintf("%d.%09d", nano/1e9, nano%1e9) }

// pastMonthRecords writes records for a tenant in the previous month straight into the ledger, as a gateway
// running then would have.
func (g *gateway) pastMonthRecords(tenant string, costs ...int64) string {
	g.t.Helper()
	now := time.Now().UTC()
	at := time.Date(now.Year(), now.Month(), 1, 12, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
	for i, c := range costs {
		op := &ledger.Operation{ID: ledger.NewID("op_"), At: at.Add(time.Duration(i) * time.Minute), TenantID: tenant, KeyID: "k",
			Type: "chat", Method: "POST", Path: "/v1/chat/completions", Status: 200, Outcome: ledger.OutcomeOK, Counted: true,
			Model: "test-model", Usage: ledger.Usage{InputTokens: 10, OutputTokens: 5, Source: "reported"}, Cost: c}
		if err := g.app().Writer().Record(context.Background(), op); err != nil {
			g.t.Fatal(err)
		}
	}
	return at.Format("2006-01")
}

func TestInvoiceRoundingAndTax(t *testing.T) {
	g := startBilling(t)
	g.tenantWithKey("acme", "open")
	// Two lines: 1.234999999 rounds to 1.23 and 0.005000000 to 0.01 (half-up); subtotal 1.24, tax 10% = 0.124
	// rounds to 0.12, total 1.36. Rounding the exact sum (1.239999999) once would give 1.24 too, but tax on
	// the unrounded subtotal would be 0.123999999 -> 0.12; the test pins the documented rule line by line.
	month := g.pastMonthRecords("acme", 1_234_999_999)
	op := &ledger.Operation{ID: ledger.NewID("op_"), At: time.Now().UTC().AddDate(0, -1, 0), TenantID: "acme", Type: "embedding",
		Status: 200, Outcome: ledger.OutcomeOK, Model: "test-model", Cost: 5_000_000}
	op.At = time.Date(op.At.Year(), op.At.Month(), 2, 0, 0, 0, 0, time.UTC)
	g.app().Writer().Record(context.Background(), op)
	inv := g.admin("POST", "/ai_gateway/tenants/acme/invoices", `{"month":"`+month+`"}`)
	if inv.status != 201 || inv.str("status") != "final" {
		t.Fatalf("%d %s", inv.status, inv.raw)
	}
	for field, want := range map[string]string{"subtotal_exact": "1.239999999", "subtotal_cents": "124", "subtotal": "1.24",
		"tax_rate": "10%", "tax_cents": "12", "total_cents": "136", "total": "1.36"} {
		if got := inv.str(field); got != want {
			t.Errorf("%s = %s, want %s", field, got, want)
		}
	}
	again := g.admin("POST", "/ai_gateway/tenants/acme/invoices", `{"month":"`+month+`"}`)
	if again.status != 200 || again.str("number") != inv.str("number") || string(again.raw) != string(inv.raw) {
		t.Fatalf("asking twice: %d %s", again.status, again.raw)
	}
	// A finalized invoice never changes, even if a late record for its month arrives.
	g.pastMonthRecords("acme", 1_000_000_000)
	if got := g.admin("GET", "/ai_gateway/invoices/"+inv.str("number"), ""); string(got.raw) != string(inv.raw) {
		t.Fatalf("the invoice changed: %s", got.raw)
	}
	if r := g.admin("POST", "/ai_gateway/tenants/acme/invoices", `{"month":"2999-01"}`); r.status != 400 {
		t.Errorf("future month: %d", r.status)
	}
	if r := g.admin("GET", "/ai_gateway/invoices/TEST-000000-0000", ""); r.status != 404 {
		t.Errorf("unknown invoice: %d", r.status)
	}
}

// TestInvoiceNumberingGapless: concurrent requests for many tenants' invoices take numbers 1..n, each once.
func TestInvoiceNumberingGapless(t *testing.T) {
	g := startBilling(t)
	const n = 20
	var month string
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("t%02d", i)
		g.tenantWithKey(id, "open")
		month = g.pastMonthRecords(id, int64(i+1)*1_000_000)
	}
	var mu sync.Mutex
	numbers := map[string]string{}
	var wg sync.WaitGroup
	for i := 0; i < 2*n; i++ { // every tenant asked twice, all at once
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			r := g.admin("POST", "/ai_gateway/tenants/"+id+"/invoices", `{"month":"`+month+`"}`)
			mu.Lock()
			defer mu.Unlock()
			if prev, ok := numbers[id]; ok && prev != r.str("number") {
				t.Errorf("%s got two numbers: %s and %s", id, prev, r.str("number"))
			}
			numbers[id] = r.str("number")
		}(fmt.Sprintf("t%02d", i%n))
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, num := range numbers {
		seen[num] = true
	}
	for i := 1; i <= n; i++ {
		want := fmt.Sprintf("TEST-%s-%04d", strings.ReplaceAll(month, "-", ""), i)
		if !seen[want] {
			t.Errorf("number %s missing; got %v", want, numbers)
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct numbers for %d tenants", len(seen), n)
	}
}

// TestBudgetUnderConcurrency: 100 concurrent calls against a budget of 0.001 (1,000,000 nano). Each call is
// estimated at 11 input characters x 1000 + 10 output tokens x 2000 = 31,000 and costs 2 x 1000 + 10 x 2000
// = 22,000. Since every estimate is above the actual cost, spend never passes the budget.
func TestBudgetUnderConcurrency(t *testing.T) {
	g := startBilling(t)
	key := g.tenantWithKey("acme", "capped")
	body := `{"model":"test-model","max_tokens":10,"messages":[{"role":"user","content":"hello world"}]}`
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := g.call(key, "/v1/chat/completions", body)
			mu.Lock()
			codes[r.status]++
			mu.Unlock()
			if r.status == 402 && r.errorCode() != "budget_exceeded" {
				t.Errorf("402 with %s", r.raw)
			}
		}()
	}
	wg.Wait()
	if codes[402] == 0 || codes[200]+codes[402] != 100 {
		t.Fatalf("codes %v", codes)
	}
	// Calls in flight held their estimates; once settled at their lower actual cost, room may be left. Use it
	// up one call at a time: the last refusal comes when less than one estimate is left.
	for codes[200] < 100 {
		r := g.call(key, "/v1/chat/completions", body)
		codes[r.status]++
		if r.status != 200 {
			break
		}
	}
	u := g.admin("GET", "/ai_gateway/tenants/acme/usage", "")
	spent, _ := strconv.ParseFloat(u.str("spend", "spent"), 64)
	spentNano := int64(spent*1e9 + 0.5)
	if spentNano != int64(codes[200])*22_000 || spentNano > 1_000_000 || 1_000_000-spentNano >= 31_000 {
		t.Fatalf("codes %v, spent %s: want spend within the budget and 402 once no estimate fits", codes, u.str("spend", "spent"))
	}
	if n := g.operations("acme", "denied_budget"); n != int64(codes[402]) {
		t.Errorf("denied_budget records %d, 402s %d", n, codes[402])
	}
	// After a restart the month's spend comes back from the ledger: no fresh budget.
	g.restart()
	if r := g.call(key, "/v1/chat/completions", body); r.status != 402 {
		t.Fatalf("after restart: %d %s", r.status, r.raw)
	}
}

func TestSelfServiceBilling(t *testing.T) {
	g := startBilling(t)
	key := g.tenantWithKey("acme", "open")
	other := g.tenantWithKey("other", "open")
	month := g.pastMonthRecords("acme", 2_000_000_000)
	g.pastMonthRecords("other", 1_000_000_000)
	mine := g.admin("POST", "/ai_gateway/tenants/acme/invoices", `{"month":"`+month+`"}`).str("number")
	theirs := g.admin("POST", "/ai_gateway/tenants/other/invoices", `{"month":"`+month+`"}`).str("number")
	if r := g.call(key, "/v1/gateway/invoices", ""); r.status != 200 || !strings.Contains(string(r.raw), mine) || strings.Contains(string(r.raw), theirs) {
		t.Fatalf("own invoices: %d %s", r.status, r.raw)
	}
	if r := g.call(key, "/v1/gateway/invoices/"+mine, ""); r.status != 200 || r.str("total_cents") != "220" {
		t.Fatalf("own invoice: %d %s", r.status, r.raw)
	}
	if r := g.call(key, "/v1/gateway/invoices/"+theirs, ""); r.status != 404 {
		t.Fatalf("another tenant's invoice: %d %s", r.status, r.raw)
	}
	if r := g.call(other, "/v1/gateway/billing?month="+month, ""); r.str("total", "cost") != "1.000000000" {
		t.Fatalf("billing: %s", r.raw)
	}
	if r := g.call(key, "/v1/gateway/billing?month=nope", ""); r.status != 400 {
		t.Fatalf("bad month: %d", r.status)
	}
}

// TestCompressedUpstreamIsMetered: a compressed answer does not blind the meter, and the client gets the
// compressed bytes as sent.
func TestCompressedUpstreamIsMetered(t *testing.T) {
	const answer = `{"id":"x","object":"chat.completion","model":"test-model","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`
	var sawAcceptEncoding atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawAcceptEncoding.Store(r.Header.Get("Accept-Encoding"))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		zw.Write([]byte(answer))
		zw.Close()
	}))
	defer up.Close()
	cfg := strings.Replace(billingBase, "reverse_proxy 127.0.0.1:{MOCK}", "reverse_proxy "+strings.TrimPrefix(up.URL, "http://"), 1)
	g := start(t, cfg, "{HANDLER}", "")
	key := g.tenantWithKey("acme", "open")
	req, _ := http.NewRequest("POST", "http://127.0.0.1:"+g.vars["{GATEWAY}"]+"/v1/chat/completions",
		strings.NewReader(`{"model":"test-model","messages":[{"role":"user","content":"hello"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept-Encoding", "br, gzip")
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("the client should get the gzip body: %v %v", err, resp.Header)
	}
	got, _ := io.ReadAll(zr)
	resp.Body.Close()
	if string(got) != answer {
		t.Fatalf("body changed: %s", got)
	}
	if s, _ := sawAcceptEncoding.Load().(string); s != "gzip" {
		t.Errorf("the upstream was offered %q; want gzip (br is dropped: the meter cannot read it)", s)
	}
	op := g.lastOp("acme")
	if op.Usage.Source != "reported" || op.Usage.InputTokens != 7 || op.Usage.OutputTokens != 3 || op.Cost != 7*1000+3*2000 {
		t.Fatalf("usage %+v cost %d", op.Usage, op.Cost)
	}
}
