//go:build !nodev

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/authflow/authflow/bench"
	"github.com/authflow/authflow/config"
)

func benchCmd() *cobra.Command {
	var o bench.Options
	var hashCost, cpuProfile, shapeDir string
	cmd := &cobra.Command{
		Use:   "bench [--logins N] [--concurrency C] [--hash-cost 300ms|m=KiB,t=N,p=N] [--database-url URL] [--three-calls] [--breakdown] [--shape DIR | --temporal-address HOST:PORT --api-url URL…]",
		Short: "Measure full logins (password + TOTP) through the HTTP API against the embedded stack or a deployment, and the floors",
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
Temporal too.

--shape DIR runs it against the production shape ` + "`authflow prodshape up --dir DIR`" + `
runs instead of the embedded stack: its Temporal, its store, its APIs (logins
take them in turn) and its secret key come from DIR/shape.json, and every
phase's CPU-s are those of the shape's processes (with their children, read
from /proc/<pid>/stat) and this one's, split by part: the Temporal server,
the workers, the APIs, this process; the machine's postgres processes are
shown beside. The floors run in this process on the shape's Temporal. The
same without a shape: --temporal-address, --database-url (the store),
--api-url and AUTHFLOW_SECRET_KEY (its CPU-s are then this process's only).
--temporal-address, --database-url and --api-url override the shape's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.Argon2, err = bench.HashCost(hashCost, o.HashInProcess); err != nil {
				return err
			}
			if err := deploymentOptions(&o, shapeDir); err != nil {
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
	cmd.Flags().StringVar(&shapeDir, "shape", "", "run against the production shape of `prodshape up --dir DIR` (its Temporal, store, APIs, secret key and processes)")
	cmd.Flags().StringVar(&o.TemporalAddress, "temporal-address", "", "run against the deployment on this Temporal (host:port) instead of the embedded stack")
	cmd.Flags().StringVar(&o.TemporalNamespace, "temporal-namespace", "", `that Temporal's namespace (default "default", or the shape's)`)
	cmd.Flags().StringSliceVar(&o.APIURLs, "api-url", nil, "that deployment's APIs, taken in turn (repeat or comma-separate)")
	return cmd
}

// deploymentOptions fills what a run against a deployment needs: from
// DIR/shape.json when --shape is given (flags win), the secret key from
// AUTHFLOW_SECRET_KEY (else the shape's).
func deploymentOptions(o *bench.Options, shapeDir string) error {
	if shapeDir != "" {
		s, err := ReadShape(filepath.Join(shapeDir, ShapeFile))
		if err != nil {
			return fmt.Errorf("--shape: %w (is `authflow prodshape up --dir %s` running?)", err, shapeDir)
		}
		if o.TemporalAddress == "" {
			o.TemporalAddress = s.TemporalAddress
		}
		if o.TemporalNamespace == "" {
			o.TemporalNamespace = s.Namespace
		}
		if o.DatabaseURL == "" {
			o.DatabaseURL = s.StoreURL
		}
		if len(o.APIURLs) == 0 {
			o.APIURLs = s.APIURLs
		}
		for _, p := range s.Processes {
			o.Processes = append(o.Processes, bench.Process{Name: p.Name, PID: p.PID})
		}
		if os.Getenv("AUTHFLOW_SECRET_KEY") == "" {
			key, err := config.ParseSecretKey(s.SecretKey)
			if err != nil {
				return fmt.Errorf("--shape: the secret key of %s: %w", ShapeFile, err)
			}
			o.SecretKey = key
		}
	}
	if o.TemporalAddress == "" {
		if len(o.APIURLs) > 0 {
			return errors.New("--api-url needs --temporal-address (or --shape): the embedded stack has its own API")
		}
		return nil
	}
	if o.SecretKey == nil {
		raw := os.Getenv("AUTHFLOW_SECRET_KEY")
		if raw == "" {
			return errors.New("--temporal-address: set AUTHFLOW_SECRET_KEY to the deployment's (the users' TOTP secrets are sealed under it)")
		}
		key, err := config.ParseSecretKey(raw)
		if err != nil {
			return fmt.Errorf("AUTHFLOW_SECRET_KEY: %w", err)
		}
		o.SecretKey = key
	}
	if o.DatabaseURL == "" {
		o.DatabaseURL = os.Getenv("AUTHFLOW_DATABASE_URL")
	}
	return nil
}
