package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// Policy says which URLs authflow may send webhooks to. A webhook URL is
// chosen by whoever holds the admin token, and authflow's worker calls it
// from inside its network, so without a policy an endpoint could make the
// worker read the cloud's metadata service or an internal admin page
// (server-side request forgery; docs/security.md "Webhooks").
type Policy struct {
	// AllowHTTP accepts http:// URLs (`authflow dev`); otherwise only
	// https://.
	AllowHTTP bool
	// AllowPrivate accepts hosts on loopback, private, link-local, CGNAT,
	// unique-local and the other ranges Forbidden names
	// (AUTHFLOW_WEBHOOK_ALLOW_PRIVATE=true): for receivers inside the
	// same network, on purpose.
	AllowPrivate bool
	// Resolve looks a host name up; nil: the system's resolver. Tests
	// stand in for DNS with it.
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
}

// URLError is a webhook URL the policy refuses; Reason says why, for the
// admin who gave it.
type URLError struct{ Reason string }

func (e *URLError) Error() string { return "webhook URL refused: " + e.Reason }

func refuse(format string, args ...any) error { return &URLError{Reason: fmt.Sprintf(format, args...)} }

// MaxURLLength bounds a webhook URL.
const MaxURLLength = 2048

// CheckURL is the check at an endpoint's creation: an absolute http(s) URL
// (https unless AllowHTTP) without user info, whose host is a DNS name or
// an IP literal and, unless AllowPrivate, neither is nor resolves to an
// address Forbidden names. Resolving is only the first check: a name can
// resolve elsewhere later (DNS rebinding), so the client checks the
// address it really connects to again (Client).
func (p Policy) CheckURL(ctx context.Context, raw string) error {
	host, err := p.parse(raw)
	if err != nil {
		return err
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return p.checkAddr(host, ip)
	}
	addrs, err := p.resolve(ctx, host)
	if err != nil || len(addrs) == 0 {
		return refuse("%s does not resolve", host)
	}
	for _, a := range addrs {
		if err := p.checkAddr(host, a); err != nil {
			return err
		}
	}
	return nil
}

// parse checks what can be checked without the network, and names the
// host.
func (p Policy) parse(raw string) (string, error) {
	if len(raw) > MaxURLLength {
		return "", refuse("longer than %d characters", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return "", refuse("not an absolute URL such as https://panel.example.com/hooks/authflow")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !p.AllowHTTP {
			return "", refuse("https is required (http only in `authflow dev`)")
		}
	default:
		return "", refuse("the scheme must be https, not %q", u.Scheme)
	}
	if u.User != nil {
		return "", refuse("user info (user:password@) is not allowed: put a credential in the path or trust the signature")
	}
	host := u.Hostname()
	if host == "" {
		return "", refuse("no host")
	}
	if port := u.Port(); port == "0" {
		return "", refuse("port 0")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return "", refuse("an IPv6 zone (%s) is not allowed", host)
		}
		return host, nil
	}
	if !hostname(host) {
		// Numeric and hexadecimal hosts (2130706433, 0x7f.1) are IPv4
		// addresses to some resolvers and names to others: refused
		// rather than guessed.
		return "", refuse("%q is neither a DNS name nor an IP address", host)
	}
	return host, nil
}

// hostname says whether h is a DNS name: dot-separated labels of letters,
// digits and hyphens (not at either end), a last label that is not all
// digits, 253 characters at most.
func hostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return strings.Trim(last, "0123456789") != "" && !strings.HasPrefix(strings.ToLower(last), "0x")
}

func (p Policy) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if p.Resolve != nil {
		return p.Resolve(ctx, host)
	}
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// checkAddr refuses a forbidden address unless AllowPrivate.
func (p Policy) checkAddr(host string, a netip.Addr) error {
	if p.AllowPrivate {
		return nil
	}
	if name := Forbidden(a); name != "" {
		if host == a.String() {
			return refuse("%s is %s; set AUTHFLOW_WEBHOOK_ALLOW_PRIVATE=true to allow such addresses", a, name)
		}
		return refuse("%s resolves to %s, which is %s; set AUTHFLOW_WEBHOOK_ALLOW_PRIVATE=true to allow such addresses", host, a, name)
	}
	return nil
}

// ErrForbiddenAddress is a connection the dialer refused: its address is
// one Forbidden names.
var ErrForbiddenAddress = errors.New("webhooks: forbidden address")

// control is the dialer's last word, called with the address it is about
// to connect to, whatever resolved it: a name that resolved to a public
// address when the endpoint was made and to 127.0.0.1 now is refused here.
func (p Policy) control(_, address string, _ syscall.RawConn) error {
	if p.AllowPrivate {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %s is not an IP address", ErrForbiddenAddress, host)
	}
	if name := Forbidden(a); name != "" {
		return fmt.Errorf("%w: %s is %s (AUTHFLOW_WEBHOOK_ALLOW_PRIVATE=true allows it)", ErrForbiddenAddress, a, name)
	}
	return nil
}

type namedPrefix struct {
	prefix netip.Prefix
	name   string
}

// forbidden are the ranges no webhook may reach unless AllowPrivate: every
// special-purpose range of the IANA registries that is not globally
// reachable, and the ones that carry an IPv4 address inside IPv6.
var forbidden = func() []namedPrefix {
	out := []namedPrefix{}
	for _, r := range []struct{ cidr, name string }{
		{"0.0.0.0/8", "\"this network\" (unspecified)"},
		{"10.0.0.0/8", "private"},
		{"100.64.0.0/10", "shared address space (CGNAT)"},
		{"127.0.0.0/8", "loopback"},
		{"169.254.0.0/16", "link-local (where cloud metadata services answer)"},
		{"172.16.0.0/12", "private"},
		{"192.0.0.0/24", "IETF protocol assignments"},
		{"192.168.0.0/16", "private"},
		{"198.18.0.0/15", "benchmarking"},
		{"224.0.0.0/4", "multicast"},
		{"240.0.0.0/4", "reserved (and broadcast)"},
		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"::/96", "IPv4-compatible (deprecated)"},
		{"64:ff9b:1::/48", "local-use NAT64"},
		{"100::/64", "discard-only"},
		{"2001::/23", "IETF protocol assignments (Teredo among them)"},
		{"2002::/16", "6to4 (an IPv4 address inside IPv6)"},
		{"fc00::/7", "unique local (ULA)"},
		{"fe80::/10", "link-local"},
		{"fec0::/10", "site-local"},
		{"ff00::/8", "multicast"},
	} {
		out = append(out, namedPrefix{netip.MustParsePrefix(r.cidr), r.name})
	}
	return out
}()

var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// Forbidden names the range a is in when a webhook must not reach it
// ("loopback", "private", …), or "" for an address on the internet. An
// IPv4 address mapped into IPv6 (::ffff:a.b.c.d), and the IPv4 address a
// well-known NAT64 address (64:ff9b::a.b.c.d) reaches, are judged as the
// IPv4 address they are.
func Forbidden(a netip.Addr) string {
	a = a.WithZone("")
	if a.Is4In6() {
		a = a.Unmap()
	}
	if nat64.Contains(a) {
		b := a.As16()
		if name := Forbidden(netip.AddrFrom4([4]byte(b[12:]))); name != "" {
			return name + " through NAT64"
		}
		return ""
	}
	if !a.IsValid() {
		return "not an address"
	}
	for _, f := range forbidden {
		if f.prefix.Contains(a) {
			return f.name
		}
	}
	return ""
}
