package config_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authflow/authflow/config"
)

func load(mode config.Mode, dir string, env map[string]string) (config.Config, error) {
	return config.LoadFrom(func(k string) string { return env[k] }, mode, dir)
}

const key = "0000000000000000000000000000000000000000000000000000000000000001"

func TestLoad(t *testing.T) {
	t.Run("case=dev needs nothing and keeps its generated key in the data dir", func(t *testing.T) {
		dir := t.TempDir()
		c, err := load(config.Dev, dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.HTTPAddr != "127.0.0.1:8080" || c.RPID != "localhost" || len(c.SecretKey) != 32 || c.AdminToken == "" ||
			c.DatabaseURL != "sqlite://"+filepath.Join(dir, "authflow.db") {
			t.Fatalf("defaults %+v", c)
		}
		again, err := load(config.Dev, dir, nil)
		if err != nil || string(again.SecretKey) != string(c.SecretKey) {
			t.Fatal("a restarted dev server got another secret key: sealed TOTP secrets would be lost")
		}
		if fi, err := os.Stat(filepath.Join(dir, "secret.key")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("secret key file: %v %v", fi, err)
		}
	})
	t.Run("case=production names every missing setting", func(t *testing.T) {
		_, err := load(config.Production, "", nil)
		for _, want := range []string{"AUTHFLOW_DATABASE_URL", "AUTHFLOW_SECRET_KEY", "AUTHFLOW_ADMIN_TOKEN"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v does not name %s", err, want)
			}
		}
	})
	t.Run("case=the secret key is 64 hex characters or base64 of 32 bytes", func(t *testing.T) {
		base := map[string]string{"AUTHFLOW_DATABASE_URL": "postgres://x/y", "AUTHFLOW_ADMIN_TOKEN": "0123456789abcdef0123",
			"AUTHFLOW_METRICS_TOKEN": "0123456789abcdef-metrics"}
		for _, good := range []string{key, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE="} {
			base["AUTHFLOW_SECRET_KEY"] = good
			if _, err := load(config.Production, "", base); err != nil {
				t.Fatalf("%q: %v", good, err)
			}
		}
		for _, bad := range []string{"short", key[:62], strings.Repeat("z", 64)} {
			base["AUTHFLOW_SECRET_KEY"] = bad
			if _, err := load(config.Production, "", base); err == nil || !strings.Contains(err.Error(), "AUTHFLOW_SECRET_KEY") {
				t.Fatalf("%q accepted: %v", bad, err)
			}
		}
	})
	t.Run("case=bad values are refused with the variable's name", func(t *testing.T) {
		for name, env := range map[string]map[string]string{
			"AUTHFLOW_DATABASE_URL":     {"AUTHFLOW_DATABASE_URL": "mysql://x"},
			"AUTHFLOW_PUBLIC_URL":       {"AUTHFLOW_PUBLIC_URL": "panel.example.com"},
			"AUTHFLOW_RP_ID":            {"AUTHFLOW_PUBLIC_URL": "http://127.0.0.1:8080"},
			"TWILIO_FLASH_CALL_NUMBERS": {"TWILIO_FLASH_CALL_NUMBERS": "+14155550100,12345"},
			"TELEGRAM_BOT_USERNAME":     {"TELEGRAM_BOT_TOKEN": "1:abc"},
			"SMTP_FROM":                 {"SMTP_URL": "smtp://mail:25"},
			"AUTHFLOW_HASH_ISOLATION":   {"AUTHFLOW_HASH_ISOLATION": "yes"},
			"AUTHFLOW_METRICS_TOKEN":    {"AUTHFLOW_METRICS_TOKEN": "short"},
			"TWILIO_AUTH_TOKEN": {"TWILIO_ACCOUNT_SID": "AC0123", "TWILIO_FROM_NUMBER": "+15005550006",
				"TWILIO_AUTH_TOKEN": `"0123456789abcdef0123456789abcdef"`},
			"TWILIO_ACCOUNT_SID": {"TWILIO_ACCOUNT_SID": "AC01 23", "TWILIO_FROM_NUMBER": "+15005550006",
				"TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef"},
		} {
			if _, err := load(config.Dev, t.TempDir(), env); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s: error %v", name, err)
			}
		}
	})
	t.Run("case=a flash-call pool with fewer than 1000 distinct suffixes is refused", func(t *testing.T) {
		pool := func(prefix string, n int) string {
			var ns []string
			for i := range n {
				ns = append(ns, fmt.Sprintf("%s%04d", prefix, i))
			}
			return strings.Join(ns, ",")
		}
		_, err := load(config.Dev, t.TempDir(), map[string]string{"TWILIO_FLASH_CALL_NUMBERS": "+14155550100,+14155550101,+14155550102"})
		if err == nil || !strings.Contains(err.Error(), "TWILIO_FLASH_CALL_NUMBERS has 3 distinct last-4 suffixes; at least 1000") ||
			!strings.Contains(err.Error(), "dictate") {
			t.Errorf("3 numbers: error %v, want the count, the minimum and the way out", err)
		}
		// 1,500 numbers sharing 999 suffixes are still too few.
		shared := pool("+1202555", 999) + "," + pool("+1303555", 501)
		if _, err := load(config.Dev, t.TempDir(), map[string]string{"TWILIO_FLASH_CALL_NUMBERS": shared}); err == nil ||
			!strings.Contains(err.Error(), "has 999 distinct") {
			t.Errorf("999 distinct suffixes over 1500 numbers: error %v", err)
		}
		c, err := load(config.Dev, t.TempDir(), map[string]string{"TWILIO_FLASH_CALL_NUMBERS": pool("+1202555", 1000)})
		if err != nil || len(c.TwilioFlashCallNumbers) != 1000 {
			t.Errorf("1000 distinct suffixes: %d numbers, error %v", len(c.TwilioFlashCallNumbers), err)
		}
	})
	t.Run("case=hashing runs in child processes unless isolation is off", func(t *testing.T) {
		for env, inProcess := range map[string]bool{"": false, "on": false, "OFF": true, "off": true} {
			c, err := load(config.Dev, t.TempDir(), map[string]string{"AUTHFLOW_HASH_ISOLATION": env})
			if err != nil || c.HashInProcess != inProcess {
				t.Errorf("AUTHFLOW_HASH_ISOLATION=%q: in process %v, %v; want %v", env, c.HashInProcess, err, inProcess)
			}
		}
	})
	t.Run("case=https public URL makes cookies Secure", func(t *testing.T) {
		c, err := load(config.Dev, t.TempDir(), map[string]string{"AUTHFLOW_PUBLIC_URL": "https://panel.example.com/"})
		if err != nil || !c.Secure() || c.RPID != "panel.example.com" || c.PublicURL != "https://panel.example.com" {
			t.Fatalf("%+v %v", c, err)
		}
	})
}

func TestMetricsTokenAndListenAddress(t *testing.T) {
	prod := func(extra map[string]string) map[string]string {
		env := map[string]string{"AUTHFLOW_DATABASE_URL": "postgres://x/y", "AUTHFLOW_ADMIN_TOKEN": "0123456789abcdef0123", "AUTHFLOW_SECRET_KEY": key}
		for k, v := range extra {
			env[k] = v
		}
		return env
	}
	t.Run("case=server, api and worker refuse to start without AUTHFLOW_METRICS_TOKEN, naming the way out", func(t *testing.T) {
		_, err := load(config.Production, "", prod(nil))
		if err == nil || !strings.Contains(err.Error(), "AUTHFLOW_METRICS_TOKEN is required") || !strings.Contains(err.Error(), "AUTHFLOW_METRICS=off") {
			t.Fatalf("error %v, want AUTHFLOW_METRICS_TOKEN and AUTHFLOW_METRICS=off named", err)
		}
	})
	t.Run("case=a metrics token is enough", func(t *testing.T) {
		c, err := load(config.Production, "", prod(map[string]string{"AUTHFLOW_METRICS_TOKEN": "0123456789abcdef-metrics"}))
		if err != nil || c.MetricsOff || c.MetricsToken != "0123456789abcdef-metrics" {
			t.Fatalf("%+v %v", c, err)
		}
	})
	t.Run("case=AUTHFLOW_METRICS=off starts without a token and serves no metrics", func(t *testing.T) {
		for _, off := range []string{"off", "OFF"} {
			c, err := load(config.Production, "", prod(map[string]string{"AUTHFLOW_METRICS": off}))
			if err != nil || !c.MetricsOff {
				t.Fatalf("AUTHFLOW_METRICS=%s: off %v, %v", off, c.MetricsOff, err)
			}
		}
	})
	t.Run("case=AUTHFLOW_METRICS is on or off; off with a metrics address is a contradiction", func(t *testing.T) {
		if _, err := load(config.Production, "", prod(map[string]string{"AUTHFLOW_METRICS": "maybe", "AUTHFLOW_METRICS_TOKEN": "0123456789abcdef-metrics"})); err == nil ||
			!strings.Contains(err.Error(), "AUTHFLOW_METRICS must be on or off") {
			t.Fatalf("error %v", err)
		}
		if _, err := load(config.Production, "", prod(map[string]string{"AUTHFLOW_METRICS": "off", "AUTHFLOW_METRICS_ADDR": ":9090"})); err == nil ||
			!strings.Contains(err.Error(), "AUTHFLOW_METRICS_ADDR") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("case=dev may keep /metrics open", func(t *testing.T) {
		c, err := load(config.Dev, t.TempDir(), nil)
		if err != nil || c.MetricsOff || c.MetricsToken != "" {
			t.Fatalf("%+v %v", c, err)
		}
	})
	t.Run("case=dev listens on 127.0.0.1:8080 unless AUTHFLOW_HTTP_ADDR says otherwise", func(t *testing.T) {
		c, err := load(config.Dev, t.TempDir(), nil)
		if err != nil || c.HTTPAddr != "127.0.0.1:8080" || c.PublicURL != "http://localhost:8080" {
			t.Fatalf("dev: addr %q, public URL %q, %v", c.HTTPAddr, c.PublicURL, err)
		}
		c, err = load(config.Dev, t.TempDir(), map[string]string{"AUTHFLOW_HTTP_ADDR": ":8080"})
		if err != nil || c.HTTPAddr != ":8080" {
			t.Fatalf("dev with AUTHFLOW_HTTP_ADDR: addr %q, %v", c.HTTPAddr, err)
		}
	})
	t.Run("case=production keeps listening on every interface", func(t *testing.T) {
		c, err := load(config.Production, "", prod(map[string]string{"AUTHFLOW_METRICS": "off"}))
		if err != nil || c.HTTPAddr != ":8080" {
			t.Fatalf("production: addr %q, %v", c.HTTPAddr, err)
		}
	})
	t.Run("case=the https test of the public URL ignores case", func(t *testing.T) {
		for u, want := range map[string]bool{"HTTPS://panel.example.com": true, "https://panel.example.com": true, "http://panel.example.com": false} {
			if got := (config.Config{PublicURL: u}).Secure(); got != want {
				t.Errorf("Secure(%q) = %v", u, got)
			}
		}
	})
}

func TestPhoneSettings(t *testing.T) {
	t.Run("case=every region and a cap of 1000 phone sends an hour by default", func(t *testing.T) {
		c, err := load(config.Dev, t.TempDir(), nil)
		if err != nil || len(c.PhoneRegions) != 0 || c.PhoneSendsPerHour != 1000 {
			t.Fatalf("regions %v, cap %d, %v", c.PhoneRegions, c.PhoneSendsPerHour, err)
		}
	})
	t.Run("case=regions are read in any case and the cap as a number", func(t *testing.T) {
		c, err := load(config.Dev, t.TempDir(), map[string]string{"AUTHFLOW_PHONE_REGIONS": "ua, pl", "AUTHFLOW_PHONE_SENDS_PER_HOUR": "250"})
		if err != nil || strings.Join(c.PhoneRegions, ",") != "UA,PL" || c.PhoneSendsPerHour != 250 {
			t.Fatalf("regions %v, cap %d, %v", c.PhoneRegions, c.PhoneSendsPerHour, err)
		}
	})
	t.Run("case=an unknown region or a bad cap stops the start and names the variable", func(t *testing.T) {
		for name, env := range map[string]map[string]string{
			"AUTHFLOW_PHONE_REGIONS":        {"AUTHFLOW_PHONE_REGIONS": "UA,UK"},
			"AUTHFLOW_PHONE_SENDS_PER_HOUR": {"AUTHFLOW_PHONE_SENDS_PER_HOUR": "0"},
		} {
			if _, err := load(config.Dev, t.TempDir(), env); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%v: %v", env, err)
			}
		}
		if _, err := load(config.Dev, t.TempDir(), map[string]string{"AUTHFLOW_PHONE_SENDS_PER_HOUR": "lots"}); err == nil {
			t.Error("a cap of \"lots\" accepted")
		}
	})
}

func TestDevPublicURLFollowsTheListenAddress(t *testing.T) {
	t.Run("case=setting only AUTHFLOW_HTTP_ADDR moves the public URL to its port", func(t *testing.T) {
		for addr, want := range map[string]string{
			"127.0.0.1:9090":  "http://localhost:9090",
			":9091":           "http://localhost:9091",
			"0.0.0.0:9092":    "http://localhost:9092",
			"[::1]:9093":      "http://localhost:9093",
			"devbox.lan:9094": "http://devbox.lan:9094",
		} {
			c, err := load(config.Dev, t.TempDir(), map[string]string{"AUTHFLOW_HTTP_ADDR": addr})
			if err != nil || c.PublicURL != want || !c.PublicURLFollowsListener {
				t.Errorf("AUTHFLOW_HTTP_ADDR=%s: public URL %q (follows %v), %v; want %s", addr, c.PublicURL, c.PublicURLFollowsListener, err, want)
			}
		}
	})
	t.Run("case=an explicit AUTHFLOW_PUBLIC_URL wins", func(t *testing.T) {
		c, err := load(config.Dev, t.TempDir(), map[string]string{"AUTHFLOW_HTTP_ADDR": "127.0.0.1:9090", "AUTHFLOW_PUBLIC_URL": "http://localhost:7000"})
		if err != nil || c.PublicURL != "http://localhost:7000" || c.PublicURLFollowsListener {
			t.Fatalf("public URL %q (follows %v), %v", c.PublicURL, c.PublicURLFollowsListener, err)
		}
	})
	t.Run("case=production keeps http://localhost:8080 as the default", func(t *testing.T) {
		c, err := load(config.Production, "", map[string]string{"AUTHFLOW_DATABASE_URL": "postgres://x/y", "AUTHFLOW_ADMIN_TOKEN": "0123456789abcdef0123",
			"AUTHFLOW_SECRET_KEY": key, "AUTHFLOW_METRICS": "off", "AUTHFLOW_HTTP_ADDR": ":9090"})
		if err != nil || c.PublicURL != "http://localhost:8080" || c.PublicURLFollowsListener {
			t.Fatalf("public URL %q (follows %v), %v", c.PublicURL, c.PublicURLFollowsListener, err)
		}
	})
}

func TestPublicURLMismatchIsNamed(t *testing.T) {
	for _, c := range []struct {
		public, addr string
		warn         bool
	}{
		{"http://localhost:8080", ":9090", true},
		{"http://panel.example.com", ":8080", true}, // port 80
		{"http://localhost:8080", ":8080", false},
		{"http://localhost:8080", "127.0.0.1:8080", false},
		{"http://panel.example.com", ":80", false},
		{"https://panel.example.com", ":8080", false}, // TLS means a proxy in front
		{"http://localhost:8080", "127.0.0.1:0", false},
	} {
		msg := config.Config{PublicURL: c.public, HTTPAddr: c.addr}.PublicURLMismatch()
		if (msg != "") != c.warn {
			t.Errorf("public %s, listen %s: %q, want a warning: %v", c.public, c.addr, msg, c.warn)
		}
		if c.warn && (!strings.Contains(msg, "AUTHFLOW_PUBLIC_URL") || !strings.Contains(msg, "AUTHFLOW_HTTP_ADDR")) {
			t.Errorf("the warning %q does not name both variables", msg)
		}
	}
}

func TestDevAdminTokenIsKeptInTheDataDir(t *testing.T) {
	t.Run("case=a restart on the same data dir has the same token, in a file only the owner reads", func(t *testing.T) {
		dir := t.TempDir()
		first, err := load(config.Dev, dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		again, err := load(config.Dev, dir, nil)
		if err != nil || again.AdminToken != first.AdminToken || len(first.AdminToken) < 16 {
			t.Fatalf("tokens %q then %q, %v: the banner's token and the codec sign-in would go stale", first.AdminToken, again.AdminToken, err)
		}
		fi, err := os.Stat(filepath.Join(dir, config.AdminTokenFile))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("admin token file: %v %v", fi, err)
		}
	})
	t.Run("case=ephemeral makes a new token every start", func(t *testing.T) {
		a, errA := load(config.Dev, "", nil)
		b, errB := load(config.Dev, "", nil)
		if errA != nil || errB != nil || a.AdminToken == b.AdminToken || len(a.AdminToken) < 16 {
			t.Fatalf("ephemeral tokens %q and %q (%v, %v)", a.AdminToken, b.AdminToken, errA, errB)
		}
	})
	t.Run("case=AUTHFLOW_ADMIN_TOKEN wins and is not written", func(t *testing.T) {
		dir := t.TempDir()
		c, err := load(config.Dev, dir, map[string]string{"AUTHFLOW_ADMIN_TOKEN": "set-by-the-operator-0123"})
		if err != nil || c.AdminToken != "set-by-the-operator-0123" {
			t.Fatalf("token %q, %v", c.AdminToken, err)
		}
		if _, err := os.Stat(filepath.Join(dir, config.AdminTokenFile)); !os.IsNotExist(err) {
			t.Fatalf("a token file was written beside an explicit token: %v", err)
		}
	})
	t.Run("case=a damaged token file stops the start and says what to do", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, config.AdminTokenFile), []byte("short\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := load(config.Dev, dir, nil); err == nil || !strings.Contains(err.Error(), "delete it") {
			t.Fatalf("error %v", err)
		}
	})
}

func TestVarsListsWhatLoadFromReads(t *testing.T) {
	read := map[string]bool{}
	getenv := func(k string) string { read[k] = true; return "" }
	for _, mode := range []config.Mode{config.Dev, config.Production} {
		_, _ = config.LoadFrom(getenv, mode, t.TempDir())
	}
	listed := map[string]bool{}
	for _, v := range config.Vars {
		if listed[v.Name] {
			t.Errorf("%s is listed twice in config.Vars", v.Name)
		}
		listed[v.Name] = true
		if !read[v.Name] {
			t.Errorf("config.Vars lists %s, which LoadFrom never reads", v.Name)
		}
		if v.Use == 0 || v.Meaning == "" {
			t.Errorf("%s has no use or no meaning", v.Name)
		}
	}
	for k := range read {
		if !listed[k] {
			t.Errorf("LoadFrom reads %s, which config.Vars (and so every --help) does not list", k)
		}
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range config.Vars {
		if !strings.Contains(string(readme), "`"+v.Name+"`") {
			t.Errorf("the README's configuration table does not name %s", v.Name)
		}
	}
	t.Run("case=help lists each command's variables", func(t *testing.T) {
		dev, api := config.Help(config.ForDev), config.Help(config.ForAPI)
		if !strings.Contains(dev, "AUTHFLOW_TEMPORAL_PORT") || strings.Contains(dev, "TEMPORAL_ADDRESS ") ||
			strings.Contains(api, "AUTHFLOW_TEMPORAL_PORT") || !strings.Contains(api, "TEMPORAL_ADDRESS") {
			t.Errorf("dev:\n%s\napi:\n%s", dev, api)
		}
	})
}

func TestRecoveryDelay(t *testing.T) {
	prod := map[string]string{"AUTHFLOW_DATABASE_URL": "postgres://x/y", "AUTHFLOW_ADMIN_TOKEN": "0123456789abcdef0123", "AUTHFLOW_SECRET_KEY": key,
		"AUTHFLOW_METRICS": "off"}
	with := func(delay string) map[string]string {
		env := maps.Clone(prod)
		env["AUTHFLOW_RECOVERY_DELAY"] = delay
		return env
	}
	t.Run("case=72 hours by default", func(t *testing.T) {
		c, err := load(config.Production, "", prod)
		if err != nil || c.RecoveryDelay != 72*time.Hour {
			t.Fatalf("delay %v, %v", c.RecoveryDelay, err)
		}
	})
	t.Run("case=under an hour outside dev stops the start and says why", func(t *testing.T) {
		if _, err := load(config.Production, "", with("30m")); err == nil || !strings.Contains(err.Error(), "AUTHFLOW_RECOVERY_DELAY") {
			t.Fatalf("30m accepted outside dev: %v", err)
		}
		if c, err := load(config.Production, "", with("1h")); err != nil || c.RecoveryDelay != time.Hour {
			t.Fatalf("1h: %v %v", c.RecoveryDelay, err)
		}
	})
	t.Run("case=dev may wait seconds (tests), never a malformed or zero delay", func(t *testing.T) {
		if c, err := load(config.Dev, t.TempDir(), map[string]string{"AUTHFLOW_RECOVERY_DELAY": "40s"}); err != nil || c.RecoveryDelay != 40*time.Second {
			t.Fatalf("40s in dev: %v %v", c.RecoveryDelay, err)
		}
		for _, bad := range []string{"0s", "soon", "-1h"} {
			if _, err := load(config.Dev, t.TempDir(), map[string]string{"AUTHFLOW_RECOVERY_DELAY": bad}); err == nil {
				t.Errorf("%q accepted", bad)
			}
		}
	})
}

func TestWebhookRetention(t *testing.T) {
	t.Run("case=30 days by default, 0 keeps everything, a duration is read", func(t *testing.T) {
		for v, want := range map[string]time.Duration{"": 720 * time.Hour, "0": 0, "48h": 48 * time.Hour, "1h": time.Hour} {
			env := map[string]string{}
			if v != "" {
				env["AUTHFLOW_WEBHOOK_RETENTION"] = v
			}
			c, err := load(config.Dev, t.TempDir(), env)
			if err != nil || c.WebhookRetention != want {
				t.Errorf("%q: %v, %v; want %v", v, c.WebhookRetention, err, want)
			}
		}
	})
	t.Run("case=under an hour, negative or not a duration stops the start and names the variable", func(t *testing.T) {
		for _, v := range []string{"30m", "-1h", "30", "forever"} {
			if _, err := load(config.Dev, t.TempDir(), map[string]string{"AUTHFLOW_WEBHOOK_RETENTION": v}); err == nil ||
				!strings.Contains(err.Error(), "AUTHFLOW_WEBHOOK_RETENTION") {
				t.Errorf("%q: %v", v, err)
			}
		}
	})
}

func TestWebhookAllowPrivate(t *testing.T) {
	t.Run("case=off unless set to true", func(t *testing.T) {
		c, err := load(config.Dev, t.TempDir(), nil)
		if err != nil || c.WebhookAllowPrivate {
			t.Fatalf("default: %v %v", c.WebhookAllowPrivate, err)
		}
		c, err = load(config.Dev, t.TempDir(), map[string]string{"AUTHFLOW_WEBHOOK_ALLOW_PRIVATE": "TRUE"})
		if err != nil || !c.WebhookAllowPrivate {
			t.Fatalf("true: %v %v", c.WebhookAllowPrivate, err)
		}
	})
	t.Run("case=anything but true or false stops the start and names the variable", func(t *testing.T) {
		for _, v := range []string{"yes", "1", "on"} {
			if _, err := load(config.Dev, t.TempDir(), map[string]string{"AUTHFLOW_WEBHOOK_ALLOW_PRIVATE": v}); err == nil ||
				!strings.Contains(err.Error(), "AUTHFLOW_WEBHOOK_ALLOW_PRIVATE") {
				t.Errorf("%q: %v", v, err)
			}
		}
	})
}
