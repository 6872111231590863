package config

import (
	"fmt"
	"strings"
)

// Use names the subcommands a variable matters to. LoadFrom reads and
// checks every variable in every mode; Use says where one has an effect.
type Use uint8

// Uses. `authflow server` is ForAPI and ForWorker together.
const (
	ForDev Use = 1 << iota
	ForAPI
	ForWorker

	forAll = ForDev | ForAPI | ForWorker
)

// Var is one environment variable authflow reads.
type Var struct {
	Name    string
	Default string // "" when unset means off or none
	Meaning string
	Use     Use
}

// Vars is every variable LoadFrom reads, in the README's order: the list
// the subcommands' --help shows (Help). config's tests fail when LoadFrom
// reads a variable the list lacks, or the list names one it never reads.
var Vars = []Var{
	{"AUTHFLOW_HTTP_ADDR", "127.0.0.1:8080 in dev, :8080 otherwise", "where the API and pages listen; `authflow worker` serves its /healthz and /readyz there when it is set", forAll},
	{"AUTHFLOW_DATABASE_URL", "dev: sqlite in the data dir; required otherwise", "postgres://… or sqlite://PATH", forAll},
	{"AUTHFLOW_PUBLIC_URL", "dev: http://localhost:<port of AUTHFLOW_HTTP_ADDR>; otherwise http://localhost:8080", "WebAuthn origin, links, the one origin a browser may change state from", forAll},
	{"AUTHFLOW_RP_ID", "host of the public URL", "WebAuthn relying-party id (a domain)", forAll},
	{"AUTHFLOW_SECRET_KEY", "dev: generated into the data dir; required otherwise", "32 bytes as 64 hex or base64: seals secrets, encrypts payloads, derives tokens", forAll},
	{"AUTHFLOW_ADMIN_TOKEN", "dev: generated into the data dir; required otherwise", "bearer token of /v1/admin/* and the codec (≥16 characters)", forAll},
	{"TEMPORAL_ADDRESS", "localhost:7233", "the Temporal frontend", ForAPI | ForWorker},
	{"TEMPORAL_NAMESPACE", "default", "the Temporal namespace", forAll},
	{"AUTHFLOW_TEMPORAL_PORT", "7233", "the embedded Temporal's frontend port (0: a free one)", ForDev},
	{"AUTHFLOW_TEMPORAL_UI_PORT", "8233", "the embedded Temporal UI's port (0: a free one)", ForDev},
	{"TELEGRAM_BOT_TOKEN", "", "Telegram bot (unset: the dev outbox in dev, off otherwise)", forAll},
	{"TELEGRAM_BOT_USERNAME", "", "the bot's username, with TELEGRAM_BOT_TOKEN", forAll},
	{"TELEGRAM_API_URL", "https://api.telegram.org", "Telegram Bot API base URL", forAll},
	{"TELEGRAM_WEBHOOK_SECRET", "", "webhook mode (unset: long polling)", ForDev | ForAPI},
	{"TWILIO_ACCOUNT_SID", "", "Twilio voice and SMS (unset: the dev outbox in dev, off otherwise)", ForDev | ForWorker},
	{"TWILIO_AUTH_TOKEN", "", "Twilio's auth token", ForDev | ForWorker},
	{"TWILIO_API_URL", "", "Twilio API base URL (tests)", ForDev | ForWorker},
	{"TWILIO_FROM_NUMBER", "", "the number SMS and calls come from", ForDev | ForWorker},
	{"TWILIO_FLASH_CALL_NUMBERS", "", "flash-call callers, E.164, ≥1000 distinct last-4 suffixes (unset: calls dictate)", ForDev | ForWorker},
	{"TWILIO_CALL_LANGUAGE", "uk-UA", "language of the dictating call (uk* or en*)", ForDev | ForWorker},
	{"TWILIO_CALL_VOICE", "", "voice of the dictating call (unset: Google's uk-UA voice)", ForDev | ForWorker},
	{"AUTHFLOW_DEFAULT_LOCALE", "en", "the language (en or uk) of a person who chose none and whose browser asks for neither", forAll},
	{"AUTHFLOW_RECOVERY_DELAY", "72h", "how long an account recovery waits when every factor is lost (at least 1h outside dev)", ForDev | ForAPI},
	{"SMTP_URL", "", "email: smtp://user:pass@host:587 or smtps://host:465 (unset: the dev outbox in dev)", ForDev | ForWorker},
	{"SMTP_FROM", "", "the From of every email, with SMTP_URL", ForDev | ForWorker},
	{"BILLING_WEBHOOK_URL", "", "told when bank cards are unlinked", ForDev | ForWorker},
	{"AUTHFLOW_WEBHOOK_ALLOW_PRIVATE", "false", "true: webhook URLs may reach loopback, private, link-local and other internal addresses", forAll},
	{"AUTHFLOW_WEBHOOK_RETENTION", "720h", "how long delivered webhook deliveries and their attempts are kept (0: all; at least 1h)", ForDev | ForWorker},
	{"AUTHFLOW_CODEC_ORIGINS", "", "origins (a Temporal UI) allowed to call the payload codec (dev: the embedded UI)", ForDev | ForAPI},
	{"AUTHFLOW_METRICS_ADDR", "", "where `authflow worker` serves /metrics", ForWorker},
	{"AUTHFLOW_METRICS_TOKEN", "", "bearer token /metrics requires; required outside dev unless AUTHFLOW_METRICS=off", forAll},
	{"AUTHFLOW_METRICS", "on", "off: no /metrics at all", forAll},
	{"AUTHFLOW_HASH_ISOLATION", "on", "off: argon2id in this process instead of child processes", forAll},
	{"AUTHFLOW_PHONE_REGIONS", "", "ISO 3166-1 codes (UA,PL) codes may go to by SMS or call (unset: every region)", forAll},
	{"AUTHFLOW_PHONE_SENDS_PER_HOUR", "1000", "every SMS and call together per hour", forAll},
}

// Help lists the variables that matter to a subcommand of use, for its
// --help.
func Help(use Use) string {
	var vars []Var
	width := 0
	for _, v := range Vars {
		if v.Use&use != 0 {
			vars = append(vars, v)
			width = max(width, len(v.Name))
		}
	}
	var b strings.Builder
	b.WriteString("Environment (read and checked at start; a mistake stops it, naming the variable):\n")
	for _, v := range vars {
		fmt.Fprintf(&b, "  %-*s  %s", width, v.Name, v.Meaning)
		if v.Default != "" {
			fmt.Fprintf(&b, " [default: %s]", v.Default)
		}
		b.WriteByte('\n')
	}
	return strings.TrimSuffix(b.String(), "\n")
}
