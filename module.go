// Package aigateway is Helix, a multi-tenant AI gateway for Caddy. xcaddy imports only this package, so it
// imports every package that registers a Caddy module or Caddyfile directive.
//
// Modules: the ai_gateway app (shared state and lifecycle, this package), http.handlers.ai_gateway and
// admin.api.ai_gateway (package handlers), http.handlers.ai_mock (package mock).
package aigateway

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	_ "github.com/helixgateway/caddy-ai-gateway/handlers" // http.handlers.ai_gateway, admin.api.ai_gateway
	_ "github.com/helixgateway/caddy-ai-gateway/mock"     // http.handlers.ai_mock
)

func init() {
	caddy.RegisterModule(App{})
	httpcaddyfile.RegisterGlobalOption("ai_gateway", parseGlobalOption)
}
