package main

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/authflow/authflow/api"
	"github.com/authflow/authflow/app"
	"github.com/authflow/authflow/config"
)

func flowsCmd() *cobra.Command {
	var f api.FlowFilter
	cmd := &cobra.Command{
		Use:   "flows [--kind login|enroll] [--state S] [--stuck-for 5m] [--user ID]",
		Short: "List flows from Temporal visibility, e.g. logins stuck in one state",
		Long: `flows lists login and enrollment flows from Temporal visibility
(TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE), newest first. A flow is stuck when it
is still running and its state has not changed for --stuck-for.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.Kind != "" && f.Kind != "login" && f.Kind != "enroll" {
				return fmt.Errorf("--kind must be login or enroll")
			}
			cfg, err := config.LoadFrom(func(k string) string {
				if k == "AUTHFLOW_SECRET_KEY" || k == "AUTHFLOW_ADMIN_TOKEN" {
					return "0000000000000000000000000000000000000000000000000000000000000000"
				}
				return os.Getenv(k)
			}, config.Dev, "")
			if err != nil {
				return err
			}
			co, err := app.ClientOptions(cfg, newLogger())
			if err != nil {
				return err
			}
			c, err := app.DialTemporal(cmd.Context(), cfg, co)
			if err != nil {
				return err
			}
			defer c.Close()
			rows, err := api.ListFlows(cmd.Context(), c, f, time.Now())
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
	cmd.Flags().StringVar(&f.Kind, "kind", "", "login or enroll")
	cmd.Flags().StringVar(&f.State, "state", "", "choose_method, challenge, done, failed, expired")
	cmd.Flags().DurationVar(&f.OlderThan, "stuck-for", 0, "only running flows whose state has not changed for this long (e.g. 5m)")
	cmd.Flags().StringVar(&f.UserID, "user", "", "user id")
	cmd.Flags().IntVar(&f.Limit, "limit", 100, "at most this many flows")
	return cmd
}
