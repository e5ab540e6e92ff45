package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/helixgateway/caddy-ai-gateway/ledger"
	"github.com/helixgateway/caddy-ai-gateway/pricing"
)

// billingView is a tenant's month: totals and breakdowns by operation type and by model.
type billingView struct {
	TenantID        string        `json:"tenant_id"`
	Month           string        `json:"month"`
	Currency        string        `json:"currency"`
	Total           billingLine   `json:"total"`
	ByOperationType []billingLine `json:"by_operation_type"`
	ByModel         []billingLine `json:"by_model"`
	Lines           []billingLine `json:"lines"` // by operation type and model
	Budget          *budgetView   `json:"budget"`
}

type billingLine struct {
	OperationType string `json:"operation_type,omitempty"`
	Model         string `json:"model,omitempty"`
	ledger.UsageLine
	Cost pricing.Money `json:"cost"`
}

type budgetView struct {
	Limit     pricing.Money `json:"limit"`
	Spent     pricing.Money `json:"spent"`
	InFlight  pricing.Money `json:"in_flight"`
	Remaining pricing.Money `json:"remaining"`
	ResetsAt  time.Time     `json:"resets_at"`
}

func buildBilling(tenantID, month, currency string, lines []ledger.UsageLine) billingView {
	v := billingView{TenantID: tenantID, Month: month, Currency: currency, Lines: []billingLine{}}
	byType, byModel := map[string]*ledger.UsageLine{}, map[string]*ledger.UsageLine{}
	var total ledger.UsageLine
	for _, l := range lines {
		v.Lines = append(v.Lines, billingLine{OperationType: l.OperationType, Model: l.Model, UsageLine: l, Cost: pricing.Money(l.Cost)})
		total.Add(l)
		for _, g := range []struct {
			m   map[string]*ledger.UsageLine
			key string
		}{{byType, l.OperationType}, {byModel, l.Model}} {
			if g.m[g.key] == nil {
				g.m[g.key] = new(ledger.UsageLine)
			}
			g.m[g.key].Add(l)
		}
	}
	v.Total = billingLine{UsageLine: total, Cost: pricing.Money(total.Cost)}
	v.ByOperationType = groupLines(byType, func(k string, b *billingLine) { b.OperationType = k })
	v.ByModel = groupLines(byModel, func(k string, b *billingLine) { b.Model = k })
	return v
}

func groupLines(m map[string]*ledger.UsageLine, name func(string, *billingLine)) []billingLine {
	out := make([]billingLine, 0, len(m))
	for k, l := range m {
		b := billingLine{UsageLine: *l, Cost: pricing.Money(l.Cost)}
		name(k, &b)
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OperationType+out[i].Model < out[j].OperationType+out[j].Model })
	return out
}

// monthParam reads ?month=YYYY-MM (default: the current UTC month).
func monthParam(r *http.Request, now time.Time) (string, error) {
	m := r.URL.Query().Get("month")
	if m == "" {
		return ledger.Month(now), nil
	}
	if _, err := time.Parse("2006-01", m); err != nil {
		return "", badField("month", "month must be YYYY-MM")
	}
	return m, nil
}

func writeBilling(ctx context.Context, rt Runtime, w http.ResponseWriter, r *http.Request, t ledger.Tenant) error {
	now := time.Now().UTC()
	month, err := monthParam(r, now)
	if err != nil {
		return err
	}
	// Records still in the writer's queue belong in the answer.
	if err := rt.Writer().Flush(ctx); err != nil {
		return err
	}
	lines, err := rt.Ledger().MonthlyUsage(ctx, t.ID, month)
	if err != nil {
		return err
	}
	v := buildBilling(t.ID, month, rt.Billing().Currency, lines)
	if p, ok := rt.Plan(t.Plan); ok && p.MonthlyBudget > 0 && month == ledger.Month(now) {
		u := rt.Limiter().Usage(t.ID, p)
		v.Budget = &budgetView{Limit: pricing.Money(u.Budget), Spent: pricing.Money(u.Spent), InFlight: pricing.Money(u.Held),
			Remaining: pricing.Money(u.BudgetRemaining), ResetsAt: u.BudgetResetsAt}
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// invoice issues (a past month) or previews (the current month) a tenant's invoice.
func invoice(ctx context.Context, rt Runtime, t ledger.Tenant, month string) (ledger.Invoice, bool, error) {
	now := time.Now().UTC()
	current := ledger.Month(now)
	b := rt.Billing()
	switch {
	case month > current:
		return ledger.Invoice{}, false, badField("month", "month %s has not started", month)
	case month == current:
		if err := rt.Writer().Flush(ctx); err != nil {
			return ledger.Invoice{}, false, err
		}
		lines, err := rt.Ledger().MonthlyUsage(ctx, t.ID, month)
		if err != nil {
			return ledger.Invoice{}, false, err
		}
		inv, err := ledger.BuildInvoice(t.ID, month, b.Currency, b.TaxRate, lines)
		inv.Status, inv.IssuedAt = ledger.InvoiceDraft, now
		return inv, false, err
	}
	if inv, err := rt.Ledger().IssuedInvoice(ctx, t.ID, month); !errors.Is(err, ledger.ErrNotFound) {
		return inv, false, err // issued before (or a failed read)
	}
	if err := awaitCalls(ctx, rt.Calls(), month, now); err != nil {
		return ledger.Invoice{}, false, err
	}
	if err := rt.Writer().Flush(ctx); err != nil { // the month's last records are in before it is closed
		return ledger.Invoice{}, false, err
	}
	return rt.Ledger().FinalizeInvoice(ctx, t.ID, month, b.InvoicePrefix, b.Currency, b.TaxRate)
}

// callsWait is how long issuing an invoice waits for the calls of its month still in flight.
var callsWait = 10 * time.Second

// awaitCalls waits until no call that started in month is in flight, so that the month's invoice misses none
// (see OpenCalls); only the month that has just ended can have any. After callsWait it gives up with a 409.
func awaitCalls(ctx context.Context, calls *OpenCalls, month string, now time.Time) error {
	last := now.AddDate(0, 0, -now.Day()) // a day of the month before now's
	if month != ledger.Month(last) {
		return nil
	}
	deadline := time.Now().Add(callsWait)
	for n := calls.In(last.Month()); n > 0; n = calls.In(last.Month()) {
		if time.Now().After(deadline) {
			return &problem{http.StatusConflict, "invalid_request_error", "calls_in_flight", "month", fmt.Sprintf(
				"%d calls that started in %s are still running; the invoice is issued once they have ended, so that it misses none. Retry shortly.", n, month)}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

func createInvoice(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	t, err := tenant(r.Context(), rt, r.PathValue("id"))
	if err != nil {
		return err
	}
	var body struct {
		Month string `json:"month"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if _, err := time.Parse("2006-01", body.Month); err != nil {
		return badField("month", "month must be YYYY-MM")
	}
	inv, created, err := invoice(r.Context(), rt, t, body.Month)
	if p := (*problem)(nil); errors.As(err, &p) && p.code == "calls_in_flight" {
		w.Header().Set("Retry-After", "5")
	}
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, inv)
	return nil
}

func listInvoices(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	t, err := tenant(r.Context(), rt, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeInvoices(r.Context(), rt, w, t.ID)
}

func writeInvoices(ctx context.Context, rt Runtime, w http.ResponseWriter, tenantID string) error {
	list, err := rt.Ledger().Invoices(ctx, tenantID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listView[ledger.Invoice]{Data: list})
	return nil
}

func getInvoice(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	inv, err := invoiceByNumber(r.Context(), rt, r.PathValue("number"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, inv)
	return nil
}

func invoiceByNumber(ctx context.Context, rt Runtime, number string) (ledger.Invoice, error) {
	inv, err := rt.Ledger().InvoiceByNumber(ctx, number)
	if errors.Is(err, ledger.ErrNotFound) {
		return inv, notFound("invoice", number)
	}
	return inv, err
}

func tenantBilling(rt Runtime, w http.ResponseWriter, r *http.Request) error {
	t, err := tenant(r.Context(), rt, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeBilling(r.Context(), rt, w, r, t)
}
