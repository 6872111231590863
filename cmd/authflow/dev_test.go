package main

import "testing"

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
