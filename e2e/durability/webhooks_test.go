package durability_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/internal/smtpsink"
	"github.com/authflow/authflow/store"
)

// Webhook delivery when things break (docs/design.md "Webhooks"): a
// receiver down for a while, and a worker killed between two attempts.
// Whatever happens, every event reaches the receiver, in order, every
// request signed, and the duplicates of one event carry its webhook-id.

// standardVerify checks a request as the Standard Webhooks specification
// says, written here from the specification (not from authflow's code):
// base64-decode the secret after "whsec_", HMAC-SHA256 over
// "<webhook-id>.<webhook-timestamp>.<body>", compare with each
// space-separated "v1,<base64>" of webhook-signature; the timestamp
// within 5 minutes.
func standardVerify(secret string, h http.Header, body []byte, now time.Time) error {
	raw, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return errors.New("secret is not whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return err
	}
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("unsigned: a webhook header is missing")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return errors.New("timestamp malformed or outside 5 minutes")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("no signature matches")
}

// hookReceiver fails its first failFirst requests with 503, then answers
// 204, and keeps every request. With hold set, it does not answer the
// first request at all: it keeps it (status 0) until the sender goes away,
// and closes held then.
type hookReceiver struct {
	*httptest.Server
	failFirst int
	hold      bool
	held      chan struct{}
	secret    atomic.Value // the endpoint's, once subscribe made it
	mu        sync.Mutex
	got       []hookRequest
}

type hookRequest struct {
	id, typ string
	status  int
	verr    error // the independent verification's verdict
}

func newHookReceiver(t *testing.T, tls bool, failFirst int, hold bool) *hookReceiver {
	r := &hookReceiver{failFirst: failFirst, hold: hold, held: make(chan struct{})}
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var m struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		}
		_ = json.Unmarshal(body, &m)
		r.mu.Lock()
		status := http.StatusNoContent
		if len(r.got) < r.failFirst {
			status = http.StatusServiceUnavailable
		}
		holding := r.hold && len(r.got) == 0
		if holding {
			status = 0
		}
		hr := hookRequest{id: req.Header.Get("webhook-id"), typ: m.Type, status: status,
			verr: standardVerify(r.secretNow(), req.Header, body, time.Now())}
		if hr.verr == nil && m.ID != hr.id {
			hr.verr = errors.New("the body's id is not the webhook-id")
		}
		r.got = append(r.got, hr)
		r.mu.Unlock()
		if holding {
			<-req.Context().Done()
			close(r.held)
			return
		}
		w.WriteHeader(status)
	})
	if tls {
		r.Server = httptest.NewTLSServer(h)
	} else {
		r.Server = httptest.NewServer(h)
	}
	t.Cleanup(r.Close)
	return r
}

func (r *hookReceiver) requests() []hookRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// delivered lists the ids answered 204, in the order they were.
func (r *hookReceiver) delivered() []string {
	var out []string
	for _, g := range r.requests() {
		if g.status == http.StatusNoContent {
			out = append(out, g.id)
		}
	}
	return out
}

// secretNow is the secret of the endpoint subscribe made ("" before).
func (r *hookReceiver) secretNow() string {
	s, _ := r.secret.Load().(string)
	return s
}

// subscribe makes an endpoint for events that delivers to the receiver
// and returns its id; the receiver verifies with its secret.
func (r *hookReceiver) subscribe(t *testing.T, events ...string) string {
	t.Helper()
	id, secret := createHook(t, r.URL+"/hooks", events...)
	r.secret.Store(secret)
	return id
}

// createHook makes an endpoint through the admin API and returns its id
// and secret; it is deleted when the test ends.
func createHook(t *testing.T, url string, events ...string) (id, secret string) {
	t.Helper()
	r := apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/webhooks", map[string]any{"url": url, "events": events}), 201)
	id = r.Str("id")
	t.Cleanup(func() { env.Admin(t, "DELETE", "/v1/admin/webhooks/"+id, nil) })
	return id, r.Str("secret")
}

// addEvents records events of a new user as the activities do, in order,
// and returns their ids.
func addEvents(t *testing.T, types ...string) []string {
	t.Helper()
	user := env.NewUser(t, apitest.UniqueEmail("hooked"), pw)
	var ids []string
	for i, typ := range types {
		ev := store.Event{ID: "hook-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.Itoa(i), UserID: user, Type: typ,
			At: time.Now(), IP: "203.0.113.9", Detail: map[string]any{"n": i}}
		if err := env.Store.AddEvent(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

// checkDeliveries fails unless every request was signed, every event was
// delivered once in order, and every request of an event carried its id.
func checkDeliveries(t *testing.T, r *hookReceiver, events []string) {
	t.Helper()
	got := r.requests()
	for i, g := range got {
		if g.verr != nil {
			t.Errorf("request %d (webhook-id %q): %v", i+1, g.id, g.verr)
		}
		if !slices.Contains(events, g.id) {
			t.Errorf("request %d carried webhook-id %q, no event of this test", i+1, g.id)
		}
	}
	if d := r.delivered(); !slices.Equal(d, events) {
		t.Errorf("delivered %v, want each event once, in order: %v", d, events)
	}
}

// deliveriesOf reads the admin API's deliveries of an endpoint, by id.
func deliveriesOf(t *testing.T, endpoint string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, d := range apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/webhooks/"+endpoint+"/deliveries", nil), 200).Get("deliveries").([]any) {
		m := d.(map[string]any)
		out[m["id"].(string)] = m
	}
	return out
}

// TestWebhookReceiverDownForAWhile: a receiver that fails the first two
// requests gets every event later, in order, the failed one retried with
// the same webhook-id, every request signed; the admin API lists the
// attempts and their outcomes.
func TestWebhookReceiverDownForAWhile(t *testing.T) {
	rcv := newHookReceiver(t, false, 2, false)
	id := rcv.subscribe(t, "login_failed", "password_changed", "account_unlocked")
	events := addEvents(t, "login_failed", "password_changed", "sessions_ended", "account_unlocked")
	want := []string{events[0], events[1], events[3]} // sessions_ended is not in the filter
	eventually(t, 90*time.Second, "every event delivered", func() bool { return len(rcv.delivered()) >= len(want) })
	checkDeliveries(t, rcv, want)
	got := rcv.requests()
	if len(got) != 5 || got[0].id != want[0] || got[1].id != want[0] || got[2].id != want[0] {
		t.Fatalf("requests %+v: want the first event three times (503, 503, 204), then the others", got)
	}
	ds := deliveriesOf(t, id)
	first := ds[want[0]]
	attempts := first["attempts"].([]any)
	if first["status"] != "delivered" || len(attempts) != 3 {
		t.Fatalf("first delivery %v", first)
	}
	for i, a := range attempts {
		a := a.(map[string]any)
		wantOutcome, wantStatus := "failed", 503.0
		if i == 2 {
			wantOutcome, wantStatus = "delivered", 204.0
		}
		if a["outcome"] != wantOutcome || a["status_code"] != wantStatus {
			t.Errorf("attempt %d: %v", i+1, a)
		}
	}
	if _, ok := ds[events[2]]; ok {
		t.Error("an event the filter leaves out was queued")
	}
}

// startHookWorker starts a worker process that delivers to rcv and waits
// until it polls; its environment starts the next one.
func startHookWorker(t *testing.T, rcv *hookReceiver) (map[string]string, *proc) {
	t.Helper()
	env := hookWorkerEnv(t, rcv)
	w := startAuthflow(t, env, "worker")
	w.waitOutput(t, "worker polling", time.Minute)
	return env, w
}

// hookWorkerEnv is the environment of a worker process that delivers to
// rcv: outside dev a webhook is https, so the process trusts the
// receiver's certificate through SSL_CERT_FILE; the receiver is on
// loopback.
func hookWorkerEnv(t *testing.T, rcv *hookReceiver) map[string]string {
	t.Helper()
	certFile := filepath.Join(t.TempDir(), "receiver.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rcv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return externalWorkerEnv(t, smtpsink.Start(t), map[string]string{
		"AUTHFLOW_WEBHOOK_ALLOW_PRIVATE": "true",
		"SSL_CERT_FILE":                  certFile,
	})
}

// TestWebhookWorkerKilledBetweenAttempts kills the worker process with
// SIGKILL after a failed attempt, while its workflow waits out the
// back-off, keeps it down past the back-off, then starts another worker
// process: nothing is lost, nothing is sent unsigned, the events arrive in
// order, and the retried one carries its webhook-id every time.
func TestWebhookWorkerKilledBetweenAttempts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds authflow")
	}
	rcv := newHookReceiver(t, true, 2, false)
	workerEnv, w1 := startHookWorker(t, rcv)
	id := rcv.subscribe(t, "*")
	events := addEvents(t, "password_changed", "factor_disabled", "recovery_started")
	eventually(t, time.Minute, "the first attempt", func() bool {
		d := deliveriesOf(t, id)[events[0]]
		return d != nil && len(d["attempts"].([]any)) == 1
	})
	// Between attempts: the first failed and is recorded; the workflow
	// waits out its 5 s back-off.
	w1.kill()
	time.Sleep(8 * time.Second) // past the back-off, with no worker
	if n := len(rcv.requests()); n != 1 {
		t.Fatalf("%d requests while no worker ran, want only the first attempt", n)
	}

	w2 := startAuthflow(t, workerEnv, "worker")
	w2.waitOutput(t, "worker polling", time.Minute)
	eventually(t, 2*time.Minute, "every event delivered after the restart", func() bool { return len(rcv.delivered()) >= len(events) })
	checkDeliveries(t, rcv, events)
	for _, g := range rcv.requests()[:3] {
		if g.id != events[0] {
			t.Errorf("the first event's attempts carried webhook-id %q, want %q", g.id, events[0])
		}
	}
	ds := deliveriesOf(t, id)
	for _, ev := range events {
		if ds[ev]["status"] != "delivered" {
			t.Errorf("delivery %s: %v", ev, ds[ev])
		}
	}
	if n := len(ds[events[0]]["attempts"].([]any)); n < 3 {
		t.Errorf("the first delivery has %d attempts recorded, want the 3 the receiver saw", n)
	}
}

// TestWebhookWorkerKilledDuringAnAttempt kills the worker process with
// SIGKILL while its request is at the receiver, unanswered: the attempt is
// never recorded, so the activity's retry on the next worker (after its
// start-to-close timeout, 40 s) sends the event again — the one duplicate
// at-least-once allows, with the same webhook-id, signed — and the events
// behind it follow in order, each delivered once.
func TestWebhookWorkerKilledDuringAnAttempt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds authflow")
	}
	rcv := newHookReceiver(t, true, 0, true)
	workerEnv, w1 := startHookWorker(t, rcv)
	id := rcv.subscribe(t, "*")
	events := addEvents(t, "password_changed", "factor_disabled", "recovery_started")
	eventually(t, time.Minute, "the first request at the receiver", func() bool { return len(rcv.requests()) == 1 })
	w1.kill()
	select {
	case <-rcv.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the held request did not end when its worker was killed")
	}
	if d := deliveriesOf(t, id)[events[0]]; d["status"] != "pending" || len(d["attempts"].([]any)) != 0 {
		t.Fatalf("the interrupted delivery: %v, want pending with no attempt recorded", d)
	}

	w2 := startAuthflow(t, workerEnv, "worker")
	w2.waitOutput(t, "worker polling", time.Minute)
	eventually(t, 2*time.Minute, "every event delivered after the restart", func() bool { return len(rcv.delivered()) >= len(events) })
	checkDeliveries(t, rcv, events)
	got := rcv.requests()
	if len(got) != len(events)+1 || got[0].id != events[0] || got[1].id != events[0] || got[0].status != 0 {
		t.Fatalf("requests %+v: want the first event twice (held, then 204), then the others once", got)
	}
	ds := deliveriesOf(t, id)
	for _, ev := range events {
		if ds[ev]["status"] != "delivered" || len(ds[ev]["attempts"].([]any)) != 1 {
			t.Errorf("delivery %s: %v, want delivered with the one attempt recorded", ev, ds[ev])
		}
	}
}
