package phone_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/authflow/authflow/phone"
)

// TestNumberTypes: only mobile numbers get SMS, fixed-line-or-mobile ones
// (the +1 plan's) get calls only, every other type — fixed lines included —
// gets nothing and the refusal says why (docs/security.md "SMS pumping").
func TestNumberTypes(t *testing.T) {
	for _, c := range []struct {
		name, number string
		typ          phone.Type
		region       string
		sms, call    bool
		why          string // in the refusal of an SMS
	}{
		{"case=a UA mobile gets SMS and calls", "+380501234567", phone.Mobile, "UA", true, true, ""},
		{"case=a GB mobile gets SMS and calls", "+447400123456", phone.Mobile, "GB", true, true, ""},
		{"case=a US fixed-line-or-mobile gets calls only", "+14155550123", phone.FixedLineOrMobile, "US", false, true, "fixed-line-or-mobile numbers cannot receive SMS codes"},
		{"case=a UA fixed line gets nothing", "+380442345678", phone.FixedLine, "UA", false, false, "fixed-line numbers cannot receive codes"},
		{"case=a GB premium-rate 09xx gets nothing", "+449012345678", phone.PremiumRate, "GB", false, false, "premium-rate numbers cannot receive codes"},
		{"case=a shared-cost number gets nothing", "+48801234567", phone.SharedCost, "PL", false, false, "shared-cost numbers cannot receive codes"},
		{"case=a UAN gets nothing", "+445512345678", phone.UAN, "GB", false, false, "(UAN) numbers cannot receive codes"},
		{"case=a VoIP number gets nothing", "+445612345678", phone.VoIP, "GB", false, false, "VoIP numbers cannot receive codes"},
		{"case=a pager gets nothing", "+447600123456", phone.Pager, "GB", false, false, "pager numbers cannot receive codes"},
		{"case=a personal number gets nothing", "+447012345678", phone.PersonalNumber, "GB", false, false, "personal (forwarding) numbers cannot receive codes"},
		{"case=a toll-free number gets nothing", "+380800123456", phone.TollFree, "UA", false, false, "toll-free numbers cannot receive codes"},
		{"case=an invalid number (Ofcom's drama range) gets nothing", "+447700900123", phone.Unknown, "", false, false, "does not exist in its country's numbering plan"},
		{"case=an E.164-looking number of no plan gets nothing", "+15550105678", phone.Unknown, "", false, false, "does not exist"},
	} {
		t.Run(c.name, func(t *testing.T) {
			info := phone.Lookup(c.number)
			if info.Type != c.typ || (c.region != "" && info.Region != c.region) {
				t.Errorf("Lookup(%s) = %+v, want type %s region %s", c.number, info, c.typ, c.region)
			}
			var p phone.Policy
			smsErr, callErr := p.Check(c.number, phone.UseSMS), p.Check(c.number, phone.UseCall)
			if (smsErr == nil) != c.sms || (callErr == nil) != c.call {
				t.Fatalf("sms allowed %v (%v), call allowed %v (%v); want %v, %v", smsErr == nil, smsErr, callErr == nil, callErr, c.sms, c.call)
			}
			if c.why != "" {
				var r *phone.Refusal
				if !errors.As(smsErr, &r) || !strings.Contains(r.Error(), c.why) {
					t.Fatalf("refusal %v, want it to say %q", smsErr, c.why)
				}
			}
		})
	}
}

func TestRegions(t *testing.T) {
	t.Run("case=only the listed regions get codes", func(t *testing.T) {
		p := phone.Policy{Regions: []string{"UA", "PL"}}
		for _, n := range []string{"+380501234567", "+48501234567"} {
			if err := p.Check(n, phone.UseSMS); err != nil {
				t.Errorf("%s refused: %v", n, err)
			}
		}
		err := p.Check("+447400123456", phone.UseSMS)
		var r *phone.Refusal
		if !errors.As(err, &r) || r.Rule != phone.RuleRegion || !strings.Contains(err.Error(), "UA, PL") || !strings.Contains(err.Error(), "GB") {
			t.Fatalf("a GB mobile with regions UA,PL: %v", err)
		}
		if err := p.Check("+80012345678", phone.UseCall); err == nil {
			t.Fatal("a non-geographic number passed a region filter")
		}
		if err := (phone.Policy{}).Check("+447400123456", phone.UseSMS); err != nil {
			t.Fatalf("no regions listed must allow every region: %v", err)
		}
	})
	t.Run("case=the variable is parsed in any case, duplicates once, unknown codes refused", func(t *testing.T) {
		got, err := phone.ParseRegions(" ua, PL ,ua,")
		if err != nil || strings.Join(got, ",") != "UA,PL" {
			t.Fatalf("ParseRegions = %v, %v", got, err)
		}
		if got, err := phone.ParseRegions(""); err != nil || len(got) != 0 {
			t.Fatalf("empty: %v, %v", got, err)
		}
		for _, bad := range []string{"UK", "Ukraine", "001", "U1"} {
			if _, err := phone.ParseRegions("UA," + bad); err == nil {
				t.Errorf("%q accepted", bad)
			}
		}
	})
}
