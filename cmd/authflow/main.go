// Command authflow is the authentication engine: `authflow dev` runs
// everything in one process; `server`, `api` and `worker` run the production
// parts against an external Temporal and PostgreSQL.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "authflow:", err)
		os.Exit(1)
	}
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "authflow",
		Short: "Authentication engine where every login and 2FA enrollment is a durable Temporal workflow",
		Long: `authflow runs password login, two-step authentication (Telegram, TOTP, email,
passkeys, and the phone as a reserve method) and 2FA enrollment as Temporal
workflows behind an HTTP API.

Configuration comes from the environment (AUTHFLOW_*, TEMPORAL_*, TELEGRAM_*,
TWILIO_*, SMTP_*, BILLING_WEBHOOK_URL); see the README.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// dev and bench embed a Temporal server and its UI; a binary built with
	// -tags nodev (the production image) leaves them out.
	root.AddCommand(devCommands()...)
	root.AddCommand(serverCmd(), apiCmd(), workerCmd(), migrateCmd(), usersCmd(), flowsCmd(), healthcheckCmd())
	return root
}
