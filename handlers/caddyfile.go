package handlers

import (
	"math"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("ai_gateway", parseGatewayCaddyfile)
	// After encode, so the gateway sees the upstream's plain bytes; before everything that answers or proxies,
	// so users need no order line.
	httpcaddyfile.RegisterDirectiveOrder("ai_gateway", httpcaddyfile.After, "encode")
}

func parseGatewayCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	g := new(Gateway)
	err := g.UnmarshalCaddyfile(h.Dispenser)
	return g, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	ai_gateway [<provider>] {
//		provider          openai|anthropic|auto
//		max_request_body  <size>
//		stream_usage      on|off
//		metering          on|off
//	}
func (g *Gateway) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		if err := g.setProvider(d); err != nil {
			return err
		}
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "provider":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if err := g.setProvider(d); err != nil {
				return err
			}
		case "max_request_body":
			if !d.NextArg() {
				return d.ArgErr()
			}
			size, err := humanize.ParseBytes(d.Val())
			if err != nil || size == 0 || size > math.MaxInt64 {
				return d.Errf("max_request_body: %q is not a size like 16MiB", d.Val())
			}
			g.MaxRequestBody = int64(size)
		case "stream_usage", "metering":
			opt := d.Val()
			if !d.NextArg() {
				return d.ArgErr()
			}
			on := d.Val() == "on"
			if !on && d.Val() != "off" {
				return d.Errf("%s %q: want on or off", opt, d.Val())
			}
			if opt == "metering" {
				g.Metering = &on
			} else {
				g.StreamUsage = &on
			}
		default:
			return d.Errf("unrecognized ai_gateway option %q", d.Val())
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

func (g *Gateway) setProvider(d *caddyfile.Dispenser) error {
	switch d.Val() {
	case "openai", "anthropic", "auto":
		g.Provider = d.Val()
		return nil
	}
	return d.Errf("unknown provider %q: want openai, anthropic or auto", d.Val())
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Gateway)(nil)
