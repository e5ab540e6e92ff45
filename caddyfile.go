package aigateway

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/helixgateway/caddy-ai-gateway/ledger"
	"github.com/helixgateway/caddy-ai-gateway/pricing"
	"github.com/helixgateway/caddy-ai-gateway/webhooks"
)

var invoicePrefixPattern = regexp.MustCompile(`^[A-Za-z0-9_]{1,16}$`)

func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		d.Next() // so the error names this line
		return nil, d.Err("ai_gateway global option given twice")
	}
	a := new(App)
	if err := a.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "ai_gateway", Value: caddyconfig.JSON(a, nil)}, nil
}

// UnmarshalCaddyfile sets up the app from the ai_gateway global option. Syntax:
//
//	ai_gateway {
//		database       <path>
//		currency       <ISO 4217 code>
//		tax_rate       <percent>
//		invoice_prefix <prefix>
//		unpriced       allow | refuse
//		estimate_output_tokens <n>
//		metrics_per_tenant
//		retention {
//			operations <duration> | forever
//			rollups    <duration> | forever
//			webhooks   <duration> | forever
//			interval   <duration>
//		}
//		webhooks {
//			timeout       <duration>
//			schedule      <duration>...
//			workers       <n>
//			per_endpoint  <n>
//			disable_after <duration>
//			allow_private_targets
//		}
//		price <model or glob> [input <rate>] [output <rate>] [cached_input <rate>] [cache_write <rate>]
//		durability     batch [<interval>] | sync
//		default_plan   <name>
//		key_cache_size <n>
//		secrets_key_file <path>
//		secrets_previous_key_file <path>
//		plan <name> {
//			daily_operations <n> | unlimited
//			rate  <n>/<s|m|h|d>
//			burst <n>
//			monthly_budget <amount>
//			warn_at <percent>
//		}
//		tenant <id> {
//			name <display name>
//			plan <name>
//			key  <secret>        # repeatable
//		}
//	}
//
// Options of a plan or tenant may also follow its name on one line (plan pro daily_operations 10000 rate 20/s
// burst 50), and a block line may hold several pairs.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch opt := d.Val(); opt {
		case "database":
			if !d.AllArgs(&a.Database) {
				return d.ArgErr()
			}
		case "durability":
			if !d.NextArg() {
				return d.ArgErr()
			}
			a.Durability = d.Val()
			switch a.Durability {
			case "sync":
			case "batch":
				if d.NextArg() {
					dur, err := caddy.ParseDuration(d.Val())
					if err != nil || dur <= 0 {
						return d.Errf("durability batch: %q is not a positive duration", d.Val())
					}
					a.FlushInterval = caddy.Duration(dur)
				}
			default:
				return d.Errf("durability %q: want batch [<interval>] or sync", a.Durability)
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "default_plan":
			if !d.AllArgs(&a.DefaultPlan) {
				return d.ArgErr()
			}
		case "secrets_key_file":
			if !d.AllArgs(&a.SecretsKeyFile) {
				return d.ArgErr()
			}
		case "secrets_previous_key_file":
			if !d.AllArgs(&a.SecretsPreviousKeyFile) {
				return d.ArgErr()
			}
		case "key_cache_size":
			var s string
			if !d.AllArgs(&s) {
				return d.ArgErr()
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 1 || n > 100_000_000 {
				return d.Errf("key_cache_size: %q is not a number from 1 to 100000000", s)
			}
			a.KeyCacheSize = n
		case "retention":
			c, err := parseRetention(d)
			if err != nil {
				return err
			}
			a.Retention = c
		case "webhooks":
			c, err := parseWebhooks(d)
			if err != nil {
				return err
			}
			a.WebhookDelivery = c
		case "metrics_per_tenant":
			if d.NextArg() {
				return d.ArgErr()
			}
			a.MetricsPerTenant = true
		case "currency":
			if !d.AllArgs(&a.Currency) {
				return d.ArgErr()
			}
			if len(a.Currency) != 3 || strings.ToUpper(a.Currency) != a.Currency {
				return d.Errf("currency %q: want an ISO 4217 code like USD", a.Currency)
			}
		case "tax_rate":
			if !d.AllArgs(&a.TaxRate) {
				return d.ArgErr()
			}
			if _, err := ledger.ParseTaxRate(a.TaxRate); err != nil {
				return d.Err(err.Error())
			}
		case "invoice_prefix":
			if !d.AllArgs(&a.InvoicePrefix) {
				return d.ArgErr()
			}
			if !invoicePrefixPattern.MatchString(a.InvoicePrefix) {
				return d.Errf("invoice_prefix %q: want 1-16 letters, digits or '_'", a.InvoicePrefix)
			}
		case "unpriced":
			if !d.AllArgs(&a.Unpriced) {
				return d.ArgErr()
			}
			if a.Unpriced != "allow" && a.Unpriced != "refuse" {
				return d.Errf("unpriced %q: want allow or refuse", a.Unpriced)
			}
		case "estimate_output_tokens":
			var s string
			if !d.AllArgs(&s) {
				return d.ArgErr()
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 1 {
				return d.Errf("estimate_output_tokens: %q is not a positive integer", s)
			}
			a.EstimateOutputTokens = n
		case "price":
			o, err := pricing.ParseOverride(d.RemainingArgs())
			if err != nil {
				return d.Errf("price: %v", err)
			}
			a.PriceLines = append(a.PriceLines, &PriceLine{Model: o.Pattern, Input: o.Input, Output: o.Output,
				CachedInput: o.CachedInput, CacheWrite: o.CacheWrite})
		case "plan":
			var name string
			if !d.NextArg() {
				return d.ArgErr()
			}
			name = d.Val()
			if _, dup := a.Plans[name]; dup {
				return d.Errf("plan %q declared twice", name)
			}
			p, err := parsePlan(d)
			if err != nil {
				return err
			}
			if a.Plans == nil {
				a.Plans = map[string]*Plan{}
			}
			a.Plans[name] = p
		case "tenant":
			if !d.NextArg() {
				return d.ArgErr()
			}
			t := &StaticTenant{ID: d.Val()}
			for _, other := range a.Tenants {
				if other.ID == t.ID {
					return d.Errf("tenant %q declared twice", t.ID)
				}
			}
			if err := parseTenant(d, t); err != nil {
				return err
			}
			a.Tenants = append(a.Tenants, t)
		default:
			return d.Errf("unrecognized ai_gateway option %q", opt)
		}
	}
	return nil
}

// options calls set for each "option value" pair given after the current token, on the same line
// (plan pro daily_operations 10000 rate 20/s) or in the block that follows, one or more pairs per line.
// Caddy's Caddyfile parser refuses a block opened and closed on one line, so the inline form stands in for it.
func options(d *caddyfile.Dispenser, set func(opt, val string) error) error {
	pairs := func() error {
		for {
			opt := d.Val()
			if !d.NextArg() {
				return d.Errf("%s needs a value", opt)
			}
			if err := set(opt, d.Val()); err != nil {
				return err
			}
			if !d.NextArg() {
				return nil
			}
		}
	}
	if d.NextArg() {
		if err := pairs(); err != nil {
			return err
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if err := pairs(); err != nil {
			return err
		}
	}
	return nil
}

func parsePlan(d *caddyfile.Dispenser) (*Plan, error) {
	p := new(Plan)
	err := options(d, func(opt, val string) error {
		switch opt {
		case "daily_operations":
			if val == "unlimited" {
				p.DailyOperations = -1
				return nil
			}
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 1 {
				return d.Errf("daily_operations: %q is not a positive integer or unlimited", val)
			}
			p.DailyOperations = n
		case "rate":
			n, window, err := parseRate(val)
			if err != nil {
				return d.Errf("rate: %v", err)
			}
			p.Rate, p.RateWindow = n, caddy.Duration(window)
		case "burst":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 1 {
				return d.Errf("burst: %q is not a positive integer", val)
			}
			p.Burst = n
		case "warn_at":
			pct, ok := strings.CutSuffix(val, "%")
			n, err := strconv.ParseInt(pct, 10, 64)
			if !ok || err != nil || n < 1 || n > 100 {
				return d.Errf("warn_at: %q is not a percentage from 1%% to 100%%", val)
			}
			p.WarnAt = n
		case "monthly_budget":
			m, err := pricing.ParseMoney(val)
			if err != nil || m <= 0 {
				return d.Errf("monthly_budget: %q is not a positive amount like 5.00", val)
			}
			p.MonthlyBudget = &m
		default:
			return d.Errf("unrecognized plan option %q", opt)
		}
		return nil
	})
	return p, err
}

// parseRate reads "20/s", "100/m", "1000/h", "5000/d" or "3/10s".
func parseRate(s string) (int64, time.Duration, error) {
	num, per, ok := strings.Cut(s, "/")
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || n < 1 {
		return 0, 0, errInvalidRate(s)
	}
	switch per {
	case "s":
		return n, time.Second, nil
	case "m":
		return n, time.Minute, nil
	case "h":
		return n, time.Hour, nil
	case "d":
		return n, 24 * time.Hour, nil
	}
	window, err := caddy.ParseDuration(per)
	if err != nil || window <= 0 {
		return 0, 0, errInvalidRate(s)
	}
	return n, window, nil
}

type errInvalidRate string

func (e errInvalidRate) Error() string {
	return strconv.Quote(string(e)) + " is not a rate like 20/s, 100/m, 1000/h or 5000/d"
}

func parseTenant(d *caddyfile.Dispenser, t *StaticTenant) error {
	return options(d, func(opt, val string) error {
		switch opt {
		case "name":
			t.Name = val
		case "plan":
			t.Plan = val
		case "key":
			t.Keys = append(t.Keys, val)
		default:
			return d.Errf("unrecognized tenant option %q", opt)
		}
		return nil
	})
}

// Interface guards
var _ caddyfile.Unmarshaler = (*App)(nil)

func parseWebhooks(d *caddyfile.Dispenser) (*WebhookConfig, error) {
	c := new(WebhookConfig)
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		args := d.RemainingArgs()
		one := func() (string, error) {
			if len(args) != 1 {
				return "", d.Errf("%s takes one value", opt)
			}
			return args[0], nil
		}
		switch opt {
		case "timeout", "disable_after":
			v, err := one()
			if err != nil {
				return nil, err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return nil, d.Errf("%s: %q is not a positive duration", opt, v)
			}
			if opt == "timeout" {
				c.Timeout = caddy.Duration(dur)
			} else {
				c.DisableAfter = caddy.Duration(dur)
			}
		case "schedule":
			sched, err := webhooks.ParseSchedule(args)
			if err != nil {
				return nil, d.Errf("%v", err)
			}
			for _, s := range sched {
				c.Schedule = append(c.Schedule, caddy.Duration(s))
			}
		case "workers", "per_endpoint":
			v, err := one()
			if err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1024 {
				return nil, d.Errf("%s: %q is not a number from 1 to 1024", opt, v)
			}
			if opt == "workers" {
				c.Workers = n
			} else {
				c.PerEndpoint = n
			}
		case "allow_private_targets":
			if len(args) != 0 {
				return nil, d.ArgErr()
			}
			c.AllowPrivateTargets = true
		default:
			return nil, d.Errf("unrecognized webhooks option %q", opt)
		}
	}
	return c, nil
}

func parseRetention(d *caddyfile.Dispenser) (*RetentionConfig, error) {
	c := new(RetentionConfig)
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var v string
		if !d.AllArgs(&v) {
			return nil, d.ArgErr()
		}
		var dur time.Duration
		switch {
		case v == "forever" && opt != "interval":
			dur = -1
		default:
			var err error
			if dur, err = caddy.ParseDuration(v); err != nil || dur <= 0 {
				return nil, d.Errf("%s: %q is not a positive duration (like 90d)", opt, v)
			}
		}
		switch opt {
		case "operations":
			c.Operations = caddy.Duration(dur)
		case "rollups":
			c.Rollups = caddy.Duration(max(dur, 0)) // 0 keeps rollups forever
		case "webhooks":
			c.Webhooks = caddy.Duration(dur)
		case "interval":
			c.Interval = caddy.Duration(dur)
		default:
			return nil, d.Errf("unrecognized retention option %q", opt)
		}
	}
	return c, nil
}
