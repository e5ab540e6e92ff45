package aigateway

import (
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/helixgateway/caddy-ai-gateway/ledger"
)

// Unset, retention keeps records 90 days, webhook events 30 days and rollups forever; forever (negative) keeps
// anything forever, which the pruner takes as no limit.
func TestRetentionPolicyDefaults(t *testing.T) {
	if got, want := (&RetentionConfig{}).policy(), (ledger.RetentionPolicy{Operations: 90 * 24 * time.Hour, Webhooks: 30 * 24 * time.Hour}); got != want {
		t.Errorf("defaults: %+v, want %+v", got, want)
	}
	forever := RetentionConfig{Operations: -1, Webhooks: -1}
	if got := forever.policy(); got.Operations > 0 || got.Webhooks > 0 || got.Rollups > 0 {
		t.Errorf("forever: %+v", got)
	}
	set := RetentionConfig{Operations: caddy.Duration(time.Hour), Rollups: caddy.Duration(2 * time.Hour), Webhooks: caddy.Duration(3 * time.Hour)}
	if got, want := set.policy(), (ledger.RetentionPolicy{Operations: time.Hour, Rollups: 2 * time.Hour, Webhooks: 3 * time.Hour}); got != want {
		t.Errorf("set: %+v, want %+v", got, want)
	}
}
