package ledger

import (
	"context"
	"fmt"
	"time"
)

// FiredNotice is a stored event of a kind that fires once per tenant and period (quota.warning, quota.exceeded,
// budget.warning, budget.exceeded): its tenant, its type and the end of its period, from its data's resets_at.
type FiredNotice struct {
	TenantID, Type string
	ResetsAt       time.Time
}

// firedNoticesQuery names its index: the one on at alone would read every operation event of the month.
const firedNoticesQuery = `SELECT DISTINCT tenant_id, type, payload->>'$.data.resets_at'
	FROM webhook_events INDEXED BY webhook_events_period
	WHERE type IN ('quota.warning', 'quota.exceeded', 'budget.warning', 'budget.exceeded') AND at >= ?`

// FiredNotices lists the once-a-period events stored since since, so that a gateway that restarts does not send
// a tenant's warning again in the same day or month. Only events that had a subscriber are stored; one that had
// none was sent to nobody. An event pruned by the webhook retention is no longer known.
func (s *Store) FiredNotices(ctx context.Context, since time.Time) ([]FiredNotice, error) {
	rows, err := s.r.QueryContext(ctx, firedNoticesQuery, nanos(since))
	if err != nil {
		return nil, fmt.Errorf("reading fired notices: %w", err)
	}
	defer rows.Close()
	var fired []FiredNotice
	for rows.Next() {
		var f FiredNotice
		var resets *string
		if err := rows.Scan(&f.TenantID, &f.Type, &resets); err != nil {
			return nil, fmt.Errorf("reading fired notices: %w", err)
		}
		if resets == nil {
			continue
		}
		if f.ResetsAt, err = time.Parse(time.RFC3339Nano, *resets); err != nil {
			continue // not an event this build wrote
		}
		f.ResetsAt = f.ResetsAt.UTC()
		fired = append(fired, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading fired notices: %w", err)
	}
	return fired, nil
}
