package webhooks_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/authflow/authflow/webhooks"
)

// fakeDNS answers for the names it knows, in turn when a name has several
// answers (the last one repeats): DNS that changes its mind.
type fakeDNS map[string][][]string

func (d fakeDNS) resolve(_ context.Context, host string) ([]netip.Addr, error) {
	answers, ok := d[host]
	if !ok || len(answers) == 0 {
		return nil, errors.New("no such host")
	}
	a := answers[0]
	if len(answers) > 1 {
		d[host] = answers[1:]
	}
	out := []netip.Addr{}
	for _, s := range a {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

func TestCheckURL(t *testing.T) {
	dns := fakeDNS{
		"hooks.example.com":    {{"93.184.216.34"}},
		"internal.example.com": {{"10.0.0.5"}},
		"mixed.example.com":    {{"93.184.216.34", "127.0.0.1"}},
		"metadata.example.com": {{"169.254.169.254"}},
		"v6.example.com":       {{"2606:2800:220:1:248:1893:25c8:1946"}},
		"ula.example.com":      {{"fd12:3456:789a::1"}},
	}
	strict := webhooks.Policy{Resolve: dns.resolve}
	for _, tc := range []struct {
		name, url string
		refused   string // a part of the reason; "" when accepted
	}{
		{"a public https URL by name", "https://hooks.example.com/authflow?x=1", ""},
		{"a public https URL by IPv4", "https://93.184.216.34:8443/hooks", ""},
		{"a public https URL by IPv6", "https://[2606:2800:220:1:248:1893:25c8:1946]/hooks", ""},
		{"a public IPv6 host by name", "https://v6.example.com/", ""},
		{"loopback", "https://127.0.0.1/hooks", "loopback"},
		{"loopback elsewhere in 127/8", "https://127.1.2.3:8443/", "loopback"},
		{"10/8", "https://10.1.2.3/hooks", "private"},
		{"172.16/12", "https://172.20.0.1/", "private"},
		{"192.168/16", "https://192.168.1.1/", "private"},
		{"the cloud metadata address", "https://169.254.169.254/latest/meta-data/", "link-local"},
		{"CGNAT", "https://100.64.0.1/", "CGNAT"},
		{"the unspecified address", "https://0.0.0.0/", "unspecified"},
		{"multicast", "https://224.0.0.1/", "multicast"},
		{"broadcast", "https://255.255.255.255/", "reserved"},
		{"IPv6 loopback", "https://[::1]/hooks", "loopback"},
		{"IPv6 unspecified", "https://[::]/", "unspecified"},
		{"IPv6 unique local", "https://[fd00::1]/", "unique local"},
		{"IPv6 link-local", "https://[fe80::1]/", "link-local"},
		{"IPv6 link-local with a zone", "https://[fe80::1%25eth0]/", "zone"},
		{"IPv4-mapped loopback", "https://[::ffff:127.0.0.1]/", "loopback"},
		{"the metadata address through NAT64", "https://[64:ff9b::a9fe:a9fe]/", "link-local (where cloud metadata services answer) through NAT64"},
		{"6to4", "https://[2002:7f00:1::1]/", "6to4"},
		{"a name resolving to 10/8", "https://internal.example.com/", "internal.example.com resolves to 10.0.0.5, which is private"},
		{"a name resolving to the metadata address", "https://metadata.example.com/", "link-local"},
		{"a name with one private address among public ones", "https://mixed.example.com/", "127.0.0.1"},
		{"a name resolving to a unique-local IPv6 address", "https://ula.example.com/", "unique local"},
		{"a name that does not resolve", "https://nowhere.example.com/", "does not resolve"},
		{"a decimal IPv4 address", "https://2130706433/", "neither a DNS name nor an IP"},
		{"a hexadecimal IPv4 address", "https://0x7f000001/", "neither a DNS name nor an IP"},
		{"a dotted hexadecimal host", "https://0x7f.1/", "neither a DNS name nor an IP"},
		{"http outside dev", "http://hooks.example.com/", "https is required"},
		{"another scheme", "ftp://hooks.example.com/", "scheme"},
		{"user info", "https://admin:pw@hooks.example.com/", "user info"},
		{"user info hiding the host", "https://hooks.example.com@10.0.0.1/", "user info"},
		{"a relative URL", "/hooks", "absolute"},
		{"no host", "https:///hooks", "host"},
		{"port 0", "https://hooks.example.com:0/", "port 0"},
		{"a URL too long", "https://hooks.example.com/" + strings.Repeat("a", webhooks.MaxURLLength), "longer"},
	} {
		t.Run("case="+tc.name, func(t *testing.T) {
			err := strict.CheckURL(context.Background(), tc.url)
			if tc.refused == "" {
				if err != nil {
					t.Fatalf("%s refused: %v", tc.url, err)
				}
				return
			}
			var ue *webhooks.URLError
			if !errors.As(err, &ue) || !strings.Contains(ue.Reason, tc.refused) {
				t.Fatalf("%s: %v; want a refusal saying %q", tc.url, err, tc.refused)
			}
		})
	}
	t.Run("case=a hostname resolving to 127.0.0.1 through the system resolver", func(t *testing.T) {
		// localhost is in every hosts file: the real resolver, no stand-in.
		err := webhooks.Policy{}.CheckURL(context.Background(), "https://localhost:8443/hooks")
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Fatalf("https://localhost: %v; want refused as loopback", err)
		}
	})
	t.Run("case=AUTHFLOW_WEBHOOK_ALLOW_PRIVATE accepts private addresses, and dev accepts http", func(t *testing.T) {
		open := webhooks.Policy{AllowPrivate: true, AllowHTTP: true, Resolve: dns.resolve}
		for _, u := range []string{"http://127.0.0.1:9000/hooks", "https://10.1.2.3/", "https://[::1]/", "https://internal.example.com/"} {
			if err := open.CheckURL(context.Background(), u); err != nil {
				t.Errorf("%s with private addresses allowed: %v", u, err)
			}
		}
		// Allowing private addresses is not allowing http.
		if err := (webhooks.Policy{AllowPrivate: true}).CheckURL(context.Background(), "http://127.0.0.1/"); err == nil {
			t.Error("http accepted outside dev")
		}
	})
}

func TestForbidden(t *testing.T) {
	t.Run("case=public addresses are not forbidden", func(t *testing.T) {
		for _, a := range []string{"93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808", "::ffff:8.8.8.8", "203.0.113.10"} {
			if name := webhooks.Forbidden(netip.MustParseAddr(a)); name != "" {
				t.Errorf("%s forbidden as %s", a, name)
			}
		}
	})
	t.Run("case=the edges of each private range", func(t *testing.T) {
		for a, want := range map[string]string{
			"9.255.255.255": "", "10.0.0.0": "private", "10.255.255.255": "private", "11.0.0.0": "",
			"172.15.255.255": "", "172.16.0.0": "private", "172.31.255.255": "private", "172.32.0.0": "",
			"100.63.255.255": "", "100.64.0.0": "shared address space (CGNAT)", "100.127.255.255": "shared address space (CGNAT)", "100.128.0.0": "",
			"169.253.255.255": "", "169.254.0.1": "link-local (where cloud metadata services answer)",
			"fbff:ffff::1": "", "fc00::": "unique local (ULA)", "fdff:ffff::1": "unique local (ULA)", "fe00::": "",
		} {
			if got := webhooks.Forbidden(netip.MustParseAddr(a)); got != want {
				t.Errorf("Forbidden(%s) = %q, want %q", a, got, want)
			}
		}
	})
}
