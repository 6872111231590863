package durability_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fakeTwilio answers Twilio's Messages and Calls APIs and keeps what was sent.
type fakeTwilio struct {
	*httptest.Server
	mu   sync.Mutex
	sent []map[string]string // form values: To, Body, ...
}

func newFakeTwilio(t *testing.T) *fakeTwilio {
	t.Helper()
	f := &fakeTwilio{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		m := map[string]string{"path": r.URL.Path}
		for k := range r.PostForm {
			m[k] = r.PostForm.Get(k)
		}
		f.mu.Lock()
		f.sent = append(f.sent, m)
		n := len(f.sent)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"sid":"SM%030d","status":"queued","to":%q}`, n, m["To"])
	}))
	t.Cleanup(f.Close)
	return f
}

// lastTo returns the newest message body to a number, waiting for it.
func (f *fakeTwilio) lastTo(t *testing.T, to string) string {
	t.Helper()
	var body string
	eventually(t, 20*time.Second, "an SMS to "+to, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		for i := len(f.sent) - 1; i >= 0; i-- {
			if f.sent[i]["To"] == to {
				body = f.sent[i]["Body"]
				return true
			}
		}
		return false
	})
	return body
}

// fakeBilling is BILLING_WEBHOOK_URL. While held, a request waits (the
// worker is killed meanwhile); arrived is told about every request.
type fakeBilling struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []string
	hold    chan struct{} // closed: answer at once
	arrived chan string
}

func newFakeBilling(t *testing.T) *fakeBilling {
	t.Helper()
	f := &fakeBilling{hold: make(chan struct{}), arrived: make(chan string, 16)}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		key := r.Header.Get("Idempotency-Key")
		f.mu.Lock()
		f.keys = append(f.keys, key)
		f.mu.Unlock()
		f.arrived <- key
		select {
		case <-f.hold:
		case <-r.Context().Done(): // the caller died
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(func() {
		f.release()
		f.Close()
	})
	return f
}

func (f *fakeBilling) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.hold:
	default:
		close(f.hold)
	}
}

func (f *fakeBilling) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.keys...)
}
