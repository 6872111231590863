// Package config loads authflow's configuration from the environment once, at
// start, with the defaults of docs/design.md, and validates it so a mistake stops
// the process with a message a person understands.
package config

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/authflow/authflow/i18n"
	"github.com/authflow/authflow/phone"
)

// Config is every setting authflow reads. Secrets are never printed: String
// redacts them.
type Config struct {
	HTTPAddr string // AUTHFLOW_HTTP_ADDR
	// HTTPAddrSet says AUTHFLOW_HTTP_ADDR was set: `authflow worker`, which
	// serves no API, listens there (for /healthz and /readyz) only then.
	HTTPAddrSet bool
	DatabaseURL string // AUTHFLOW_DATABASE_URL
	PublicURL   string // AUTHFLOW_PUBLIC_URL
	RPID        string // AUTHFLOW_RP_ID
	SecretKey   []byte // AUTHFLOW_SECRET_KEY, 32 bytes
	AdminToken  string // AUTHFLOW_ADMIN_TOKEN

	TemporalAddress   string // TEMPORAL_ADDRESS
	TemporalNamespace string // TEMPORAL_NAMESPACE
	TemporalPort      int    // AUTHFLOW_TEMPORAL_PORT (embedded, dev)
	TemporalUIPort    int    // AUTHFLOW_TEMPORAL_UI_PORT (embedded, dev)

	TelegramBotToken      string // TELEGRAM_BOT_TOKEN
	TelegramBotUsername   string // TELEGRAM_BOT_USERNAME
	TelegramAPIURL        string // TELEGRAM_API_URL
	TelegramWebhookSecret string // TELEGRAM_WEBHOOK_SECRET

	TwilioAccountSID       string   // TWILIO_ACCOUNT_SID
	TwilioAuthToken        string   // TWILIO_AUTH_TOKEN
	TwilioAPIURL           string   // TWILIO_API_URL
	TwilioFromNumber       string   // TWILIO_FROM_NUMBER
	TwilioFlashCallNumbers []string // TWILIO_FLASH_CALL_NUMBERS
	// TwilioCallLanguage is the dictating call's language (TWILIO_CALL_LANGUAGE):
	// "uk-UA" by default, or an English locale such as "en-US".
	TwilioCallLanguage string
	// TwilioCallVoice is the dictating call's voice (TWILIO_CALL_VOICE);
	// empty means a Google uk-UA voice for Ukrainian, Twilio's default otherwise.
	TwilioCallVoice string
	// PhoneRegions limit where codes go by phone (AUTHFLOW_PHONE_REGIONS:
	// comma-separated ISO 3166-1 alpha-2 codes, upper-cased; empty: all).
	PhoneRegions []string
	// PhoneSendsPerHour caps every SMS and call together per hour
	// (AUTHFLOW_PHONE_SENDS_PER_HOUR; default phone.DefaultSendsPerHour).
	PhoneSendsPerHour int
	// RecoveryDelay is how long an account recovery waits when its person
	// lost every factor (AUTHFLOW_RECOVERY_DELAY; 72 h, at least 1 h
	// outside dev).
	RecoveryDelay time.Duration
	// DefaultLocale is the language of a person who chose none and whose
	// browser asks for none authflow speaks (AUTHFLOW_DEFAULT_LOCALE: en or
	// uk; en by default).
	DefaultLocale string

	SMTPURL  string // SMTP_URL
	SMTPFrom string // SMTP_FROM

	BillingWebhookURL string // BILLING_WEBHOOK_URL
	// WebhookAllowPrivate lets webhook URLs reach loopback, private,
	// link-local and the other internal ranges webhooks.Forbidden names
	// (AUTHFLOW_WEBHOOK_ALLOW_PRIVATE=true; default false): for a receiver
	// inside authflow's own network, on purpose (docs/security.md
	// "Webhooks").
	WebhookAllowPrivate bool
	// WebhookRetention is how long a delivered webhook delivery and its
	// attempts are kept (AUTHFLOW_WEBHOOK_RETENTION; 720h, 30 days; 0
	// keeps them all; else at least 1h). Pending and failed ones are kept
	// until delivered or their endpoint is deleted.
	WebhookRetention time.Duration

	// CodecOrigins may call the codec server from a browser (CORS): the
	// Temporal UI's origin (AUTHFLOW_CODEC_ORIGINS, comma-separated).
	CodecOrigins []string
	// MetricsAddr is where `authflow worker` serves /metrics
	// (AUTHFLOW_METRICS_ADDR; unset: nowhere). The API serves it on its own
	// address.
	MetricsAddr string
	// MetricsToken, when set, is the bearer token /metrics requires
	// (AUTHFLOW_METRICS_TOKEN). Required outside dev unless MetricsOff;
	// unset in dev: /metrics is open.
	MetricsToken string
	// MetricsOff serves no /metrics at all (AUTHFLOW_METRICS=off; default
	// on).
	MetricsOff bool
	// HashInProcess runs argon2id in this process instead of in hashing
	// child processes (AUTHFLOW_HASH_ISOLATION=off; default on). See
	// security.NewIsolatedHasher.
	HashInProcess bool

	// DataDir holds dev-mode state (SQLite files, the generated secret key
	// and admin token).
	DataDir string
	// PublicURLFollowsListener is set in dev when AUTHFLOW_PUBLIC_URL is
	// unset: PublicURL was made from HTTPAddr (DevPublicURL), and names the
	// port the listener really got when HTTPAddr's port is 0.
	PublicURLFollowsListener bool
	// Dev is true for `authflow dev`: generated secrets are allowed and the
	// dev outbox stands in for unconfigured channels.
	Dev bool
}

// Mode says which defaults apply.
type Mode int

// Modes.
const (
	// Production needs AUTHFLOW_SECRET_KEY and AUTHFLOW_ADMIN_TOKEN.
	Production Mode = iota
	// Dev generates what is missing and keeps it in the data dir.
	Dev
)

// Getenv reads one variable; tests pass a map instead of the environment.
type Getenv func(string) string

// Load reads the configuration from the process environment.
func Load(mode Mode, dataDir string) (Config, error) {
	return LoadFrom(os.Getenv, mode, dataDir)
}

// LoadFrom reads the configuration through getenv and validates it. In Dev
// mode a missing secret key and a missing admin token are generated and
// kept in dataDir (the caller prints the token), or kept in memory when
// dataDir is "", and the public URL follows AUTHFLOW_HTTP_ADDR unless set.
func LoadFrom(getenv Getenv, mode Mode, dataDir string) (Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		HTTPAddr:              get("AUTHFLOW_HTTP_ADDR", defaultHTTPAddr(mode)),
		AdminToken:            get("AUTHFLOW_ADMIN_TOKEN", ""),
		TemporalAddress:       get("TEMPORAL_ADDRESS", "localhost:7233"),
		TemporalNamespace:     get("TEMPORAL_NAMESPACE", "default"),
		TelegramBotToken:      get("TELEGRAM_BOT_TOKEN", ""),
		TelegramBotUsername:   get("TELEGRAM_BOT_USERNAME", ""),
		TelegramAPIURL:        strings.TrimRight(get("TELEGRAM_API_URL", "https://api.telegram.org"), "/"),
		TelegramWebhookSecret: get("TELEGRAM_WEBHOOK_SECRET", ""),
		TwilioAccountSID:      get("TWILIO_ACCOUNT_SID", ""),
		TwilioAuthToken:       get("TWILIO_AUTH_TOKEN", ""),
		TwilioAPIURL:          strings.TrimRight(get("TWILIO_API_URL", ""), "/"),
		TwilioFromNumber:      get("TWILIO_FROM_NUMBER", ""),
		TwilioCallLanguage:    get("TWILIO_CALL_LANGUAGE", "uk-UA"),
		TwilioCallVoice:       get("TWILIO_CALL_VOICE", ""),
		SMTPURL:               get("SMTP_URL", ""),
		SMTPFrom:              get("SMTP_FROM", ""),
		BillingWebhookURL:     get("BILLING_WEBHOOK_URL", ""),
		CodecOrigins:          strings.FieldsFunc(get("AUTHFLOW_CODEC_ORIGINS", ""), func(r rune) bool { return r == ',' || r == ' ' }),
		MetricsAddr:           get("AUTHFLOW_METRICS_ADDR", ""),
		MetricsToken:          get("AUTHFLOW_METRICS_TOKEN", ""),
		DataDir:               dataDir,
		Dev:                   mode == Dev,
	}
	c.HTTPAddrSet = get("AUTHFLOW_HTTP_ADDR", "") != ""
	// In dev the public URL follows the listen address: setting only
	// AUTHFLOW_HTTP_ADDR must not leave the pages' origin check and the
	// Temporal UI's codec on another port.
	publicURL := "http://localhost:8080"
	if mode == Dev {
		publicURL = DevPublicURL(c.HTTPAddr)
		c.PublicURLFollowsListener = get("AUTHFLOW_PUBLIC_URL", "") == ""
	}
	c.PublicURL = strings.TrimRight(get("AUTHFLOW_PUBLIC_URL", publicURL), "/")
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		bad("AUTHFLOW_METRICS_TOKEN must be at least 16 characters")
	}
	switch m := strings.ToLower(get("AUTHFLOW_METRICS", "on")); m {
	case "on":
		if mode == Production && c.MetricsToken == "" {
			// /metrics names routes, outcomes and rates: not for anyone who
			// reaches the port.
			bad("AUTHFLOW_METRICS_TOKEN is required outside dev mode: /metrics would be open to anyone who reaches the port; " +
				"set it to a long random string (try: openssl rand -hex 24) and give Prometheus the same bearer token, " +
				"or set AUTHFLOW_METRICS=off to serve no /metrics")
		}
	case "off":
		c.MetricsOff = true
		if c.MetricsAddr != "" {
			bad("AUTHFLOW_METRICS_ADDR is set but AUTHFLOW_METRICS=off serves no /metrics: unset one of them")
		}
	default:
		bad("AUTHFLOW_METRICS must be on or off (got %q)", m)
	}
	switch iso := strings.ToLower(get("AUTHFLOW_HASH_ISOLATION", "on")); iso {
	case "on":
	case "off":
		c.HashInProcess = true
	default:
		bad("AUTHFLOW_HASH_ISOLATION must be on or off (got %q)", iso)
	}

	defaultDB := ""
	switch {
	case mode == Dev && dataDir == "":
		defaultDB = "sqlite://:memory:" // dev --ephemeral
	case mode == Dev:
		defaultDB = "sqlite://" + filepath.Join(dataDir, "authflow.db")
	}
	c.DatabaseURL = get("AUTHFLOW_DATABASE_URL", defaultDB)
	switch {
	case c.DatabaseURL == "":
		bad("AUTHFLOW_DATABASE_URL is required (postgres://… or sqlite://PATH)")
	case !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") && !strings.HasPrefix(c.DatabaseURL, "sqlite://"):
		bad("AUTHFLOW_DATABASE_URL must start with postgres://, postgresql:// or sqlite:// (got %q)", redactURL(c.DatabaseURL))
	}

	pub, err := url.Parse(c.PublicURL)
	if err != nil || (pub.Scheme != "http" && pub.Scheme != "https") || pub.Host == "" {
		bad("AUTHFLOW_PUBLIC_URL must be an absolute http(s) URL such as https://panel.example.com (got %q)", c.PublicURL)
	} else {
		c.RPID = get("AUTHFLOW_RP_ID", pub.Hostname())
		if net.ParseIP(c.RPID) != nil {
			bad("AUTHFLOW_RP_ID must be a domain, not an IP (%s): WebAuthn refuses IPs; use http://localhost:PORT as AUTHFLOW_PUBLIC_URL", c.RPID)
		}
	}

	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("AUTHFLOW_HTTP_ADDR must be host:port or :port (got %q)", c.HTTPAddr)
	}
	if _, _, err := net.SplitHostPort(c.TemporalAddress); err != nil {
		bad("TEMPORAL_ADDRESS must be host:port (got %q)", c.TemporalAddress)
	}
	c.TemporalPort = portVar(get, "AUTHFLOW_TEMPORAL_PORT", 7233, bad)
	c.TemporalUIPort = portVar(get, "AUTHFLOW_TEMPORAL_UI_PORT", 8233, bad)

	if raw := get("AUTHFLOW_SECRET_KEY", ""); raw != "" {
		key, err := ParseSecretKey(raw)
		if err != nil {
			bad("AUTHFLOW_SECRET_KEY: %v", err)
		}
		c.SecretKey = key
	} else if mode == Dev {
		key, err := devSecretKey(dataDir)
		if err != nil {
			bad("AUTHFLOW_SECRET_KEY is unset and no dev key could be kept in %s: %v", dataDir, err)
		}
		c.SecretKey = key
	} else {
		bad("AUTHFLOW_SECRET_KEY is required: 32 random bytes as 64 hex characters or base64 (try: openssl rand -hex 32)")
	}

	if c.AdminToken == "" {
		if mode == Dev {
			token, err := devAdminToken(dataDir)
			if err != nil {
				bad("AUTHFLOW_ADMIN_TOKEN is unset and no dev token could be kept in %s: %v", dataDir, err)
			}
			c.AdminToken = token
		} else {
			bad("AUTHFLOW_ADMIN_TOKEN is required outside dev mode (a long random string)")
		}
	} else if len(c.AdminToken) < 16 {
		bad("AUTHFLOW_ADMIN_TOKEN must be at least 16 characters")
	}

	if (c.TelegramBotToken == "") != (c.TelegramBotUsername == "") {
		bad("TELEGRAM_BOT_TOKEN and TELEGRAM_BOT_USERNAME go together: set both or neither")
	}
	if !httpURL(c.TelegramAPIURL) {
		bad("TELEGRAM_API_URL must be an absolute http(s) URL (got %q)", c.TelegramAPIURL)
	}
	if s := c.TelegramWebhookSecret; s != "" {
		// Telegram's rule for secret_token.
		if !webhookSecret.MatchString(s) {
			bad("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
		}
		if c.TelegramBotToken == "" {
			bad("TELEGRAM_WEBHOOK_SECRET needs TELEGRAM_BOT_TOKEN")
		}
	}
	if c.TwilioAPIURL != "" && !httpURL(c.TwilioAPIURL) {
		bad("TWILIO_API_URL must be an absolute http(s) URL (got %q)", c.TwilioAPIURL)
	}
	if l := strings.ToLower(c.TwilioCallLanguage); !callLanguage.MatchString(c.TwilioCallLanguage) || (!strings.HasPrefix(l, "uk") && !strings.HasPrefix(l, "en")) {
		bad("TWILIO_CALL_LANGUAGE must be uk-UA or an English locale such as en-US (got %q)", c.TwilioCallLanguage)
	}
	if c.TwilioAccountSID != "" || c.TwilioAuthToken != "" {
		if c.TwilioAccountSID == "" || c.TwilioAuthToken == "" || c.TwilioFromNumber == "" {
			bad("Twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER together")
		}
		// Twilio's tokens (32 hex digits; API key secrets: 32 letters and
		// digits) have nothing else. A stray quote or line break pasted in
		// would fail every send with 401 at the first login, not here.
		if c.TwilioAuthToken != "" && !alnum.MatchString(c.TwilioAuthToken) {
			bad("TWILIO_AUTH_TOKEN must be letters and digits only (Twilio's auth token is 32 hex digits); check for quotes or spaces")
		}
		if c.TwilioAccountSID != "" && !alnum.MatchString(c.TwilioAccountSID) {
			bad("TWILIO_ACCOUNT_SID must be letters and digits only (AC followed by 32 hex digits); check for quotes or spaces")
		}
	}
	if raw := get("TWILIO_FLASH_CALL_NUMBERS", ""); raw != "" {
		for _, n := range strings.Split(raw, ",") {
			n = strings.TrimSpace(n)
			if !phone.Valid(n) {
				bad("TWILIO_FLASH_CALL_NUMBERS: %q is not an E.164 number (+ and 8 to 15 digits)", n)
				continue
			}
			c.TwilioFlashCallNumbers = append(c.TwilioFlashCallNumbers, n)
		}
		// The caller's last 4 digits are the code: a small pool makes 2FA a
		// guess for anyone with the password (docs/security.md "Flash calls").
		if n := phone.NewFlashPool(c.TwilioFlashCallNumbers).Suffixes(); n < phone.MinFlashSuffixes {
			bad("TWILIO_FLASH_CALL_NUMBERS has %d distinct last-4 suffixes; at least %d are needed, since the last 4 digits "+
				"are the whole code. Unset it to have every number's call dictate its code instead", n, phone.MinFlashSuffixes)
		}
	}
	if regions, err := phone.ParseRegions(get("AUTHFLOW_PHONE_REGIONS", "")); err != nil {
		bad("AUTHFLOW_PHONE_REGIONS: %v; leave it empty to allow every region", err)
	} else {
		c.PhoneRegions = regions
	}
	phoneSends := get("AUTHFLOW_PHONE_SENDS_PER_HOUR", strconv.Itoa(phone.DefaultSendsPerHour))
	if n, err := strconv.Atoi(phoneSends); err != nil || n < 1 {
		bad("AUTHFLOW_PHONE_SENDS_PER_HOUR must be a whole number of SMS and calls per hour, at least 1 (got %q)", phoneSends)
	} else {
		c.PhoneSendsPerHour = n
	}
	if c.DefaultLocale = get("AUTHFLOW_DEFAULT_LOCALE", i18n.English); !i18n.Valid(c.DefaultLocale) {
		bad("AUTHFLOW_DEFAULT_LOCALE must be one of %s (got %q)", strings.Join(i18n.Supported, ", "), c.DefaultLocale)
	}
	retention := get("AUTHFLOW_WEBHOOK_RETENTION", "720h")
	if d, err := time.ParseDuration(retention); retention != "0" && (err != nil || d < time.Hour) {
		bad("AUTHFLOW_WEBHOOK_RETENTION must be a duration of at least 1h, such as 720h, or 0 to keep every delivery (got %q)", retention)
	} else {
		c.WebhookRetention = d
	}
	recoveryDelay := get("AUTHFLOW_RECOVERY_DELAY", "72h")
	if d, err := time.ParseDuration(recoveryDelay); err != nil || d <= 0 {
		bad("AUTHFLOW_RECOVERY_DELAY must be a duration such as 72h (got %q)", recoveryDelay)
	} else if d < time.Hour && mode != Dev {
		bad("AUTHFLOW_RECOVERY_DELAY is %s; at least 1h outside dev: the owner of an account must have time to cancel a recovery", d)
	} else {
		c.RecoveryDelay = d
	}
	if c.SMTPURL != "" {
		u, err := url.Parse(c.SMTPURL)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			bad("SMTP_URL must look like smtp://user:pass@host:587 or smtps://host:465")
		}
		if c.SMTPFrom == "" {
			bad("SMTP_FROM is required with SMTP_URL")
		}
	}
	if c.BillingWebhookURL != "" {
		if u, err := url.Parse(c.BillingWebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			bad("BILLING_WEBHOOK_URL must be an http(s) URL")
		}
	}
	switch v := strings.ToLower(get("AUTHFLOW_WEBHOOK_ALLOW_PRIVATE", "false")); v {
	case "false":
	case "true":
		c.WebhookAllowPrivate = true
	default:
		bad("AUTHFLOW_WEBHOOK_ALLOW_PRIVATE must be true or false (got %q)", v)
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

var (
	webhookSecret = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
	callLanguage  = regexp.MustCompile(`^[a-zA-Z]{2}(-[a-zA-Z]{2})?$`)
	// alnum is a Twilio credential's character set.
	alnum = regexp.MustCompile(`^[A-Za-z0-9]+$`)
)

func httpURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// Secure reports whether cookies must carry the Secure flag (and answers
// Strict-Transport-Security): the public URL is https.
func (c Config) Secure() bool {
	return len(c.PublicURL) >= 8 && strings.EqualFold(c.PublicURL[:8], "https://")
}

// defaultHTTPAddr is where the API listens without AUTHFLOW_HTTP_ADDR: in
// dev only on loopback, so a laptop's dev server (open /metrics, the dev
// outbox with every code) is not reachable from the network; in production
// every interface, for a container or a proxy in front.
func defaultHTTPAddr(mode Mode) string {
	if mode == Dev {
		return "127.0.0.1:8080"
	}
	return ":8080"
}

// DevPublicURL is dev's public URL when AUTHFLOW_PUBLIC_URL is unset: the
// listen address as a browser on this machine opens it. A loopback, a
// wildcard or any other IP is named localhost (WebAuthn refuses IPs, and
// the pages accept state changes only from the public URL's origin); a
// host name is kept.
func DevPublicURL(httpAddr string) string {
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return "http://localhost:8080" // the address's own error is reported
	}
	if host == "" || net.ParseIP(host) != nil {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// PublicURLMismatch says what is wrong, or "", when the public URL names
// another port than the one AUTHFLOW_HTTP_ADDR listens on. Only a plain
// http public URL is compared: authflow serves no TLS, so an https one
// always has a proxy in front, which may listen anywhere. A mismatch is
// fine behind a plain-http proxy, and silently wrong without one (the
// pages' origin check, WebAuthn and the Temporal UI's codec all use the
// public URL), so it is logged, not refused.
func (c Config) PublicURLMismatch() string {
	u, err := url.Parse(c.PublicURL)
	if err != nil || !strings.EqualFold(u.Scheme, "http") {
		return ""
	}
	_, listen, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil || listen == "0" {
		return ""
	}
	public := u.Port()
	if public == "" {
		public = "80"
	}
	if public == listen {
		return ""
	}
	return fmt.Sprintf("AUTHFLOW_PUBLIC_URL %s names port %s but AUTHFLOW_HTTP_ADDR %s listens on %s: "+
		"browsers, WebAuthn and the Temporal UI's codec go to port %s, so unless a proxy forwards it here, set one of them to match",
		c.PublicURL, public, c.HTTPAddr, listen, public)
}

// ParseSecretKey decodes 32 bytes given as 64 hex characters or standard
// base64.
func ParseSecretKey(raw string) ([]byte, error) {
	raw = strings.TrimSpace(raw)
	if len(raw) == 64 {
		if b, err := hex.DecodeString(raw); err == nil {
			return b, nil
		}
	}
	if b, err := base64.StdEncoding.DecodeString(raw); err == nil && len(b) == 32 {
		return b, nil
	}
	return nil, errors.New("must be 32 bytes as 64 hex characters or standard base64")
}

func portVar(get func(string, string) string, name string, def int, bad func(string, ...any)) int {
	raw := get(name, strconv.Itoa(def))
	p, err := strconv.Atoi(raw)
	if err != nil || p < 0 || p > 65535 {
		bad("%s must be a port number 0-65535 (got %q)", name, raw)
	}
	return p
}

// devSecretKey keeps a generated key in the data dir so that a restarted dev
// server can still open the TOTP secrets it sealed. Without a data dir
// (ephemeral) the key lives as long as the process.
func devSecretKey(dataDir string) ([]byte, error) {
	if dataDir == "" {
		key := make([]byte, 32)
		_, err := rand.Read(key)
		return key, err
	}
	path := filepath.Join(dataDir, "secret.key")
	if b, err := os.ReadFile(path); err == nil {
		return ParseSecretKey(string(b))
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return key, nil
}

// devAdminToken keeps a generated admin token in the data dir, so the
// token a person copied from the banner, and the codec sign-in derived from
// it, still work after a restart. Without a data dir (ephemeral) the token
// lives as long as the process.
func devAdminToken(dataDir string) (string, error) {
	if dataDir == "" {
		return randomToken(), nil
	}
	path := filepath.Join(dataDir, AdminTokenFile)
	if b, err := os.ReadFile(path); err == nil {
		token := strings.TrimSpace(string(b))
		if len(token) < 16 {
			return "", fmt.Errorf("%s holds fewer than 16 characters; delete it to have a new token made", path)
		}
		return token, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", err
	}
	token := randomToken()
	// The admin token reads every account: owner-only, like the key.
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", err
	}
	return token, nil
}

// AdminTokenFile is where dev keeps its generated admin token, in the data
// dir.
const AdminTokenFile = "admin.token"

func randomToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = url.User(u.User.Username())
	return u.String()
}
