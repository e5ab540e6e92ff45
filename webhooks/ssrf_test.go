package webhooks

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

func TestGuardRefusesAddressClasses(t *testing.T) {
	tests := []struct {
		addr  string
		class string // "" when allowed
	}{
		{"127.0.0.1", "loopback"},
		{"127.255.0.9", "loopback"},
		{"::1", "loopback"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"fc00::1", "private (unique local)"},
		{"fd12:3456::1", "private (unique local)"},
		{"169.254.1.1", "link-local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.127.255.254", "carrier-grade NAT"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"0.1.2.3", "this network"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"ff02::1", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"240.0.0.1", "reserved"},
		{"169.254.169.254", "cloud metadata"},
		{"fd00:ec2::254", "cloud metadata"},
		{"100.100.100.200", "cloud metadata"},
		{"::ffff:127.0.0.1", "loopback (IPv4-mapped)"},
		{"::ffff:10.0.0.1", "private (IPv4-mapped)"},
		{"::ffff:169.254.169.254", "cloud metadata (IPv4-mapped)"},
		{"64:ff9b::7f00:1", "loopback (embedded in 64:ff9b::7f00:1)"},
		{"64:ff9b::a9fe:a9fe", "cloud metadata (embedded"},
		{"64:ff9b:1::1", "local-use NAT64"},
		{"2002:7f00:1::1", "loopback (embedded"},
		{"2002:c0a8:101::1", "private (embedded"},
		{"2001:0:4136:e378::1", "Teredo"},
		{"::7f00:1", "IPv4-compatible"},
		{"192.0.2.10", "documentation"},
		{"2001:db8::1", "documentation"},
		{"198.18.0.1", "benchmarking"},
		{"fec0::1", "site-local"},
		// Public addresses pass, in every form.
		{"8.8.8.8", ""},
		{"93.184.216.34", ""},
		{"2606:4700:4700::1111", ""},
		{"::ffff:8.8.8.8", ""},
		{"64:ff9b::808:808", ""},
		{"2002:808:808::1", ""},
		{"100.128.0.1", ""},
		{"172.32.0.1", ""},
	}
	g := &Guard{}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := g.CheckAddr(netip.MustParseAddr(tt.addr))
			if tt.class == "" {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			var te *TargetError
			if !errors.Is(err, ErrForbiddenTarget) || !errors.As(err, &te) || !strings.Contains(te.Class, tt.class) {
				t.Errorf("CheckAddr = %v, want a refusal as %q", err, tt.class)
			}
			// The dialer's hook refuses the same address.
			if err := g.control("tcp", netip.AddrPortFrom(netip.MustParseAddr(tt.addr), 443).String(), nil); !errors.Is(err, ErrForbiddenTarget) {
				t.Errorf("dial control let %s through: %v", tt.addr, err)
			}
		})
	}
}

func TestGuardAllowPrivate(t *testing.T) {
	g := &Guard{AllowPrivate: true}
	for _, a := range []string{"127.0.0.1", "::1", "10.0.0.1", "192.168.0.1", "fd12::1", "169.254.1.1", "100.64.0.1", "::ffff:127.0.0.1"} {
		if err := g.CheckAddr(netip.MustParseAddr(a)); err != nil {
			t.Errorf("allow_private_targets refused %s: %v", a, err)
		}
	}
	// Never a receiver, or a credential store: refused even so.
	for _, a := range []string{"0.0.0.0", "::", "224.0.0.1", "255.255.255.255", "169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"} {
		if err := g.CheckAddr(netip.MustParseAddr(a)); err == nil {
			t.Errorf("allow_private_targets let %s through", a)
		}
	}
}

// fakeResolver answers from a table, as DNS would (including a rebinding answer).
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	list, ok := f[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, a := range list {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func TestValidateURL(t *testing.T) {
	resolver := fakeResolver{
		"hooks.example.com":    {"93.184.216.34"},
		"internal.example.com": {"10.0.0.5"},
		"meta.example.com":     {"169.254.169.254"},
		"mapped.example.com":   {"::ffff:127.0.0.1"},
		"mixed.example.com":    {"10.0.0.1", "93.184.216.34"}, // the dialer refuses the private one
	}
	tests := []struct {
		url     string
		private bool   // allow_private_targets
		wantErr string // "" for valid
	}{
		{"https://hooks.example.com/webhooks", false, ""},
		{"http://hooks.example.com:8080/x?y=1", false, ""},
		{"https://mixed.example.com/", false, ""},
		{"https://8.8.8.8/", false, ""},
		{"ftp://hooks.example.com/", false, "scheme"},
		{"hooks.example.com/webhooks", false, "scheme"},
		{"https:///path", false, "host required"},
		{"https://user:pass@hooks.example.com/", false, "user info"},
		{"https://hooks.example.com:0/", false, "port"},
		{"https://hooks.example.com:70000/", false, "port"},
		{"https://nx.example.com/", false, "does not resolve"},
		{"https://internal.example.com/", false, "private"},
		{"https://meta.example.com/latest/meta-data", false, "cloud metadata"},
		{"https://mapped.example.com/", false, "loopback"},
		{"http://127.0.0.1:8080/", false, "loopback"},
		{"http://[::1]/", false, "loopback"},
		{"http://[::ffff:127.0.0.1]/", false, "loopback (IPv4-mapped)"},
		{"http://[::ffff:7f00:1]/", false, "loopback (IPv4-mapped)"},
		{"http://[64:ff9b::a00:1]/", false, "private"},
		{"http://169.254.169.254/", false, "cloud metadata"},
		{"http://127.0.0.1:8080/", true, ""},
		{"https://internal.example.com/", true, ""},
		{"http://169.254.169.254/", true, "cloud metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			g := &Guard{AllowPrivate: tt.private, Resolver: resolver}
			err := g.ValidateURL(context.Background(), tt.url)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "url: ") {
				t.Errorf("ValidateURL = %v, want an error about %q", err, tt.wantErr)
			}
		})
	}
}

// The system resolver's "localhost" is refused at subscription time.
func TestValidateURLLocalhost(t *testing.T) {
	if err := (&Guard{}).ValidateURL(context.Background(), "http://localhost:8080/hook"); !errors.Is(err, ErrForbiddenTarget) {
		t.Errorf("localhost: %v, want a refusal", err)
	}
}

// The client checks the address it actually connects to: a loopback receiver is unreachable, by IP or by a name
// that resolves to it, unless private targets are allowed. This is also how the dispatcher tests reach theirs.
func TestGuardClientDialsOnlyAllowedAddresses(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	byName := "http://localhost:" + u.Port() + "/"

	for _, target := range []string{srv.URL, byName} {
		resp, err := (&Guard{}).Client().Post(target, "application/json", nil)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: reached the loopback receiver", target)
		} else if !errors.Is(err, ErrForbiddenTarget) {
			t.Errorf("%s: %v, want ErrForbiddenTarget", target, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("receiver hit %d times", n)
	}
	resp, err := (&Guard{AllowPrivate: true}).Client().Post(srv.URL, "application/json", nil)
	if err != nil {
		t.Fatalf("allow_private_targets: %v", err)
	}
	resp.Body.Close()
	if hits.Load() != 1 {
		t.Error("allow_private_targets did not reach the receiver")
	}
	if (&Guard{}).Transport().Proxy != nil {
		t.Error("the webhook transport uses a proxy")
	}
}
