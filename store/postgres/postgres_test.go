package postgres_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/store/migrations"
	"github.com/authflow/authflow/store/postgres"
	"github.com/authflow/authflow/store/postgres/pgtest"
	"github.com/authflow/authflow/store/storetest"
)

var (
	databaseURL = pgtest.DatabaseURL
	newSchema   = pgtest.NewSchema
	open        = pgtest.Open
)

func TestStore(t *testing.T) {
	databaseURL(t)
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

func TestConcurrentMixedWrites(t *testing.T) {
	storetest.MixedWrites(t, open(t), 64, 20)
}

func TestMigrateIsIdempotent(t *testing.T) {
	s := open(t)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrating an up-to-date schema: %v", err)
	}
}

func TestOpenBadURL(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://user:secret@[::1/db")
	if err == nil {
		t.Fatal("Open with a malformed URL succeeded")
	}
	if got := err.Error(); strings.Contains(got, "secret") {
		t.Errorf("error %q reveals the password", got)
	}
}

// BenchmarkCreateSessionParallel measures session creation from parallel
// goroutines.
func BenchmarkCreateSessionParallel(b *testing.B) {
	storetest.CreateSessionsParallel(b, open(b))
}

// BenchmarkLoginQueries measures the store work of one TOTP login (pgx
// caches prepared statements itself).
func BenchmarkLoginQueries(b *testing.B) {
	storetest.LoginQueries(b, open(b))
}

func TestMigrationsDownUp(t *testing.T) {
	ctx := context.Background()
	url := databaseURL(t)
	schema := newSchema(t, url)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if err := migrations.Up(ctx, db, migrations.Postgres); err != nil {
		t.Fatal(err)
	}
	p, err := migrations.NewProvider(ctx, db, migrations.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down: %v", err)
	}
	var tables int
	if err := db.QueryRowContext(ctx,
		`SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename NOT LIKE 'goose%'`, schema).
		Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("%d tables left after migrating down", tables)
	}
	if err := migrations.Up(ctx, db, migrations.Postgres); err != nil {
		t.Fatalf("up again: %v", err)
	}
}

// statementCounter counts the statements a pool sends, each one round
// trip (BEGIN and COMMIT included; pgx prepares a statement once per
// connection, outside this count).
type statementCounter struct{ n atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (*statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestTOTPLoginIsOneStatementPerStoreCall: a TOTP login's store calls
// (storetest.TOTPLogin) are one statement each on PostgreSQL. The
// reservations that set no lock and the event with its webhook outbox
// were transactions of four statements each: 25 round trips, now 13
// (docs/performance.md "One statement a reservation").
func TestTOTPLoginIsOneStatementPerStoreCall(t *testing.T) {
	var c statementCounter
	s := pgtest.OpenWith(t, func(cfg *pgxpool.Config) { cfg.ConnConfig.Tracer = &c })
	ep, err := s.CreateWebhookEndpoint(t.Context(), store.WebhookEndpoint{URL: "https://hooks.example.com/a",
		Events: []string{"*"}, SecretSealed: []byte("sealed")})
	if err != nil {
		t.Fatal(err)
	}
	login := storetest.TOTPLogin(t, s)
	for i := range 3 {
		before := c.n.Load()
		login(i)
		if n := c.n.Load() - before; n != storetest.TOTPLoginCalls {
			t.Errorf("login %d sent %d statements for its %d store calls", i, n, storetest.TOTPLoginCalls)
		}
	}
	// Each login's event was queued for the endpoint in its one statement.
	ds, err := s.PendingWebhookDeliveries(t.Context(), ep.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 3 {
		t.Errorf("the endpoint has %d pending deliveries after 3 logins, want 3", len(ds))
	}
}

// BenchmarkSecondFactors compares the password step's read of the second
// factors in one statement with the five calls it replaced.
func BenchmarkSecondFactors(b *testing.B) {
	storetest.SecondFactorsRead(b, open(b))
}
