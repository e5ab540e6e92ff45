package ledger

import (
	"context"
	"time"
)

// UsageLine is one month's usage of one operation type and model by a tenant.
type UsageLine struct {
	OperationType    string `json:"operation_type"`
	Model            string `json:"model"`
	Operations       int64  `json:"operations"`
	InputTokens      int64  `json:"input_tokens"`
	CachedTokens     int64  `json:"cached_tokens"`
	CacheWriteTokens int64  `json:"cache_write_tokens"`
	OutputTokens     int64  `json:"output_tokens"`
	ReasoningTokens  int64  `json:"reasoning_tokens"`
	Cost             int64  `json:"-"` // nano-units
}

// Add adds o's counts to l.
func (l *UsageLine) Add(o UsageLine) {
	l.Operations += o.Operations
	l.InputTokens += o.InputTokens
	l.CachedTokens += o.CachedTokens
	l.CacheWriteTokens += o.CacheWriteTokens
	l.OutputTokens += o.OutputTokens
	l.ReasoningTokens += o.ReasoningTokens
	l.Cost += o.Cost
}

// MonthlyUsage returns a tenant's usage in month ("2006-01"), by operation type and model.
func (s *Store) MonthlyUsage(ctx context.Context, tenantID, month string) ([]UsageLine, error) {
	rows, err := s.r.QueryContext(ctx, monthlyUsageQuery, tenantID, month)
	if err != nil {
		return nil, err
	}
	return scanUsageLines(rows)
}

const monthlyUsageQuery = `SELECT op_type, model, operations, input_tokens, cached_tokens, cache_write_tokens, output_tokens,
	reasoning_tokens, cost FROM monthly_usage WHERE tenant_id = ? AND month = ? ORDER BY op_type, model`

type rowsScanner interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}

func scanUsageLines(rows rowsScanner) ([]UsageLine, error) {
	defer rows.Close()
	lines := []UsageLine{}
	for rows.Next() {
		var l UsageLine
		if err := rows.Scan(&l.OperationType, &l.Model, &l.Operations, &l.InputTokens, &l.CachedTokens, &l.CacheWriteTokens,
			&l.OutputTokens, &l.ReasoningTokens, &l.Cost); err != nil {
			return nil, err
		}
		lines = append(lines, l)
	}
	return lines, rows.Err()
}

// MonthlySpend returns each tenant's cost in the UTC month holding t, to seed the budgets at start.
func (s *Store) MonthlySpend(ctx context.Context, t time.Time) (map[string]int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT tenant_id, sum(cost) FROM monthly_usage WHERE month = ? GROUP BY tenant_id`, Month(t))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	spend := map[string]int64{}
	for rows.Next() {
		var tenant string
		var cost int64
		if err := rows.Scan(&tenant, &cost); err != nil {
			return nil, err
		}
		spend[tenant] = cost
	}
	return spend, rows.Err()
}

// RecordedCost sums the cost of a tenant's operation records whose time is in [from, to): the raw side of
// reconciliation against monthly usage and invoices.
func (s *Store) RecordedCost(ctx context.Context, tenantID string, from, to time.Time) (int64, error) {
	var cost int64
	err := s.r.QueryRowContext(ctx, `SELECT coalesce(sum(cost), 0) FROM operations WHERE tenant_id = ? AND at >= ? AND at < ?`,
		tenantID, from.UnixNano(), to.UnixNano()).Scan(&cost)
	return cost, err
}
