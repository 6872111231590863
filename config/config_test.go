package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
		if c.HTTPAddr != ":8080" || c.RPID != "localhost" || len(c.SecretKey) != 32 || c.AdminToken == "" ||
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
		base := map[string]string{"AUTHFLOW_DATABASE_URL": "postgres://x/y", "AUTHFLOW_ADMIN_TOKEN": "0123456789abcdef0123"}
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
