package activities_test

import (
	"context"
	"testing"

	"github.com/authflow/authflow/activities"
)

func TestFinishEnrollmentStoresCleanNames(t *testing.T) {
	t.Run("case=a Telegram username with U+202E and a control character is stored stripped", func(t *testing.T) {
		f := newEnrollFixture(t)
		res := f.finish(f.acts.FinishTelegramEnrollment, activities.FinishEnrollmentInput{ChatID: 777101, Username: "ali\u202Ece\x07"})
		if res.Telegram == nil || res.Telegram.Username != "alice" {
			t.Fatalf("res %+v", res)
		}
		tg, err := f.st.ListTelegram(context.Background(), f.user.ID)
		if err != nil || len(tg) != 1 || tg[0].Username != "alice" {
			t.Fatalf("stored %+v %v", tg, err)
		}
	})
}
