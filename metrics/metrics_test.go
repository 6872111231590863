package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSDKHandler(t *testing.T) {
	m := New()
	h := m.SDKHandler().WithTags(map[string]string{"namespace": "default", "task-queue": "authflow"})
	h.Counter("temporal_request").Inc(2)
	h.WithTags(map[string]string{"operation": "Poll"}).Counter("temporal_request").Inc(1) // a key the family lacks
	m.SDKHandler().Counter("temporal_request").Inc(1)                                     // keys missing
	h.Timer("temporal_activity_execution_latency").Record(30 * time.Millisecond)
	h.Gauge("temporal_num_pollers").Update(3)
	h.Gauge("temporal_request").Update(1) // a name taken by a counter: dropped, no panic

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	for _, want := range []string{
		`temporal_request_total{namespace="default",task_queue="authflow"} 3`,
		`temporal_request_total{namespace="",task_queue=""} 1`,
		`temporal_activity_execution_latency_seconds_bucket{namespace="default",task_queue="authflow",le="0.05"} 1`,
		`temporal_num_pollers{namespace="default",task_queue="authflow"} 3`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestAppFamilies(t *testing.T) {
	m := New()
	m.Login("", "invalid_credentials")
	m.Login("totp", "success")
	m.HTTP("POST", "/v1/login", 429, 5*time.Millisecond)
	m.HTTP("GET", "", 404, time.Millisecond)
	m.SagaStarted()
	m.SagaCompensated()
	m.PhoneSendRefused("cap")
	var nilM *Metrics
	nilM.PhoneSendRefused("cap")
	nilM.Login("totp", "success") // a nil registry records nothing and does not panic
	nilM.HTTP("GET", "/", 200, 0)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	for _, want := range []string{
		`authflow_logins_total{method="password",outcome="invalid_credentials"} 1`,
		`authflow_logins_total{method="totp",outcome="success"} 1`,
		`authflow_rate_limited_total{route="/v1/login"} 1`,
		`authflow_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"} 1`,
		`authflow_saga_runs_total 1`,
		`authflow_saga_compensations_total 1`,
		`authflow_saga_completions_total 0`,
		`authflow_phone_sends_refused_total{reason="cap"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestProtectAsksForTheBearerToken(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("metrics")) })
	get := func(h http.Handler, auth string) int {
		r := httptest.NewRequest("GET", "/metrics", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	if code := get(Protect(ok, ""), ""); code != 200 {
		t.Errorf("no token configured: %d, want 200", code)
	}
	h := Protect(ok, "0123456789abcdef-scrape")
	for auth, want := range map[string]int{
		"": 401, "Bearer wrong": 401, "0123456789abcdef-scrape": 401, "Bearer 0123456789abcdef-scrape": 200,
	} {
		if code := get(h, auth); code != want {
			t.Errorf("Authorization %q: %d, want %d", auth, code, want)
		}
	}
}
