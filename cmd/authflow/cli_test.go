package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/internal/syncbuf"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store/opener"
)

// syncBuffer is what a running command writes while the test reads it.
type syncBuffer = syncbuf.Buffer

// run runs one authflow command line to its end, with an empty stdin.
func run(ctx context.Context, args ...string) (string, error) { return runIn(ctx, "", args...) }

// runIn runs one authflow command line to its end with stdin.
func runIn(ctx context.Context, stdin string, args ...string) (string, error) {
	var out syncBuffer
	root := rootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

func TestUsersCreateReadsThePasswordFromStdin(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "users.db")
	t.Setenv("AUTHFLOW_DATABASE_URL", db)
	t.Run("case=the first line of stdin is the password", func(t *testing.T) {
		out, err := runIn(t.Context(), "correct horse battery\nignored\n", "users", "create", "--email", "Stdin@Example.com")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		st, err := opener.Open(t.Context(), db)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		u, err := st.UserByEmail(t.Context(), "stdin@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if !security.NewHasher(security.DefaultArgon2).Verify(u.PasswordHash, "correct horse battery") {
			t.Error("the stored hash is not the password's from stdin")
		}
		if !strings.Contains(out, u.ID) {
			t.Errorf("the answer does not give the id: %s", out)
		}
	})
	t.Run("case=--password is no flag any more", func(t *testing.T) {
		_, err := runIn(t.Context(), "correct horse battery\n", "users", "create", "--email", "flag@example.com", "--password", "correct horse battery")
		if err == nil || !strings.Contains(err.Error(), "unknown flag: --password") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("case=no password on stdin says how to give one", func(t *testing.T) {
		_, err := runIn(t.Context(), "", "users", "create", "--email", "empty@example.com")
		if err == nil || !strings.Contains(err.Error(), "no password on stdin") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("case=a short password is refused", func(t *testing.T) {
		if _, err := runIn(t.Context(), "short\n", "users", "create", "--email", "short@example.com"); err == nil {
			t.Fatal("a 5-character password was accepted")
		}
	})
}

func TestUsersListFindsByEmailInPages(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "users.db")
	t.Setenv("AUTHFLOW_DATABASE_URL", db)
	st, err := opener.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"ann@shop.example", "bob@shop.example", "cy@other.example"} {
		if _, err := st.CreateUser(t.Context(), e, "h"); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	t.Run("case=--email keeps the users whose email contains it", func(t *testing.T) {
		out, err := run(t.Context(), "users", "list", "--email", "@SHOP.example")
		if err != nil || !strings.Contains(out, "ann@shop.example") || !strings.Contains(out, "bob@shop.example") || strings.Contains(out, "cy@") ||
			strings.Contains(out, "more:") {
			t.Fatalf("%v\n%s", err, out)
		}
	})
	t.Run("case=a page names the cursor of the next", func(t *testing.T) {
		out, err := run(t.Context(), "users", "list", "--limit", "2")
		m := regexp.MustCompile(`more: add --cursor (\S+)`).FindStringSubmatch(out)
		if err != nil || m == nil || !strings.Contains(out, "bob@shop.example") || strings.Contains(out, "cy@") {
			t.Fatalf("first page: %v\n%s", err, out)
		}
		out, err = run(t.Context(), "users", "list", "--limit", "2", "--cursor", m[1])
		if err != nil || !strings.Contains(out, "cy@other.example") || strings.Contains(out, "ann@") || strings.Contains(out, "more:") {
			t.Fatalf("second page: %v\n%s", err, out)
		}
	})
	t.Run("case=a bad cursor or limit is a clear error", func(t *testing.T) {
		if _, err := run(t.Context(), "users", "list", "--cursor", "!!"); err == nil || !strings.Contains(err.Error(), "--cursor") {
			t.Errorf("bad cursor: %v", err)
		}
		if _, err := run(t.Context(), "users", "list", "--limit", "0"); err == nil || !strings.Contains(err.Error(), "--limit") {
			t.Errorf("bad limit: %v", err)
		}
	})
}

func TestFlowsRefusesUnknownKindAndState(t *testing.T) {
	// Refused before Temporal is dialled: no server is needed.
	t.Setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
	for flag, value := range map[string]string{"--state": "stuck", "--kind": "logins"} {
		_, err := run(t.Context(), "flows", flag, value)
		if err == nil || !strings.Contains(err.Error(), flag+" must be") {
			t.Errorf("flows %s %s: %v", flag, value, err)
		}
	}
}

func TestHelpListsTheEnvironmentEachCommandReads(t *testing.T) {
	for _, c := range []struct {
		cmd string
		use config.Use
	}{{"server", config.ForAPI | config.ForWorker}, {"api", config.ForAPI}, {"worker", config.ForWorker}} {
		t.Run("case="+c.cmd, func(t *testing.T) {
			out, err := run(t.Context(), c.cmd, "--help")
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range config.Vars {
				listed := regexp.MustCompile(`(?m)^\s+` + v.Name + `\s`).MatchString(out)
				if want := v.Use&c.use != 0; listed != want {
					t.Errorf("authflow %s --help lists %s: %v, want %v", c.cmd, v.Name, listed, want)
				}
			}
		})
	}
}

func TestHealthcheck(t *testing.T) {
	t.Run("case=200 is healthy, anything else is an error with the answer", func(t *testing.T) {
		code := http.StatusOK
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
		}))
		defer srv.Close()
		if out, err := run(t.Context(), "healthcheck", srv.URL+"/readyz"); err != nil || !strings.Contains(out, `"/readyz"`) {
			t.Fatalf("200: %v %s", err, out)
		}
		code = http.StatusServiceUnavailable
		if _, err := run(t.Context(), "healthcheck", srv.URL+"/readyz"); err == nil || !strings.Contains(err.Error(), "503") {
			t.Fatalf("503: %v", err)
		}
	})
	t.Run("case=without a URL it asks /readyz on AUTHFLOW_HTTP_ADDR's port", func(t *testing.T) {
		for addr, want := range map[string]string{
			":8080":          "http://127.0.0.1:8080/readyz",
			"0.0.0.0:9000":   "http://127.0.0.1:9000/readyz",
			"10.0.0.5:8081":  "http://10.0.0.5:8081/readyz",
			"":               "http://127.0.0.1:8080/readyz",
			"127.0.0.1:8082": "http://127.0.0.1:8082/readyz",
		} {
			if got := readyzURL(addr); got != want {
				t.Errorf("readyzURL(%q) = %q, want %q", addr, got, want)
			}
		}
	})
}

func TestServeWarnsWhenThePublicURLNamesAnotherPort(t *testing.T) {
	for _, v := range config.Vars {
		t.Setenv(v.Name, "")
	}
	t.Setenv("AUTHFLOW_DATABASE_URL", "sqlite://"+filepath.Join(t.TempDir(), "api.db"))
	t.Setenv("AUTHFLOW_SECRET_KEY", strings.Repeat("ab", 32))
	t.Setenv("AUTHFLOW_ADMIN_TOKEN", "warn-test-admin-token")
	t.Setenv("AUTHFLOW_METRICS", "off")
	t.Setenv("AUTHFLOW_PUBLIC_URL", "http://localhost:8080")
	t.Setenv("AUTHFLOW_HTTP_ADDR", "127.0.0.1:9090")
	t.Setenv("TEMPORAL_ADDRESS", "127.0.0.1:1") // nothing there: the start stops after the warning
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := run(ctx, "api")
	if err == nil {
		t.Fatal("api started without a Temporal")
	}
	if !regexp.MustCompile(`level=WARN msg="AUTHFLOW_PUBLIC_URL http://localhost:8080 names port 8080 but AUTHFLOW_HTTP_ADDR 127.0.0.1:9090 listens on 9090`).MatchString(out) {
		t.Fatalf("no warning naming both ports in the log:\n%s", out)
	}
}
