package ledger

import (
	"path/filepath"
	"testing"

	"github.com/helixgateway/caddy-ai-gateway/webhooks"
	"github.com/helixgateway/caddy-ai-gateway/webhooks/storetest"
)

// TestWebhookStore runs the webhooks.Store contract suite against the SQLite store.
func TestWebhookStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) webhooks.Store {
		s, err := Open(filepath.Join(t.TempDir(), "helix.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s.Webhooks()
	})
}
