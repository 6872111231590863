package durability_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/store"
)

// flakyStore is the store with its database unreachable for UnlinkBankCards
// until released.
type flakyStore struct {
	store.Store
	mu    sync.Mutex
	down  bool
	calls int
}

func (s *flakyStore) UnlinkBankCards(ctx context.Context, userID, key string, now time.Time) (int, error) {
	s.mu.Lock()
	s.calls++
	down := s.down
	s.mu.Unlock()
	if down {
		return 0, errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	}
	return s.Store.UnlinkBankCards(ctx, userID, key, now)
}

func (s *flakyStore) state() (down bool, calls int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down, s.calls
}

// TestDatabaseUnreachableDuringUnlink: UnlinkBankCards fails while the
// database is unreachable; the activity retries, no session is issued
// meanwhile, and the login completes once the database is back.
func TestDatabaseUnreachableDuringUnlink(t *testing.T) {
	ctx := context.Background()
	flaky := &flakyStore{Store: env.Activities.Store, down: true}
	env.StopWorker()
	env.Activities.Store = flaky
	if err := env.StartWorker(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		env.StopWorker()
		env.Activities.Store = flaky.Store
		if err := env.StartWorker(); err != nil {
			t.Error(err)
		}
	})

	email := apitest.UniqueEmail("outage")
	userID := env.NewUser(t, email, pw)
	if err := env.Store.SetEmailEnabled(ctx, userID, true); err != nil {
		t.Fatal(err)
	}
	number := fmt.Sprintf("+38063%07d", time.Now().UnixNano()%10000000)
	phoneID := apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/users/"+userID+"/phones", map[string]string{"number": number}), 201).Str("id")
	apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/users/"+userID+"/bank-cards", map[string]string{"brand": "visa", "last4": "4242"}), 201)
	flow := apitest.Expect(t, env.Login(t, email, pw), 200).Str("flow_id")
	apitest.Expect(t, env.Do(t, "POST", "/v1/login/"+flow+"/challenge", "", map[string]any{
		"method": "sms", "phone_id": phoneID, "confirm_downgrade": true}), 200)
	sms := env.LastOutbox(t, func(e channels.OutboxEntry) bool { return e.Channel == "sms" && e.To == number })
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(sms.Text)

	verified := make(chan answer, 1)
	go func() {
		verified <- post(env.URL+"/v1/login/"+flow+"/verify", env.FlowSecret(flow), map[string]string{"code": code})
	}()

	eventually(t, 30*time.Second, "UnlinkBankCards to be retried", func() bool {
		_, calls := flaky.state()
		return calls >= 3
	})
	select {
	case a := <-verified:
		t.Fatalf("verify answered %d %s while the database was down", a.status, a.raw)
	default:
	}
	if s, err := env.Store.ListSessions(ctx, userID, time.Now()); err != nil || len(s) != 0 {
		t.Fatalf("%d sessions (%v) while the saga waits for the database", len(s), err)
	}
	flaky.mu.Lock()
	flaky.down = false
	flaky.mu.Unlock()

	var a answer
	select {
	case a = <-verified:
	case <-time.After(2 * time.Minute):
		t.Fatal("verify never answered after the database came back")
	}
	if a.status != http.StatusOK || a.body["state"] != "done" {
		t.Fatalf("verify: %d %s", a.status, a.raw)
	}
	if dg, _ := a.body["downgrade"].(map[string]any); dg["bank_cards_unlinked"] != 1.0 {
		t.Errorf("downgrade %v, want one card unlinked", dg)
	}
	cards, err := env.Store.ListBankCards(ctx, userID)
	if err != nil || len(cards) != 1 || cards[0].Linked {
		t.Errorf("cards %+v (%v), want the one card unlinked", cards, err)
	}
	if s, err := env.Store.ListSessions(ctx, userID, time.Now()); err != nil || len(s) != 1 {
		t.Errorf("%d sessions (%v), want one", len(s), err)
	}
}

// freezer is a TCP proxy to Temporal that can freeze: connections stay
// open, bytes sent are swallowed, nothing comes back (a hung server, a
// partition).
type freezer struct {
	ln     net.Listener
	target string
	frozen atomic.Bool
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			t.Cleanup(func() { _ = c.Close(); _ = up.Close() })
			go f.pipe(up, c)
			go f.pipe(c, up)
		}
	}()
	return f
}

func (f *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if f.frozen.Load() {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// TestTemporalUnreachable: with Temporal refusing connections, accepting
// them and never answering, or hanging after the client connected, the API
// answers 503 unavailable within its bound instead of hanging the client.
func TestTemporalUnreachable(t *testing.T) {
	quiet := sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	refused := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hole.Close() })
	go func() {
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() }) // accepted, never answered
		}
	}()
	frozen := newFreezer(t, env.Server.FrontendHostPort())
	dial := map[string]func() (client.Client, error){
		"refused": func() (client.Client, error) {
			return client.NewLazyClient(client.Options{HostPort: refused, Logger: quiet})
		},
		"black hole": func() (client.Client, error) {
			return client.NewLazyClient(client.Options{HostPort: hole.Addr().String(), Logger: quiet})
		},
		"hung after connecting": func() (client.Client, error) {
			c, err := client.Dial(client.Options{HostPort: frozen.ln.Addr().String(), Namespace: env.Server.Namespace(), Logger: quiet})
			if err == nil {
				frozen.frozen.Store(true)
			}
			return c, err
		},
	}
	for name, dial := range dial {
		t.Run("case="+name, func(t *testing.T) {
			t.Parallel()
			c, err := dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			srv := *env.API
			srv.Temporal = c
			ts := httptest.NewServer(srv.Handler())
			defer ts.Close()
			hc := &http.Client{Timeout: 60 * time.Second}
			calls := []struct{ method, path, body string }{
				{"POST", "/v1/login", `{"email":"nobody@example.com","password":"whatever"}`},
				{"GET", "/v1/login/abcdefghijklmnopqrstuvwxyz234567", ""},
				{"POST", "/v1/login/abcdefghijklmnopqrstuvwxyz234567/challenge", `{"method":"totp"}`},
				{"POST", "/v1/login/abcdefghijklmnopqrstuvwxyz234567/verify", `{"code":"123456"}`},
				{"GET", "/healthz", ""},
			}
			var wg sync.WaitGroup
			for _, call := range calls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequest(call.method, ts.URL+call.path, strings.NewReader(call.body))
					req.Header.Set("Content-Type", "application/json")
					// Some secret, so the call goes on to Temporal.
					req.Header.Set("X-Flow-Secret", "abcdefghijklmnopqrstuvwxyz234567")
					start := time.Now()
					resp, err := hc.Do(req)
					took := time.Since(start)
					if err != nil {
						t.Errorf("%s %s: %v after %s", call.method, call.path, err, took)
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"unavailable"`) {
						t.Errorf("%s %s: %d %s, want 503 unavailable", call.method, call.path, resp.StatusCode, body)
					}
					// The API bounds every call to Temporal (15 s).
					if limit := 20 * time.Second; took > limit {
						t.Errorf("%s %s took %s, want under %s", call.method, call.path, took, limit)
					}
					t.Logf("%s %s: 503 after %s", call.method, call.path, took.Round(time.Millisecond))
				}()
			}
			wg.Wait()
		})
	}
}
