//go:build !nodev

package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/authflow/authflow/bench"
)

func benchCmd() *cobra.Command {
	var o bench.Options
	var hashCost, cpuProfile string
	cmd := &cobra.Command{
		Use:   "bench [--logins N] [--concurrency C] [--hash-cost 300ms|m=KiB,t=N,p=N] [--database-url URL] [--three-calls] [--breakdown]",
		Short: "Measure full logins (password + TOTP) through the HTTP API against the embedded stack, and the floors",
		Long: `bench starts the embedded stack in this process (an ephemeral Temporal server,
the worker, the API on a loopback port, the store of AUTHFLOW_DATABASE_URL or
--database-url, default a SQLite file in a temporary directory), seeds one
user with TOTP per login, and drives N full logins at concurrency C, each in
two calls: POST /v1/login, then POST /v1/login/{flow_id}/verify with
{"method":"totp","code"} straight from choose_method.

In the same run it measures two floors: the bare Temporal round trip (eager
start of a trivial workflow, one update that runs a local activity, its
result; the same driven by one Update-With-Start is shown beside it) and the
bare crypto (one argon2id verification with the run's parameters plus one
TOTP validation). It prints throughput, p50, p99, errors by code and
CPU-seconds per operation for each; each login's CPU-seconds beyond floor 2
and its p50 beyond one argon2id verification alone; and the ratio of
full-login throughput to the combined floor 1/(1/floor1 + 1/floor2). Every
phase is split into --rounds parts run interleaved, so a slow spell of the
machine weighs on all of them alike. It prints only what it measured.

--three-calls adds, every round, the same logins in three calls (challenge
totp first, then verify the code), on users of their own, for comparison.

--hash-cost takes argon2id parameters (m=19456,t=2,p=1: the production ones)
or a duration: "300ms" calibrates parameters that cost that much per hash
here, to compare with a server whose password hash costs that much.

--breakdown adds, every round, logins cut short after the password step (on
users of their own; the flows they leave open are terminated afterwards,
unmeasured) and the login's two calls as bare Temporal (floor 1's workflow
started by Update-With-Start, then one more update). The difference between
the cut logins' CPU-seconds and the full login's is what the verify call
adds, printed beside floor 1; the bare calls give the ratio a login that cost
nothing but them and the crypto would reach. With --three-calls it adds the
three-call logins cut after the challenge and the three calls as bare
Temporal too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.Argon2, err = bench.HashCost(hashCost, o.HashInProcess); err != nil {
				return err
			}
			if o.DatabaseURL == "" {
				o.DatabaseURL = os.Getenv("AUTHFLOW_DATABASE_URL")
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				o.CPUProfile = f
			}
			r, err := bench.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			r.Print(cmd.OutOrStdout())
			return nil
		},
	}
	cmd.Flags().IntVar(&o.Logins, "logins", 200, "full logins to run (and operations per floor)")
	cmd.Flags().IntVar(&o.Concurrency, "concurrency", 40, "logins in flight at once")
	cmd.Flags().StringVar(&hashCost, "hash-cost", "", `argon2id parameters "m=KiB,t=N,p=N", or a duration per hash such as 300ms (default: production m=19456,t=2,p=1)`)
	cmd.Flags().StringVar(&o.DatabaseURL, "database-url", "", "postgres://… or sqlite://PATH (default: AUTHFLOW_DATABASE_URL, else a SQLite file in a temporary directory)")
	cmd.Flags().BoolVar(&o.HashInProcess, "hash-in-process", false, "run argon2id in this process, as AUTHFLOW_HASH_ISOLATION=off does (default: in hashing child processes)")
	cmd.Flags().IntVar(&o.Rounds, "rounds", bench.DefaultRounds, "interleaved rounds each phase is split into")
	cmd.Flags().BoolVar(&o.ThreeCalls, "three-calls", false, "also run the logins in three calls (challenge totp, then verify the code), for comparison")
	cmd.Flags().BoolVar(&o.Breakdown, "breakdown", false, "also run logins cut short after the password (and after the challenge, with --three-calls) and the calls as bare Temporal; print what each call adds")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the full logins to this file (go tool pprof; with --rounds 1 nothing else)")
	return cmd
}
