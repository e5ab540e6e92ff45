// Command caddy is Caddy with the standard modules and Helix, for a plain `go build` (CGO_ENABLED=1) without
// xcaddy; tests and benchmarks use it too.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/helixgateway/caddy-ai-gateway"
)

func main() {
	caddycmd.Main()
}
