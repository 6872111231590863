package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/authflow/authflow/api"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/phone"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/store/opener"
)

// readPassword reads a new password: at a terminal from a prompt that
// does not echo, asked twice; otherwise the first line of in.
func readPassword(in io.Reader, prompt io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		ask := func(label string) (string, error) {
			fmt.Fprint(prompt, label)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(prompt)
			return string(b), err
		}
		first, err := ask("Password: ")
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		again, err := ask("The same password again: ")
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		if first != again {
			return "", errors.New("the two passwords differ")
		}
		return first, nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		return "", errors.New("no password on stdin: pipe it in (printf '%s\\n' \"$PASSWORD\" | authflow users create --email …) or run in a terminal to be asked")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// dbOnly loads what a database subcommand needs: AUTHFLOW_DATABASE_URL, or
// the dev data dir's SQLite file when it is unset.
func dbOnly(ctx context.Context, dataDir string) (store.Store, error) {
	url := strings.TrimSpace(os.Getenv("AUTHFLOW_DATABASE_URL"))
	if url == "" {
		cfg, err := config.LoadFrom(func(k string) string {
			if k == "AUTHFLOW_SECRET_KEY" || k == "AUTHFLOW_ADMIN_TOKEN" {
				return strings.Repeat("0", 64) // not used by database commands
			}
			return os.Getenv(k)
		}, config.Dev, dataDir)
		if err != nil {
			return nil, err
		}
		url = cfg.DatabaseURL
	}
	st, err := opener.Open(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return st, nil
}

func migrateCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations (AUTHFLOW_DATABASE_URL) and exit",
		Long:  "migrate applies the embedded migrations to AUTHFLOW_DATABASE_URL (or the dev SQLite file). The other subcommands apply them at start too.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := dbOnly(cmd.Context(), dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			fmt.Fprintln(cmd.OutOrStdout(), "migrations applied")
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "./.authflow", "dev data dir, used when AUTHFLOW_DATABASE_URL is unset")
	return cmd
}

func usersCmd() *cobra.Command {
	var dataDir string
	users := &cobra.Command{
		Use:   "users",
		Short: "Create, list and find users, and seed their bank cards and phones (straight in the database)",
	}
	users.PersistentFlags().StringVar(&dataDir, "data-dir", "./.authflow", "dev data dir, used when AUTHFLOW_DATABASE_URL is unset")
	printJSON := func(cmd *cobra.Command, v any) error {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}

	var email string
	create := &cobra.Command{
		Use:   "create --email E",
		Short: "Create a user; the password comes from stdin, or a prompt that does not echo",
		Long: `create makes a user with the password read from stdin: in a terminal a prompt
asks for it twice without echoing it; otherwise the first line of stdin is
the password, e.g.

  printf '%s\n' "$PASSWORD" | authflow users create --email me@example.com

It is never a flag: a flag's value stays in the shell's history and shows in
every process listing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr, err := rules.ParseEmail(email)
			if err != nil {
				return fmt.Errorf("--email: %w", err)
			}
			password, err := readPassword(cmd.InOrStdin(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := rules.CheckNewPassword(password); err != nil {
				return fmt.Errorf("password: %w", err)
			}
			st, err := dbOnly(cmd.Context(), dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			hash, err := security.NewHasher(security.DefaultArgon2).Hash(password)
			if err != nil {
				return err
			}
			u, err := st.CreateUser(cmd.Context(), addr, hash)
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("a user with email %s exists", addr)
			}
			if err != nil {
				return err
			}
			return printJSON(cmd, map[string]string{"id": u.ID, "email": u.Email})
		},
	}
	create.Flags().StringVar(&email, "email", "", "the user's email (required)")
	_ = create.MarkFlagRequired("email")

	var filter, cursor string
	var limit int
	list := &cobra.Command{
		Use:   "list [--email PART] [--limit N] [--cursor C]",
		Short: "List users by email, a page at a time (--email keeps those whose email contains it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > api.MaxUsersPage {
				return fmt.Errorf("--limit must be 1-%d", api.MaxUsersPage)
			}
			st, err := dbOnly(cmd.Context(), dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			rows, next, err := api.ListUsers(cmd.Context(), st, filter, cursor, limit)
			if errors.Is(err, api.ErrBadCursor) {
				return fmt.Errorf("--cursor: %w", err)
			}
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tEMAIL\tCREATED")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.ID, r.Email, r.CreatedAt.Format(time.RFC3339))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if next != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "more: add --cursor %s\n", next)
			}
			return nil
		},
	}
	list.Flags().StringVar(&filter, "email", "", "only users whose email contains this, in any case")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many users")
	list.Flags().StringVar(&cursor, "cursor", "", "the cursor the previous page printed")

	var userID, brand, last4 string
	addCard := &cobra.Command{
		Use:   "add-card --user ID --brand visa --last4 4242",
		Short: "Link a demo bank card to a user",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(last4) != 4 || strings.Trim(last4, "0123456789") != "" {
				return errors.New("--last4 must be 4 digits")
			}
			st, err := dbOnly(cmd.Context(), dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			if _, err := st.UserByID(cmd.Context(), userID); err != nil {
				return fmt.Errorf("user %s: %w", userID, err)
			}
			c, err := st.AddBankCard(cmd.Context(), userID, brand, last4)
			if err != nil {
				return err
			}
			return printJSON(cmd, map[string]any{"id": c.ID, "brand": c.Brand, "last4": c.Last4, "linked": c.Linked})
		},
	}
	addCard.Flags().StringVar(&userID, "user", "", "user id (required)")
	addCard.Flags().StringVar(&brand, "brand", "visa", "card brand")
	addCard.Flags().StringVar(&last4, "last4", "", "last 4 digits (required)")
	_ = addCard.MarkFlagRequired("user")
	_ = addCard.MarkFlagRequired("last4")

	var number string
	addPhone := &cobra.Command{
		Use:   "add-phone --user ID --number +380501234567",
		Short: "Add a verified phone to a user",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := phone.Normalize(number)
			if err != nil {
				return err
			}
			st, err := dbOnly(cmd.Context(), dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			if _, err := st.UserByID(cmd.Context(), userID); err != nil {
				return fmt.Errorf("user %s: %w", userID, err)
			}
			p, err := st.AddPhone(cmd.Context(), userID, n, true)
			if err != nil {
				return err
			}
			return printJSON(cmd, map[string]any{"id": p.ID, "number_masked": phone.Mask(p.Number), "verified": p.Verified, "kind": phone.KindOf(p.Number)})
		},
	}
	addPhone.Flags().StringVar(&userID, "user", "", "user id (required)")
	addPhone.Flags().StringVar(&number, "number", "", "E.164 number (required)")
	_ = addPhone.MarkFlagRequired("user")
	_ = addPhone.MarkFlagRequired("number")

	users.AddCommand(create, list, addCard, addPhone)
	return users
}
