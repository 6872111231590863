package rules

import (
	"context"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/security"
)

// ReplaceRecoveryCodes makes a new set of recovery codes, stores their
// keyed hashes (key: AUTHFLOW_SECRET_KEY) and returns the codes, which are
// shown once. Any earlier set stops working; the change is recorded and
// every channel told. Codes back up a second factor that is on already, so
// making them never turns 2FA on and ends no session: without another
// factor the answer is Conflict.
func (a *Account) ReplaceRecoveryCodes(ctx context.Context, c Change, key []byte) ([]string, Result, error) {
	before, err := a.before(ctx, c)
	if err != nil {
		return nil, Result{}, err
	}
	others := before
	others.RecoveryCodes = 0
	if !others.On() {
		return nil, Result{}, errkind.New(errkind.Conflict, "turn two-step authentication on first: recovery codes back up a second factor")
	}
	codes := security.NewRecoveryCodes()
	hashes := make([][]byte, len(codes))
	for i, code := range codes {
		n, _ := security.NormalizeRecoveryCode(code)
		hashes[i] = security.RecoveryCodeHash(key, c.UserID, n)
	}
	if err := a.Store.ReplaceRecoveryCodes(ctx, c.UserID, hashes, a.now()); err != nil {
		return nil, Result{}, err
	}
	res, err := a.changed(ctx, c, before, false,
		[]Event{{"recovery_codes_created", map[string]any{"count": len(codes), "replaced": before.RecoveryCodes}}},
		Notice{ID: "notice.recovery_codes"})
	return codes, res, err
}
