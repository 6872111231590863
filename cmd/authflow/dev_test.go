package main

import (
	"net"
	"testing"

	"github.com/authflow/authflow/config"
)

func TestSameSiteUINamesTheUIAsThePublicURLDoes(t *testing.T) {
	for _, c := range []struct{ ui, public, want string }{
		{"http://127.0.0.1:8233", "http://localhost:8080", "http://localhost:8233"},
		{"http://127.0.0.1:8233", "https://panel.example.com", "http://127.0.0.1:8233"},
		{"", "http://localhost:8080", ""},
	} {
		if got := sameSiteUI(c.ui, c.public); got != c.want {
			t.Errorf("sameSiteUI(%q, %q) = %q, want %q", c.ui, c.public, got, c.want)
		}
	}
}

func TestDevListensOnLoopbackAndNamesItLocalhost(t *testing.T) {
	t.Run("case=dev's default listen address is 127.0.0.1:8080", func(t *testing.T) {
		cfg, err := config.LoadFrom(func(string) string { return "" }, config.Dev, "")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.HTTPAddr != "127.0.0.1:8080" {
			t.Fatalf("authflow dev listens on %q by default, want 127.0.0.1:8080", cfg.HTTPAddr)
		}
	})
	t.Run("case=a loopback listener is announced on the public URL's host", func(t *testing.T) {
		for _, c := range []struct {
			addr net.Addr
			want string
		}{
			{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "http://localhost:8080"},
			{&net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}, "http://localhost:8080"},
			{&net.TCPAddr{IP: net.IPv4(192, 168, 1, 5), Port: 9000}, "http://192.168.1.5:9000"},
		} {
			if got := listenURL(c.addr); got != c.want {
				t.Errorf("listenURL(%v) = %q, want %q", c.addr, got, c.want)
			}
		}
	})
}
