package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/authflow/authflow/store/internal/sqlstore"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), Memory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.w.Exec(`CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStatementsArePreparedOnceAndReused(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	d := db{w: s.ws, r: s.rs}
	for i := range 3 {
		if _, err := d.Writer().Exec(ctx, `INSERT INTO t (k, v) VALUES ($1, $2)`, string(rune('a'+i)), i); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := d.Reader().QueryRow(ctx, `SELECT count(*) FROM t WHERE v >= $1`, 0).Scan(&n); err != nil || n != 3 {
		t.Fatalf("count %d, %v", n, err)
	}
	if len(s.ws.m) != 1 || len(s.rs.m) != 1 {
		t.Fatalf("cached %d writer, %d reader statements; want 1 and 1", len(s.ws.m), len(s.rs.m))
	}
}

func TestTransactionPreparesWhatItMissedAfterward(t *testing.T) {
	s := openStore(t)
	// A transaction that prepared through the pool would wait for its own
	// connection: the deadline turns that hang into a failure.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := db{w: s.ws, r: s.rs}
	const q = `UPDATE t SET v = v + 1 WHERE k = $1`
	err := d.Tx(ctx, func(tx sqlstore.Querier) error {
		_, err := tx.Exec(ctx, q, "a")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := s.ws.cached(q); st == nil {
		t.Fatal("a statement first run in a transaction is not prepared after it")
	}
	err = d.Tx(ctx, func(tx sqlstore.Querier) error {
		_, err := tx.Exec(ctx, q, "a")
		return err
	})
	if err != nil {
		t.Fatalf("the cached statement in a transaction: %v", err)
	}
}

// A write outside the transaction that must prepare a new statement waits
// for the one write connection; the transaction holding it must still be
// able to run its statements, cached or not.
func TestTransactionIsNotBlockedByAPrepareWaitingForItsConnection(t *testing.T) {
	s := openStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := db{w: s.ws, r: s.rs}
	if _, err := d.Writer().Exec(ctx, `INSERT INTO t (k, v) VALUES ($1, $2)`, "a", 1); err != nil {
		t.Fatal(err)
	}
	outside := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		done <- d.Tx(ctx, func(tx sqlstore.Querier) error {
			go func() {
				_, err := d.Writer().Exec(ctx, `DELETE FROM t WHERE k = $1`, "zzz")
				outside <- err
			}()
			time.Sleep(50 * time.Millisecond) // the write above is now waiting to prepare
			if _, err := tx.Exec(ctx, `INSERT INTO t (k, v) VALUES ($1, $2)`, "b", 2); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE t SET v = 3 WHERE k = $1`, "a")
			return err
		})
	}()
	for _, ch := range []chan error{done, outside} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("deadlock: the transaction and a prepare wait for each other")
		}
	}
}

func TestFullCacheRunsStatementsUnprepared(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	s.ws.limit = 1
	d := db{w: s.ws, r: s.rs}
	for i, q := range []string{`INSERT INTO t (k, v) VALUES ($1, $2)`, `INSERT OR REPLACE INTO t (k, v) VALUES ($1, $2)`} {
		if _, err := d.Writer().Exec(ctx, q, string(rune('a'+i)), i); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := d.Reader().QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("count %d, %v", n, err)
	}
	if len(s.ws.m) != 1 {
		t.Fatalf("cache holds %d statements past its limit of 1", len(s.ws.m))
	}
}
