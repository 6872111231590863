package browser_test

import (
	"strings"
	"testing"
)

// TestRecoveryCodesOnThePages: the settings page makes a set of codes and
// shows them once with copy and download; the login page takes one of
// them as the second step, typed as a person would.
func TestRecoveryCodesOnThePages(t *testing.T) {
	a := newAccount(t, "ui-recovery")
	secret := a.withTOTP(t)
	p := open(t)
	p.signIn(a.email, pw)
	p.waitVisible("#step-choose")
	p.click(`#methods [data-method="totp"]`)
	p.waitVisible("#code-form")
	p.typeIn("#code", totpCode(t, secret))
	p.signedInAs(a.email)

	p.waitText("#rc-pill", "None")
	p.click("#rc-new")
	p.waitVisible("#rc-show")
	codes := js[[]string](p, `Array.from(document.querySelectorAll('#rc-codes li')).map(li => li.textContent)`)
	if len(codes) != 10 || len(codes[0]) != 11 || codes[0][5] != '-' {
		t.Fatalf("codes on the page: %v", codes)
	}
	if !p.visible("#rc-copy") || !p.visible("#rc-download") {
		t.Fatal("no copy or download step")
	}
	p.waitText("#rc-pill", "10 codes left")
	p.shot("recovery-codes")
	p.click("#rc-done")
	p.wait("the codes to be hidden", `document.getElementById('rc-codes').children.length === 0 && document.getElementById('rc-show').hidden`)

	p.signOut()
	p.signIn(a.email, pw)
	p.waitVisible("#step-choose")
	if got := strings.Join(p.methods(), ","); got != "totp,recovery_code" {
		t.Fatalf("methods %s", got)
	}
	p.click(`#methods [data-method="recovery_code"]`)
	p.waitVisible("#code-form")
	p.waitText("#code-label", "Recovery code")
	p.typeIn("#code", strings.ToUpper(codes[3]))
	p.click("#code-submit")
	p.signedInAs(a.email)
	p.waitText("#rc-pill", "9 codes left")
}
