package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/helixgateway/caddy-ai-gateway/pricing"
	"github.com/helixgateway/caddy-ai-gateway/webhooks"
)

// Invoice statuses.
const (
	InvoiceFinal = "final" // a past month, numbered, never changes
	InvoiceDraft = "draft" // the current month so far, unnumbered
)

// Invoice is a month's bill. The rounding rule: each line's exact amount is rounded to cents half-up;
// the subtotal is the sum of the rounded lines; tax is the subtotal times the rate, rounded to cents
// half-up once; the total is subtotal plus tax. SubtotalExact is the sum of the lines before rounding,
// which equals the sum of the month's operation records.
type Invoice struct {
	Number        string        `json:"number"` // "" for a draft
	Status        string        `json:"status"`
	TenantID      string        `json:"tenant_id"`
	Month         string        `json:"month"`
	PeriodStart   time.Time     `json:"period_start"`
	PeriodEnd     time.Time     `json:"period_end"` // exclusive
	Currency      string        `json:"currency"`
	Lines         []InvoiceLine `json:"lines"`
	SubtotalExact pricing.Money `json:"subtotal_exact"`
	Subtotal      string        `json:"subtotal"`
	SubtotalCents int64         `json:"subtotal_cents"`
	TaxRate       string        `json:"tax_rate"`
	Tax           string        `json:"tax"`
	TaxCents      int64         `json:"tax_cents"`
	Total         string        `json:"total"`
	TotalCents    int64         `json:"total_cents"`
	IssuedAt      time.Time     `json:"issued_at"`
}

// InvoiceLine is one operation type and model.
type InvoiceLine struct {
	Description string `json:"description"`
	UsageLine
	AmountExact pricing.Money `json:"amount_exact"`
	Amount      string        `json:"amount"`
	AmountCents int64         `json:"amount_cents"`
}

// TaxRate is a tax rate in parts per million (10% = 100000).
type TaxRate int64

// ParseTaxRate reads "10%", "7.25%" or "0%" (at most four decimals).
func ParseTaxRate(s string) (TaxRate, error) {
	num, ok := strings.CutSuffix(strings.TrimSpace(s), "%")
	whole, frac, dot := strings.Cut(num, ".")
	if !ok || whole == "" || len(frac) > 4 || dot && frac == "" || strings.ContainsAny(num, "+-eE") {
		return 0, fmt.Errorf("tax rate %q: want a percentage like 10%% or 7.25%%", s)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > 100 {
		return 0, fmt.Errorf("tax rate %q: want a percentage from 0%% to 100%%", s)
	}
	f := int64(0)
	if frac != "" {
		if f, err = strconv.ParseInt(frac+strings.Repeat("0", 4-len(frac)), 10, 64); err != nil {
			return 0, fmt.Errorf("tax rate %q: want a percentage like 10%% or 7.25%%", s)
		}
	}
	if r := TaxRate(w*10000 + f); r <= 100*10000 {
		return r, nil
	}
	return 0, fmt.Errorf("tax rate %q: want a percentage from 0%% to 100%%", s)
}

// String is the rate as a percentage: "10%", "7.25%".
func (r TaxRate) String() string {
	s := strconv.FormatInt(int64(r)/10000, 10)
	if frac := int64(r) % 10000; frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%04d", frac), "0")
	}
	return s + "%"
}

// tax is cents times the rate, rounded half-up.
func (r TaxRate) tax(cents int64) int64 {
	return (cents*int64(r) + 500_000) / 1_000_000
}

// BuildInvoice prices a month's usage lines into an invoice (number and status left to the caller).
func BuildInvoice(tenantID, month, currency string, rate TaxRate, lines []UsageLine) (Invoice, error) {
	start, err := time.Parse("2006-01", month)
	if err != nil {
		return Invoice{}, fmt.Errorf("month %q: want YYYY-MM", month)
	}
	inv := Invoice{TenantID: tenantID, Month: month, PeriodStart: start, PeriodEnd: start.AddDate(0, 1, 0),
		Currency: currency, Lines: make([]InvoiceLine, 0, len(lines)), TaxRate: rate.String()}
	for _, l := range lines {
		cents := pricing.RoundToCents(pricing.Money(l.Cost))
		model := l.Model
		if model == "" {
			model = "unknown model"
		}
		inv.Lines = append(inv.Lines, InvoiceLine{Description: l.OperationType + " · " + model, UsageLine: l,
			AmountExact: pricing.Money(l.Cost), Amount: pricing.CentsString(cents), AmountCents: cents})
		inv.SubtotalExact += pricing.Money(l.Cost)
		inv.SubtotalCents += cents
	}
	inv.TaxCents = rate.tax(inv.SubtotalCents)
	inv.TotalCents = inv.SubtotalCents + inv.TaxCents
	inv.Subtotal, inv.Tax, inv.Total = pricing.CentsString(inv.SubtotalCents), pricing.CentsString(inv.TaxCents), pricing.CentsString(inv.TotalCents)
	return inv, nil
}

// FinalizeInvoice issues the invoice of a past month, or returns the one already issued (created false). Its
// number is prefix-YYYYMM-NNNN, gapless within the prefix and month: numbers are taken inside the single
// writer's immediate transaction, and only issued invoices take one. The caller flushes the writer first, so
// the month's records are all in.
func (s *Store) FinalizeInvoice(ctx context.Context, tenantID, month, prefix, currency string, rate TaxRate) (inv Invoice, created bool, err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return inv, false, err
	}
	defer tx.Rollback()
	var body string
	err = tx.QueryRowContext(ctx, `SELECT body FROM invoices WHERE tenant_id = ? AND month = ?`, tenantID, month).Scan(&body)
	if err == nil {
		return inv, false, json.Unmarshal([]byte(body), &inv)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return inv, false, err
	}
	rows, err := tx.QueryContext(ctx, monthlyUsageQuery, tenantID, month)
	if err != nil {
		return inv, false, err
	}
	lines, err := scanUsageLines(rows)
	if err != nil {
		return inv, false, err
	}
	if inv, err = BuildInvoice(tenantID, month, currency, rate, lines); err != nil {
		return inv, false, err
	}
	series := prefix + "-" + strings.ReplaceAll(month, "-", "")
	var seq int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) + 1 FROM invoices WHERE series = ?`, series).Scan(&seq); err != nil {
		return inv, false, err
	}
	inv.Number = fmt.Sprintf("%s-%04d", series, seq)
	inv.Status = InvoiceFinal
	inv.IssuedAt = s.now().UTC()
	raw, err := json.Marshal(inv)
	if err != nil {
		return inv, false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO invoices (number, series, seq, tenant_id, month, body, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, inv.Number, series, seq, tenantID, month, string(raw), inv.IssuedAt.UnixNano()); err != nil {
		return inv, false, fmt.Errorf("issuing invoice %s: %w", inv.Number, err)
	}
	// invoice.finalized goes into the outbox in the invoice's own transaction.
	var ds []webhooks.Delivery
	if subs := s.Webhooks().Subscriptions(tenantID); subs.Wants(webhooks.EventInvoiceFinalized) {
		ev, err := webhooks.NewEvent(webhooks.EventInvoiceFinalized, tenantID, map[string]any{"number": inv.Number,
			"month": inv.Month, "currency": inv.Currency, "subtotal": inv.Subtotal, "tax": inv.Tax, "total": inv.Total,
			"total_cents": inv.TotalCents}, inv.IssuedAt)
		if err != nil {
			return inv, false, err
		}
		ds = subs.deliveries(ev)
		if _, err := addEventTx(ctx, tx, ev, ds); err != nil {
			return inv, false, err
		}
	}
	if err := tx.Commit(); err != nil {
		return inv, false, err
	}
	s.announceDeliveries(ds)
	return inv, true, nil
}

// InvoiceByNumber reads an issued invoice.
func (s *Store) InvoiceByNumber(ctx context.Context, number string) (Invoice, error) {
	return s.invoiceWhere(ctx, `number = ?`, number)
}

// IssuedInvoice reads the invoice issued for tenant's month; ErrNotFound if none was.
func (s *Store) IssuedInvoice(ctx context.Context, tenantID, month string) (Invoice, error) {
	return s.invoiceWhere(ctx, `tenant_id = ? AND month = ?`, tenantID, month)
}

// invoiceWhere reads the issued invoice that the condition picks.
func (s *Store) invoiceWhere(ctx context.Context, cond string, args ...any) (Invoice, error) {
	var body string
	var inv Invoice
	err := s.r.QueryRowContext(ctx, `SELECT body FROM invoices WHERE `+cond, args...).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return inv, ErrNotFound
	}
	if err != nil {
		return inv, err
	}
	return inv, json.Unmarshal([]byte(body), &inv)
}

// Invoices lists a tenant's issued invoices, newest month first.
func (s *Store) Invoices(ctx context.Context, tenantID string) ([]Invoice, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT body FROM invoices WHERE tenant_id = ? ORDER BY month DESC`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	list := []Invoice{}
	for rows.Next() {
		var body string
		var inv Invoice
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(body), &inv); err != nil {
			return nil, err
		}
		list = append(list, inv)
	}
	return list, rows.Err()
}
