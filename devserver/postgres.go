package devserver

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	postgresplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	pgschema "go.temporal.io/server/schema/postgresql/v12"
	"go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"
)

// Postgres places the server's persistence and visibility on PostgreSQL,
// each in a database of its own, as a Temporal cluster runs in production.
type Postgres struct {
	// URL is the PostgreSQL server: postgres://user[:password]@host:port/?sslmode=…
	// Its path (a database name) is ignored; its query parameters are
	// passed to every connection.
	URL string
	// Database and VisibilityDatabase are the server's two databases;
	// PreparePostgres creates them when missing.
	Database, VisibilityDatabase string
}

// The schemas PreparePostgres sets up: the ones embedded in the server
// module, as temporal-sql-tool's update-schema --schema-name applies them.
const (
	pgSchemaName           = "postgresql/v12/temporal"
	pgVisibilitySchemaName = "postgresql/v12/visibility"
	// pgAdminDatabase is where CREATE DATABASE runs from
	// (temporal-sql-tool's --defaultdb).
	pgAdminDatabase = "postgres"
	// pgMaxConns bounds each of the server's connection pools (it opens one
	// per store and service): PostgreSQL's default max_connections is 100,
	// and authflow's own processes need some too.
	pgMaxConns = 20
)

// sqlConfig is the plugin config for database on p's server.
func (p Postgres) sqlConfig(database string) (*config.SQL, error) {
	u, err := url.Parse(p.URL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return nil, fmt.Errorf("devserver: %q is not a postgres://user@host:port/ URL", redact(p.URL))
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "5432")
	}
	cfg := &config.SQL{
		PluginName:      postgresplugin.PluginName,
		DatabaseName:    database,
		ConnectAddr:     host,
		ConnectProtocol: "tcp",
		User:            u.User.Username(),
		MaxConns:        pgMaxConns,
		MaxIdleConns:    pgMaxConns,
	}
	cfg.Password, _ = u.User.Password()
	if q := u.Query(); len(q) > 0 {
		cfg.ConnectAttributes = map[string]string{}
		for k := range q {
			cfg.ConnectAttributes[k] = q.Get(k)
		}
	}
	return cfg, nil
}

// redact drops the password from a URL for error messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxx")
	}
	return u.String()
}

// PreparePostgres creates p's two databases if missing and brings their
// schemas to the versions this server module embeds, as `temporal-sql-tool
// create-database`, `setup-schema -v 0.0` and `update-schema --schema-name
// postgresql/v12/…` do (docker-compose.yml's temporal-schema service runs
// exactly those): idempotent, so it runs before every start and upgrades the
// schema after a server version bump.
func PreparePostgres(p Postgres) error {
	if p.Database == "" || p.VisibilityDatabase == "" || p.Database == p.VisibilityDatabase {
		return errors.New("devserver: PostgreSQL needs two distinct database names")
	}
	logger := log.NewNoopLogger()
	for _, db := range []struct{ name, schema, version string }{
		{p.Database, pgSchemaName, pgschema.Version},
		{p.VisibilityDatabase, pgVisibilitySchemaName, pgschema.VisibilityVersion},
	} {
		cfg, err := p.sqlConfig(db.name)
		if err != nil {
			return err
		}
		// CreateDatabase connects to the admin database and is a no-op
		// when the database exists.
		if err := sqltool.DoCreateDatabase(cfg, pgAdminDatabase, logger); err != nil {
			return fmt.Errorf("devserver: create database %s: %w", db.name, err)
		}
		if cfg, err = p.sqlConfig(db.name); err != nil { // DoCreateDatabase changed cfg's database
			return err
		}
		conn, err := sqltool.NewConnection(cfg, logger)
		if err != nil {
			return fmt.Errorf("devserver: connect to %s: %w", db.name, err)
		}
		err = schema.NewSetupSchemaTask(conn, &schema.SetupConfig{InitialVersion: "0.0"}, logger).Run()
		if err == nil {
			err = schema.NewUpdateSchemaTask(conn, &schema.UpdateConfig{DBName: db.name, SchemaName: db.schema}, logger).Run()
		}
		if err == nil {
			var have string
			if have, err = conn.ReadSchemaVersion(); err == nil && have != db.version {
				err = fmt.Errorf("schema version is %s after the update, want %s", have, db.version)
			}
		}
		conn.Close()
		if err != nil {
			return fmt.Errorf("devserver: schema of %s: %w", db.name, err)
		}
	}
	return nil
}

// DropPostgres drops p's two databases if they exist: for tests that start
// from nothing.
func DropPostgres(p Postgres) error {
	var errs []error
	for _, name := range []string{p.Database, p.VisibilityDatabase} {
		cfg, err := p.sqlConfig(name)
		if err != nil {
			return err
		}
		conn, err := sqltool.NewConnection(&config.SQL{
			PluginName: cfg.PluginName, DatabaseName: pgAdminDatabase, ConnectAddr: cfg.ConnectAddr,
			ConnectProtocol: cfg.ConnectProtocol, User: cfg.User, Password: cfg.Password, ConnectAttributes: cfg.ConnectAttributes,
		}, log.NewNoopLogger())
		if err != nil {
			return fmt.Errorf("devserver: connect to %s: %w", pgAdminDatabase, err)
		}
		if err := conn.Exec(`DROP DATABASE IF EXISTS "` + strings.ReplaceAll(name, `"`, `""`) + `" WITH (FORCE)`); err != nil {
			errs = append(errs, fmt.Errorf("devserver: drop database %s: %w", name, err))
		}
		conn.Close()
	}
	return errors.Join(errs...)
}
