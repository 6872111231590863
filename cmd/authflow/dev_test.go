//go:build !nodev

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// busyPort holds a port for the test and returns it.
func busyPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// devEnv sets what a test's `authflow dev` reads: the given ports, and
// nothing else of the environment's.
func devEnv(t *testing.T, httpPort, temporalPort, uiPort string) {
	for _, v := range config.Vars {
		t.Setenv(v.Name, "")
	}
	t.Setenv("AUTHFLOW_HTTP_ADDR", "127.0.0.1:"+httpPort)
	t.Setenv("AUTHFLOW_TEMPORAL_PORT", temporalPort)
	t.Setenv("AUTHFLOW_TEMPORAL_UI_PORT", uiPort)
	t.Setenv("AUTHFLOW_HASH_ISOLATION", "off") // the test is about the command, not hashing
}

func TestDevChecksEveryPortBeforeStarting(t *testing.T) {
	t.Run("case=every busy port is named by the variable that sets it, and nothing starts", func(t *testing.T) {
		devEnv(t, busyPort(t), busyPort(t), busyPort(t))
		begin := time.Now()
		_, err := run(t.Context(), "dev", "--ephemeral")
		if err == nil {
			t.Fatal("dev started on busy ports")
		}
		for _, name := range []string{"AUTHFLOW_HTTP_ADDR", "AUTHFLOW_TEMPORAL_PORT", "AUTHFLOW_TEMPORAL_UI_PORT"} {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("the error does not name %s: %v", name, err)
			}
		}
		if strings.Contains(err.Error(), "embedded Temporal") || time.Since(begin) > 5*time.Second {
			t.Errorf("the embedded Temporal started before the ports were checked (%v): %v", time.Since(begin), err)
		}
	})
	t.Run("case=two variables naming one port are refused", func(t *testing.T) {
		p := freePort(t)
		devEnv(t, freePort(t), p, p)
		_, err := run(t.Context(), "dev", "--ephemeral")
		if err == nil || !strings.Contains(err.Error(), "AUTHFLOW_TEMPORAL_PORT and AUTHFLOW_TEMPORAL_UI_PORT both name port "+p) {
			t.Fatalf("error %v", err)
		}
	})
}

func TestDevRefusesADataDirAnotherDevHolds(t *testing.T) {
	dir := t.TempDir()
	pid := holdDataDir(t, dir)
	devEnv(t, busyPort(t), busyPort(t), busyPort(t))
	_, err := run(t.Context(), "dev", "--data-dir", dir)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("in use by another authflow dev (pid %d)", pid)) {
		t.Fatalf("error %v, want the data dir named in use by pid %d", err, pid)
	}
	// The lock comes first: the busy ports were never looked at.
	if strings.Contains(err.Error(), "AUTHFLOW_HTTP_ADDR") {
		t.Errorf("the ports were checked before the data dir: %v", err)
	}
}

// TestDevOnADataDir starts `authflow dev` on a data dir with ports of its
// own and only AUTHFLOW_HTTP_ADDR set for the API: the UI's codec follows
// that port, the banner says where Temporal is, `authflow flows` finds it
// without being told, and a second dev on the data dir is refused.
func TestDevOnADataDir(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded Temporal server")
	}
	dir := t.TempDir()
	httpPort, temporalPort, uiPort := freePort(t), freePort(t), freePort(t)
	devEnv(t, httpPort, temporalPort, uiPort)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	devCtx, stopDev := context.WithCancel(ctx)
	var banner syncBuffer
	done := make(chan error, 1)
	go func() {
		root := rootCmd()
		root.SetOut(&banner)
		root.SetErr(&banner)
		root.SetArgs([]string{"dev", "--data-dir", dir})
		done <- root.ExecuteContext(devCtx)
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		stopDev()
		if err := <-done; err != nil {
			t.Errorf("dev: %v", err)
		}
	}
	defer stop()
	for !strings.Contains(banner.String(), "authflow dev is ready") {
		select {
		case err := <-done:
			t.Fatalf("dev exited: %v\n%s", err, banner.String())
		case <-ctx.Done():
			t.Fatalf("dev was not ready in time:\n%s", banner.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	text := banner.String()
	token, err := os.ReadFile(filepath.Join(dir, config.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("case=the banner gives TEMPORAL_ADDRESS and the kept admin token", func(t *testing.T) {
		if !strings.Contains(text, "export TEMPORAL_ADDRESS=127.0.0.1:"+temporalPort+" ") {
			t.Errorf("the banner does not say export TEMPORAL_ADDRESS=127.0.0.1:%s:\n%s", temporalPort, text)
		}
		if !strings.Contains(text, "admin token     "+strings.TrimSpace(string(token))) {
			t.Errorf("the banner's token is not the one kept in the data dir:\n%s", text)
		}
	})
	t.Run("case=with only AUTHFLOW_HTTP_ADDR set, the UI decodes through the API's port", func(t *testing.T) {
		resp, err := http.Get("http://127.0.0.1:" + uiPort + "/api/v1/settings")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var settings struct {
			Codec struct{ Endpoint, DefaultErrorLink string }
		}
		if err := json.NewDecoder(resp.Body).Decode(&settings); err != nil {
			t.Fatal(err)
		}
		want := "http://localhost:" + httpPort
		if settings.Codec.Endpoint != want+"/codec" || settings.Codec.DefaultErrorLink != want+"/admin/codec" {
			t.Fatalf("UI codec %+v, want %s/codec", settings.Codec, want)
		}
	})
	t.Run("case=flows finds the dev's Temporal from the data dir alone", func(t *testing.T) {
		t.Setenv("AUTHFLOW_TEMPORAL_PORT", "") // as in another shell
		if got := findTemporal(os.Getenv, dir); got.address != "127.0.0.1:"+temporalPort {
			t.Fatalf("flows would dial %s (%s), not the dev's 127.0.0.1:%s", got.address, got.from, temporalPort)
		}
		out, err := run(ctx, "flows", "--data-dir", dir, "--stuck-for", "1m")
		if err != nil || !strings.Contains(out, "WORKFLOW ID") {
			t.Fatalf("flows: %v\n%s", err, out)
		}
	})
	t.Run("case=flows --user takes an email", func(t *testing.T) {
		if out, err := run(ctx, "flows", "--data-dir", dir, "--user", "nobody@example.com"); err == nil ||
			!strings.Contains(err.Error(), "no user has the email nobody@example.com") {
			t.Fatalf("flows --user with an unknown email: %v\n%s", err, out)
		}
		created, err := runIn(ctx, "correct horse battery\n", "users", "create", "--data-dir", dir, "--email", "flows@example.com")
		if err != nil {
			t.Fatalf("users create: %v\n%s", err, created)
		}
		if out, err := run(ctx, "flows", "--data-dir", dir, "--user", "Flows@Example.com"); err != nil {
			t.Fatalf("flows --user with a known email: %v\n%s", err, out)
		}
	})
	t.Run("case=a second dev on the data dir is refused, naming this one's pid", func(t *testing.T) {
		_, err := run(ctx, "dev", "--data-dir", dir)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
			t.Fatalf("error %v", err)
		}
	})

	stop()
	t.Run("case=a stopped dev leaves no state and frees the data dir", func(t *testing.T) {
		if _, err := os.Stat(filepath.Join(dir, stateFileName)); !os.IsNotExist(err) {
			t.Errorf("%s is left behind: %v", stateFileName, err)
		}
		lock, err := lockDataDir(dir)
		if err != nil {
			t.Fatalf("the data dir is still held: %v", err)
		}
		lock.Release()
	})
}

func TestDevHelpListsItsEnvironment(t *testing.T) {
	out, err := run(t.Context(), "dev", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range config.Vars {
		listed := strings.Contains(out, "  "+v.Name+" ")
		if want := v.Use&config.ForDev != 0; listed != want {
			t.Errorf("authflow dev --help lists %s: %v, want %v", v.Name, listed, want)
		}
	}
}
