package handlers

import (
	"time"

	"github.com/helixgateway/caddy-ai-gateway/ledger"
	"github.com/helixgateway/caddy-ai-gateway/limits"
	"github.com/helixgateway/caddy-ai-gateway/pricing"
	"github.com/helixgateway/caddy-ai-gateway/webhooks"
)

// Warning and exceeded events fire once per tenant and period (day for the quota, month for the budget),
// rate_limit.exceeded at most once a minute; the throttle, shared across reloads, decides exactly under
// concurrency. The events travel with the operation record and are written in its transaction.

// admissionNotices adds the events an admission decision causes.
func admissionNotices(op *ledger.Operation, th *webhooks.Throttle, d limits.Decision, p limits.Policy, now time.Time) {
	tenant := op.TenantID
	switch d.Reason {
	case limits.RateLimited:
		if th.Every(tenant+"\x00rate", now, time.Minute) {
			notify(op, webhooks.EventRateLimitExceeded, map[string]any{"plan": op.Plan,
				"retry_after_seconds": max(seconds(d.RetryAfter), 1)})
		}
	case limits.QuotaExceeded:
		if start, end := webhooks.DayPeriod(now); th.Once(tenant+"\x00quota.exceeded", start, end) {
			notify(op, webhooks.EventQuotaExceeded, quotaData(op, d, end))
		}
	case limits.BudgetExceeded:
		if start, end := webhooks.MonthPeriod(now); th.Once(tenant+"\x00budget.exceeded", start, end) {
			notify(op, webhooks.EventBudgetExceeded, map[string]any{"plan": op.Plan, "budget": pricing.Money(d.BudgetLimit),
				"remaining": pricing.Money(d.BudgetRemaining), "resets_at": end})
		}
	case limits.Admitted:
		if d.QuotaLimit > 0 && p.WarnPercent > 0 && (d.QuotaLimit-d.QuotaRemaining)*100 >= d.QuotaLimit*p.WarnPercent {
			if start, end := webhooks.DayPeriod(now); th.Once(tenant+"\x00quota.warning", start, end) {
				notify(op, webhooks.EventQuotaWarning, quotaData(op, d, end))
			}
		}
	}
}

func quotaData(op *ledger.Operation, d limits.Decision, resets time.Time) map[string]any {
	return map[string]any{"plan": op.Plan, "limit": d.QuotaLimit, "used": d.QuotaLimit - d.QuotaRemaining,
		"remaining": d.QuotaRemaining, "resets_at": resets}
}

// budgetNotice adds budget.warning once the month's spend, after this call, reaches the warning share.
func budgetNotice(op *ledger.Operation, th *webhooks.Throttle, u limits.Usage, p limits.Policy, now time.Time) {
	if u.Budget <= 0 || p.WarnPercent <= 0 || u.Spent*100 < u.Budget*p.WarnPercent {
		return
	}
	if start, end := webhooks.MonthPeriod(now); th.Once(op.TenantID+"\x00budget.warning", start, end) {
		notify(op, webhooks.EventBudgetWarning, map[string]any{"plan": op.Plan, "budget": pricing.Money(u.Budget),
			"spent": pricing.Money(u.Spent), "remaining": pricing.Money(u.BudgetRemaining), "resets_at": end})
	}
}

// SeedThrottle marks the once-a-period events already stored (ledger.FiredNotices) as fired for the periods
// still running at now, so that a restart does not send a tenant's warning again the same day or month.
func SeedThrottle(th *webhooks.Throttle, fired []ledger.FiredNotice, now time.Time) {
	for _, f := range fired {
		period := webhooks.DayPeriod
		switch f.Type {
		case webhooks.EventBudgetWarning, webhooks.EventBudgetExceeded:
			period = webhooks.MonthPeriod
		case webhooks.EventQuotaWarning, webhooks.EventQuotaExceeded:
		default:
			continue
		}
		// The period is the one the event was sent for: the one that ends at its resets_at.
		start, end := period(f.ResetsAt.Add(-time.Nanosecond))
		if end.Equal(f.ResetsAt) && end.After(now) {
			th.Once(f.TenantID+"\x00"+f.Type, start, end)
		}
	}
}

func notify(op *ledger.Operation, typ string, data map[string]any) {
	op.Notices = append(op.Notices, ledger.Notice{Type: typ, Data: data})
}
