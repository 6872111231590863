package browser_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
)

// TestCodecSignInLetsTheUIDecode signs the browser in at /admin/codec and
// calls the codec as the Temporal UI does — from a page on another port,
// with the browser's credentials — in a real Chromium: the cookie must
// survive SameSite, CORS with credentials, and sign-out.
func TestCodecSignInLetsTheUIDecode(t *testing.T) {
	in, _ := converter.GetDefaultDataConverter().ToPayload(map[string]string{"hello": "operator"})
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{in}})
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/codec/encode", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+env.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	encoded, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(encoded), base64.StdEncoding.EncodeToString(in.Data)) {
		t.Fatalf("encode: %d %s", resp.StatusCode, encoded)
	}

	p := open(t)
	decode := func() string {
		p.do(chromedp.Navigate(uiStandIn + "/"))
		js[bool](p, `(window.__codec = '', fetch(`+quote(base+"/codec/decode")+`, {method: 'POST', credentials: 'include',
			headers: {'Content-Type': 'application/json', 'X-Namespace': 'default'}, body: `+quote(string(encoded))+`})
			.then(r => r.text().then(t => { window.__codec = r.status + ' ' + t }))
			.catch(e => { window.__codec = 'error ' + e }), true)`)
		p.wait("the codec's answer", `window.__codec !== ''`)
		return js[string](p, `window.__codec`)
	}
	if got := decode(); !strings.HasPrefix(got, "401 ") {
		t.Fatalf("before sign-in the UI's call got %q, want 401", got)
	}

	p.nav("/admin/codec")
	p.typeIn("#codec-token", "not the admin token")
	p.click("#codec-signin")
	p.waitText("#codec-msg", "not the admin token")
	p.typeIn("#codec-token", env.AdminToken)
	p.click("#codec-signin")
	p.waitText("#codec-msg", "Signed in")
	p.shot("codec-signin")
	if got := decode(); !strings.HasPrefix(got, "200 ") || !strings.Contains(got, base64.StdEncoding.EncodeToString(in.Data)) {
		t.Fatalf("after sign-in the UI's call got %q, want the decoded payload", got)
	}

	p.nav("/admin/codec")
	p.click("#codec-signout")
	p.waitText("#codec-msg", "Signed out")
	if got := decode(); !strings.HasPrefix(got, "401 ") {
		t.Fatalf("after sign-out the UI's call got %q, want 401", got)
	}
}
