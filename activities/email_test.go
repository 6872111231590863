package activities_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/authflow/authflow/activities"
)

var digits6 = regexp.MustCompile(`\b\d{6}\b`)

// A code never appears in an email subject: mail lists, notification
// previews and lock screens show subjects (docs/security.md).
func TestCodeEmailSubject(t *testing.T) {
	t.Run("case=the subject holds no digit of the code", func(t *testing.T) {
		f := newEnrollFixture(t)
		for _, purpose := range []string{"login", "enroll"} {
			if _, err := f.env.ExecuteActivity(f.acts.SendCode, activities.SendCodeInput{Channel: activities.ChannelEmail,
				UserID: f.user.ID, FlowID: "flow-" + purpose, Purpose: purpose}); err != nil {
				t.Fatal(err)
			}
			m := f.outbox.Entries()[0]
			code := digits6.FindString(m.Text)
			if code == "" {
				t.Fatalf("no code in the text %q", m.Text)
			}
			if strings.ContainsAny(m.Subject, code) {
				t.Fatalf("subject %q holds digits of the code %s", m.Subject, code)
			}
		}
	})
}
