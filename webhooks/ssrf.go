package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrForbiddenTarget matches (errors.Is) every refusal of a webhook target address.
var ErrForbiddenTarget = errors.New("webhook target address not allowed")

// TargetError is a refused address and the class that refused it.
type TargetError struct {
	Addr  netip.Addr
	Class string // "loopback", "private", "link-local", "cloud metadata", ...
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("webhook target %s is %s: not allowed", e.Addr, e.Class)
}

// Is makes errors.Is(err, ErrForbiddenTarget) true.
func (e *TargetError) Is(target error) bool { return target == ErrForbiddenTarget }

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard keeps webhook requests out of the gateway's own network: it checks URLs when an endpoint is created and,
// in the client's dialer, every address actually connected to, so a name that resolves to a public address when
// checked and to a private one when dialed (DNS rebinding) is still refused.
type Guard struct {
	// AllowPrivate lets loopback, private, link-local, CGNAT and other special-purpose addresses through
	// (allow_private_targets). Unspecified, multicast and broadcast addresses and cloud metadata addresses are
	// refused even then: no receiver lives there, and metadata services hand out credentials.
	AllowPrivate bool
	// Resolver resolves hostnames for ValidateURL; nil means net.DefaultResolver. The dialer resolves on its
	// own, and its Control hook checks the result.
	Resolver Resolver
}

var (
	metadataAddrs = []netip.Addr{
		netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack...
		netip.MustParseAddr("169.254.170.2"),   // AWS ECS task credentials
		netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
		netip.MustParseAddr("fd00:ec2::254"),   // AWS IMDS over IPv6
	}
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	// special lists the classes refused unless AllowPrivate; the first match names the class.
	special = []struct {
		prefix netip.Prefix
		class  string
	}{
		{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\" (0.0.0.0/8)"},
		{netip.MustParsePrefix("10.0.0.0/8"), "private"},
		{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT (100.64.0.0/10)"},
		{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
		{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
		{netip.MustParsePrefix("172.16.0.0/12"), "private"},
		{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment (192.0.0.0/24)"},
		{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
		{netip.MustParsePrefix("192.88.99.0/24"), "6to4 relay anycast"},
		{netip.MustParsePrefix("192.168.0.0/16"), "private"},
		{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking (198.18.0.0/15)"},
		{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
		{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
		{netip.MustParsePrefix("240.0.0.0/4"), "reserved (240.0.0.0/4)"},
		{netip.MustParsePrefix("::1/128"), "loopback"},
		{netip.MustParsePrefix("::/96"), "IPv4-compatible IPv6 (deprecated)"},
		{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
		{netip.MustParsePrefix("100::/64"), "discard-only"},
		{netip.MustParsePrefix("2001::/32"), "Teredo"},
		{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
		{netip.MustParsePrefix("fc00::/7"), "private (unique local)"},
		{netip.MustParsePrefix("fe80::/10"), "link-local"},
		{netip.MustParsePrefix("fec0::/10"), "site-local (deprecated)"},
	}
)

// CheckAddr returns a *TargetError if a webhook may not connect to a.
func (g *Guard) CheckAddr(a netip.Addr) error {
	if class := g.refusal(a); class != "" {
		return &TargetError{Addr: a, Class: class}
	}
	return nil
}

func (g *Guard) refusal(a netip.Addr) string {
	a = a.WithZone("")
	if !a.IsValid() {
		return "invalid"
	}
	// IPv6 forms that carry an IPv4 address are judged by that address.
	if a.Is4In6() {
		if class := g.refusal(a.Unmap()); class != "" {
			return class + " (IPv4-mapped)"
		}
		return ""
	}
	if a.Is6() && (nat64.Contains(a) || sixToFour.Contains(a)) {
		b := a.As16()
		v4 := netip.AddrFrom4([4]byte(b[12:16]))
		if sixToFour.Contains(a) {
			v4 = netip.AddrFrom4([4]byte(b[2:6]))
		}
		if class := g.refusal(v4); class != "" {
			return class + " (embedded in " + a.String() + ")"
		}
		return ""
	}
	switch {
	case a.IsUnspecified():
		return "unspecified"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	case a.IsMulticast():
		return "multicast"
	}
	for _, m := range metadataAddrs {
		if a == m {
			return "cloud metadata"
		}
	}
	if g.AllowPrivate {
		return ""
	}
	for _, s := range special {
		if s.prefix.Contains(a) {
			return s.class
		}
	}
	return ""
}

// control is the dialer's hook: address is the IP and port about to be connected to, after resolution.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook target %q: %w", address, ErrForbiddenTarget)
	}
	return g.CheckAddr(ap.Addr())
}

// Transport is an http.Transport for webhooks: no proxy (HTTP(S)_PROXY is ignored, so requests cannot be steered
// through one), and a dialer that refuses forbidden addresses at connect time.
func (g *Guard) Transport() *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: g.control}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    16,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

// Client is an http.Client on Transport that never follows redirects: a 3xx comes back as the response (and
// counts as a failed attempt). Timeouts are per attempt, through the request's context.
func (g *Guard) Client() *http.Client {
	return &http.Client{
		Transport:     g.Transport(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// ValidateURL checks an endpoint URL when it is subscribed: http or https, a host, no user info, a port in
// 1-65535, and a host that is an allowed address or a name resolving to at least one allowed address. (The
// dialer checks again at every connection.) Errors name the field, for the admin API's 400.
func (g *Guard) ValidateURL(ctx context.Context, raw string) error {
	if len(raw) > 2048 {
		return errors.New("url: longer than 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return errors.New("url: scheme must be http or https")
	}
	if u.Opaque != "" {
		return errors.New("url: must be an absolute http(s) URL")
	}
	if u.User != nil {
		return errors.New("url: must not contain user info")
	}
	host := u.Hostname()
	if host == "" {
		return errors.New("url: host required")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("url: bad port %q", p)
		}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if err := g.CheckAddr(a); err != nil {
			return fmt.Errorf("url: %w", err)
		}
		return nil
	}
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("url: host %s does not resolve", host)
	}
	var first error
	for _, a := range addrs {
		err := g.CheckAddr(a)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return fmt.Errorf("url: host %s: %w", host, first)
}
