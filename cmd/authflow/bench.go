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
		Use:   "bench [--logins N] [--concurrency C] [--hash-cost 343ms|bcrypt|m=KiB,t=N,p=N] [--database-url URL]",
		Short: "Measure full logins (password + TOTP) through the HTTP API against the embedded stack, and the floors",
		Long: `bench starts the embedded stack in this process (an ephemeral Temporal server,
the worker, the API on a loopback port, the store of AUTHFLOW_DATABASE_URL or
--database-url, default a SQLite file in a temporary directory), seeds one
user with TOTP per login, and drives N full logins (POST /v1/login, challenge
totp, verify the current code) at concurrency C.

In the same run it measures two floors: the bare Temporal round trip (eager
start of a trivial workflow, one update that runs a local activity, its
result; the same driven by one Update-With-Start is shown beside it) and the
bare crypto (one argon2id verification with the run's parameters plus one
TOTP validation). It prints throughput, p50, p99, errors by code and
CPU-seconds per operation for each, and the ratio of full-login throughput
to the combined floor 1/(1/floor1 + 1/floor2). Every phase is split into
--rounds parts run interleaved, so a slow spell of the machine weighs on all
of them alike.

--hash-cost takes argon2id parameters (m=19456,t=2,p=1: the production ones)
or a duration: "343ms" calibrates parameters that cost that much per hash
here, to compare with a server whose password hash costs that much (the
peer of the issue: 343ms). "bcrypt" times the peer's hash (bcrypt cost 12)
here first and calibrates to it. With either, the report sets the peer's
figures against the run's.

--breakdown adds three phases per round: the same logins cut short after the
password step, and after the challenge (on users of their own; the flows
they leave open are terminated afterwards, unmeasured), and the login's
three calls as bare Temporal (floor 1's workflow started by
Update-With-Start, then two more updates). The differences between the
cut logins' CPU-seconds and the full login's are what each call adds,
printed beside floor 1; the bare calls give the ratio a login that cost
nothing but them and the crypto would reach.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hc, err := bench.HashCost(hashCost, o.HashInProcess)
			if err != nil {
				return err
			}
			o.Argon2, o.PeerHash, o.PeerCompare = hc.Argon2, hc.PeerHash, hc.PeerCompare
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
	cmd.Flags().StringVar(&hashCost, "hash-cost", "", `argon2id parameters "m=KiB,t=N,p=N", a duration per hash such as 343ms, or bcrypt (the peer's hash timed here) (default: production m=19456,t=2,p=1)`)
	cmd.Flags().StringVar(&o.DatabaseURL, "database-url", "", "postgres://… or sqlite://PATH (default: AUTHFLOW_DATABASE_URL, else a SQLite file in a temporary directory)")
	cmd.Flags().BoolVar(&o.HashInProcess, "hash-in-process", false, "run argon2id in this process, as AUTHFLOW_HASH_ISOLATION=off does (default: in hashing child processes)")
	cmd.Flags().IntVar(&o.Rounds, "rounds", bench.DefaultRounds, "interleaved rounds each phase is split into")
	cmd.Flags().BoolVar(&o.Breakdown, "breakdown", false, "also run logins cut short after each step and the three calls as bare Temporal; print what each call adds")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the full logins to this file (go tool pprof; with --rounds 1 nothing else)")
	return cmd
}
