package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/authflow/authflow/api"
	"github.com/authflow/authflow/app"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/store"
)

func flowsCmd() *cobra.Command {
	var f api.FlowFilter
	var dataDir string
	cmd := &cobra.Command{
		Use:   "flows [--kind login|enroll|recovery] [--state S] [--stuck-for 5m] [--user ID|EMAIL]",
		Short: "List flows from Temporal visibility, e.g. logins stuck in one state",
		Long: `flows lists login and enrollment flows from Temporal visibility, newest
first. A flow is stuck when it is still running and its state has not changed
for --stuck-for. --user takes a user id or an email (looked up in
AUTHFLOW_DATABASE_URL, or the dev data dir's database).

Temporal is found as the first of these says: TEMPORAL_ADDRESS (and
TEMPORAL_NAMESPACE); the authflow dev running on --data-dir (it describes
itself there); AUTHFLOW_TEMPORAL_PORT on 127.0.0.1, as authflow dev binds it;
localhost:7233.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.Check(); err != nil {
				return flagError(err)
			}
			ctx := cmd.Context()
			if strings.Contains(f.UserID, "@") {
				id, err := userIDByEmail(ctx, dataDir, f.UserID)
				if err != nil {
					return err
				}
				f.UserID = id
			}
			t := findTemporal(os.Getenv, dataDir)
			cfg, err := config.LoadFrom(func(k string) string {
				switch k {
				case "AUTHFLOW_SECRET_KEY", "AUTHFLOW_ADMIN_TOKEN":
					return "0000000000000000000000000000000000000000000000000000000000000000"
				case "TEMPORAL_ADDRESS":
					return t.address
				case "TEMPORAL_NAMESPACE":
					return t.namespace
				}
				return os.Getenv(k)
			}, config.Dev, "")
			if err != nil {
				return err
			}
			co, err := app.ClientOptions(cfg, newLogger(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			c, err := app.DialTemporal(ctx, cfg, co)
			if err != nil {
				return fmt.Errorf("%w (Temporal found by %s)", err, t.from)
			}
			defer c.Close()
			rows, err := api.ListFlows(ctx, c, f, time.Now())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WORKFLOW ID\tKIND\tUSER\tSTATE\tMETHOD\tSTARTED\tSTATE SINCE")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.WorkflowID, r.Kind, r.UserID, r.State, r.Method,
					r.StartedAt.Format(time.RFC3339), time.Since(r.UpdatedAt).Round(time.Second))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&f.Kind, "kind", "", "login, enroll or recovery")
	cmd.Flags().StringVar(&f.State, "state", "", "choose_method, challenge, done, failed, expired (or password, starting: before the first step)")
	cmd.Flags().DurationVar(&f.OlderThan, "stuck-for", 0, "only running flows whose state has not changed for this long (e.g. 5m)")
	cmd.Flags().StringVar(&f.UserID, "user", "", "user id or email")
	cmd.Flags().IntVar(&f.Limit, "limit", 100, "at most this many flows")
	cmd.Flags().StringVar(&dataDir, "data-dir", "./.authflow", "dev data dir: its running authflow dev's Temporal, and its database when AUTHFLOW_DATABASE_URL is unset")
	return cmd
}

// flagError words FlowFilter.Check's answer with the flags' names.
func flagError(err error) error {
	r := strings.NewReplacer("kind must", "--kind must", "state must", "--state must", "older_than", "--stuck-for")
	return errors.New(r.Replace(err.Error()))
}

// userIDByEmail resolves --user EMAIL in the database.
func userIDByEmail(ctx context.Context, dataDir, email string) (string, error) {
	st, err := dbOnly(ctx, dataDir)
	if err != nil {
		return "", err
	}
	defer st.Close()
	u, err := st.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("--user: no user has the email %s", strings.TrimSpace(email))
	}
	if err != nil {
		return "", err
	}
	return u.ID, nil
}

// temporalTarget is the Temporal a CLI command talks to, and how it was
// found.
type temporalTarget struct {
	address, namespace, from string
}

// findTemporal finds Temporal for a CLI command: TEMPORAL_ADDRESS when set;
// else the authflow dev running on dataDir, whatever port it got; else
// AUTHFLOW_TEMPORAL_PORT on the address dev binds; else the default.
func findTemporal(getenv func(string) string, dataDir string) temporalTarget {
	ns := strings.TrimSpace(getenv("TEMPORAL_NAMESPACE"))
	if addr := strings.TrimSpace(getenv("TEMPORAL_ADDRESS")); addr != "" {
		return temporalTarget{addr, ns, "TEMPORAL_ADDRESS"}
	}
	if s, ok := runningDev(dataDir); ok {
		if ns == "" {
			ns = s.TemporalNamespace
		}
		return temporalTarget{s.TemporalAddress, ns, fmt.Sprintf("the authflow dev running on %s (pid %d)", dataDir, s.PID)}
	}
	if port := strings.TrimSpace(getenv("AUTHFLOW_TEMPORAL_PORT")); port != "" && port != "0" {
		return temporalTarget{net.JoinHostPort(devIP, port), ns, "AUTHFLOW_TEMPORAL_PORT, where authflow dev listens"}
	}
	return temporalTarget{"localhost:7233", ns, "the default, localhost:7233 (set TEMPORAL_ADDRESS, or run authflow dev on --data-dir)"}
}
