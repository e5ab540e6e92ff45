#!/usr/bin/env bash
# Build Caddy with Helix from this working tree, or build and run Caddyfile.example.
#
#   ./xcaddy.sh build        -> ./caddy
#   ./xcaddy.sh run          -> builds, then runs Caddyfile.example (gateway on :8080, ai_mock on :8081)
#   ./xcaddy.sh <anything>   -> passed to xcaddy as is
#
# go-sqlite3 needs cgo: xcaddy builds with cgo off unless told, and the binary would then fail at start.
set -euo pipefail
cd "$(dirname "$0")"
export CGO_ENABLED=1

XCADDY_VERSION=v0.4.5
CADDY_VERSION=$(go list -m -f '{{.Version}}' github.com/caddyserver/caddy/v2)
GOBIN=$(go env GOBIN); GOBIN=${GOBIN:-$(go env GOPATH)/bin}
if ! command -v xcaddy >/dev/null 2>&1 && [ ! -x "$GOBIN/xcaddy" ]; then
	echo "installing xcaddy $XCADDY_VERSION" >&2
	go install "github.com/caddyserver/xcaddy/cmd/xcaddy@$XCADDY_VERSION"
fi
XCADDY=$(command -v xcaddy || echo "$GOBIN/xcaddy")

build() {
	# @v0.0.0: the module is not published, so "go get" must not ask the proxy for its latest version.
	"$XCADDY" build "$CADDY_VERSION" --output ./caddy \
		--with github.com/helixgateway/caddy-ai-gateway@v0.0.0=.
	./caddy list-modules | grep -E '^(ai_gateway|http\.handlers\.ai_gateway|http\.handlers\.ai_mock|admin\.api\.ai_gateway)$' >&2
}

case "${1:-build}" in
build)
	build
	;;
run)
	build
	# The demo tenant's key, unless you bring your own.
	export HELIX_DEMO_KEY=${HELIX_DEMO_KEY:-hx_demo0000000000000000000000000000000000}
	exec ./caddy run --config Caddyfile.example --adapter caddyfile
	;;
*)
	exec "$XCADDY" "$@"
	;;
esac
