package mock

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	u := new(Upstream)
	if err := u.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return u, nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	ai_mock [<matcher>] {
//		latency           <duration>   # before the response headers; default 0
//		chunks            <n>          # content chunks per stream; default 0, one per output token
//		chunk_gap         <duration>   # between content chunks; default 0
//		output_tokens     <n>          # answer length without a limit in the request; default 16
//		output_tokens_cap <n>          # longest answer, whatever the request asks; default 4096
//	}
//
// Every subdirective is optional, and so is the block: a bare ai_mock is a ready upstream.
func (u *Upstream) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "latency":
			if err := durationArg(d, &u.Latency); err != nil {
				return err
			}
		case "chunk_gap":
			if err := durationArg(d, &u.ChunkGap); err != nil {
				return err
			}
		case "chunks":
			if err := intArg(d, &u.Chunks, 0); err != nil {
				return err
			}
		case "output_tokens":
			if err := intArg(d, &u.OutputTokens, 1); err != nil {
				return err
			}
		case "output_tokens_cap":
			if err := intArg(d, &u.OutputTokensCap, 1); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized ai_mock subdirective '%s'", d.Val())
		}
	}
	return nil
}

// durationArg reads the subdirective's single argument, a non-negative duration, into dst.
func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	name := d.Val()
	if !d.NextArg() {
		return d.ArgErr()
	}
	v := d.Val()
	dur, err := caddy.ParseDuration(v)
	if err != nil || dur < 0 {
		return d.Errf("%s: invalid duration '%s'", name, v)
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	*dst = caddy.Duration(dur)
	return nil
}

// intArg reads the subdirective's single argument, an integer of at least lo, into dst.
func intArg(d *caddyfile.Dispenser, dst *int, lo int) error {
	name := d.Val()
	if !d.NextArg() {
		return d.ArgErr()
	}
	v := d.Val()
	n, err := strconv.Atoi(v)
	if err != nil || n < lo {
		return d.Errf("%s: invalid value '%s', want an integer of at least %d", name, v, lo)
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	*dst = n
	return nil
}
