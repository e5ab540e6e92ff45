package handlers

import (
	"testing"
	"time"

	"github.com/helixgateway/caddy-ai-gateway/ledger"
	"github.com/helixgateway/caddy-ai-gateway/webhooks"
)

// TestSeedThrottle: an event already sent this day or month is not sent again after a restart; the next period's
// is, and so are events of periods already over, of other kinds, or with a resets_at that ends no period.
func TestSeedThrottle(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	dayStart, dayEnd := webhooks.DayPeriod(now)
	monthStart, monthEnd := webhooks.MonthPeriod(now)
	th := webhooks.NewThrottle()
	SeedThrottle(th, []ledger.FiredNotice{
		{TenantID: "acme", Type: webhooks.EventQuotaWarning, ResetsAt: dayEnd},
		{TenantID: "acme", Type: webhooks.EventBudgetExceeded, ResetsAt: monthEnd},
		{TenantID: "beta", Type: webhooks.EventQuotaExceeded, ResetsAt: dayStart},                  // yesterday's
		{TenantID: "beta", Type: webhooks.EventBudgetWarning, ResetsAt: monthEnd.Add(-time.Hour)},  // ends no month
		{TenantID: "beta", Type: webhooks.EventRateLimitExceeded, ResetsAt: dayEnd},                // not once a period
		{TenantID: "gamma", Type: webhooks.EventQuotaExceeded, ResetsAt: dayEnd.Add(-time.Second)}, // ends no day
	}, now)
	for _, c := range []struct {
		key        string
		start, end time.Time
		fires      bool
	}{
		{"acme\x00quota.warning", dayStart, dayEnd, false},
		{"acme\x00quota.warning", dayEnd, dayEnd.AddDate(0, 0, 1), true}, // tomorrow's
		{"acme\x00budget.exceeded", monthStart, monthEnd, false},
		{"acme\x00quota.exceeded", dayStart, dayEnd, true},
		{"beta\x00quota.exceeded", dayStart, dayEnd, true},
		{"beta\x00budget.warning", monthStart, monthEnd, true},
		{"beta\x00rate_limit.exceeded", dayStart, dayEnd, true},
		{"gamma\x00quota.exceeded", dayStart, dayEnd, true},
	} {
		if got := th.Once(c.key, c.start, c.end); got != c.fires {
			t.Errorf("%q for %v: fires %v, want %v", c.key, c.start, got, c.fires)
		}
	}
}
