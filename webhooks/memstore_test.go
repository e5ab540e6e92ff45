package webhooks_test

import (
	"testing"

	"github.com/helixgateway/caddy-ai-gateway/webhooks"
	"github.com/helixgateway/caddy-ai-gateway/webhooks/storetest"
)

func TestMemStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) webhooks.Store { return webhooks.NewMemStore() })
}
