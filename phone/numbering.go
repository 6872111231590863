package phone

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Type is a number's type in its country's numbering plan, as
// libphonenumber's metadata (github.com/nyaruka/phonenumbers) says.
type Type string

// Number types.
const (
	Mobile            Type = "mobile"
	FixedLine         Type = "fixed_line"
	FixedLineOrMobile Type = "fixed_line_or_mobile" // plans that cannot tell (+1)
	TollFree          Type = "toll_free"
	PremiumRate       Type = "premium_rate"
	SharedCost        Type = "shared_cost"
	VoIP              Type = "voip"
	PersonalNumber    Type = "personal_number"
	Pager             Type = "pager"
	UAN               Type = "uan"
	Voicemail         Type = "voicemail"
	Unknown           Type = "unknown"
)

var types = map[phonenumbers.PhoneNumberType]Type{
	phonenumbers.FIXED_LINE:           FixedLine,
	phonenumbers.MOBILE:               Mobile,
	phonenumbers.FIXED_LINE_OR_MOBILE: FixedLineOrMobile,
	phonenumbers.TOLL_FREE:            TollFree,
	phonenumbers.PREMIUM_RATE:         PremiumRate,
	phonenumbers.SHARED_COST:          SharedCost,
	phonenumbers.VOIP:                 VoIP,
	phonenumbers.PERSONAL_NUMBER:      PersonalNumber,
	phonenumbers.PAGER:                Pager,
	phonenumbers.UAN:                  UAN,
	phonenumbers.VOICEMAIL:            Voicemail,
}

// what names a type in a refusal: "premium-rate numbers cannot receive codes".
var what = map[Type]string{
	FixedLine:         "fixed-line",
	FixedLineOrMobile: "fixed-line-or-mobile",
	TollFree:          "toll-free",
	PremiumRate:       "premium-rate",
	SharedCost:        "shared-cost",
	VoIP:              "VoIP",
	PersonalNumber:    "personal (forwarding)",
	Pager:             "pager",
	UAN:               "universal access (UAN)",
	Voicemail:         "voicemail access",
	Unknown:           "unknown-type",
}

// Info is what the numbering plan says of a number.
type Info struct {
	// Valid: the number exists in its country's plan (length, prefix).
	Valid bool
	Type  Type
	// Region is the ISO 3166-1 alpha-2 code ("UA"), "001" for non-
	// geographic numbers, "" when the number does not parse.
	Region string
}

// Lookup parses an E.164 number with the numbering plans.
func Lookup(n string) Info {
	p, err := phonenumbers.Parse(n, "")
	if err != nil {
		return Info{Type: Unknown}
	}
	info := Info{Valid: phonenumbers.IsValidNumber(p), Type: Unknown, Region: phonenumbers.GetRegionCodeForNumber(p)}
	if t, ok := types[phonenumbers.GetNumberType(p)]; ok && info.Valid {
		info.Type = t
	}
	return info
}

// DefaultSendsPerHour is AUTHFLOW_PHONE_SENDS_PER_HOUR's default, the cap
// on every SMS and call together: well above a normal hour of phone
// fallbacks and enrollments for tens of thousands of accounts, far below
// what a pumping wave sends.
const DefaultSendsPerHour = 1000

// Use is what a number is asked to receive.
type Use string

// Uses.
const (
	UseSMS  Use = "sms"
	UseCall Use = "call"
)

// Takes reports whether numbers of type t can receive use: SMS goes only to
// numbers the plan says are mobiles; calls also to fixed-line-or-mobile
// numbers (plans such as +1's, which do not tell the two apart: a call
// reaches either, while an SMS to a landline is lost or read out by a
// paid gateway). Every other type — fixed lines, premium-rate, shared-cost,
// UAN, VoIP, pager, personal, toll-free, unknown — gets nothing: those are
// the ranges SMS pumping and toll fraud earn from (docs/security.md "SMS
// pumping").
func Takes(t Type, use Use) bool {
	switch t {
	case Mobile:
		return true
	case FixedLineOrMobile:
		return use == UseCall
	}
	return false
}

// Refusal rules, for metrics and logs.
const (
	RuleInvalid = "invalid"
	RuleType    = "type"
	RuleRegion  = "region"
)

// Refusal says why a number may not receive a code. Its message is meant
// for the person who typed the number.
type Refusal struct {
	Rule string // RuleInvalid, RuleType or RuleRegion
	Info Info
	msg  string
}

func (r *Refusal) Error() string { return r.msg }

// Policy says which numbers codes may go to (AUTHFLOW_PHONE_REGIONS).
// The zero value allows every region.
type Policy struct {
	// Regions are ISO 3166-1 alpha-2 codes in upper case; empty: all.
	Regions []string
}

// Check returns nil when n (E.164) may receive a code by use, else a
// *Refusal that says why.
func (p Policy) Check(n string, use Use) error {
	info := Lookup(n)
	switch {
	case !info.Valid:
		return &Refusal{Rule: RuleInvalid, Info: info,
			msg: "this number does not exist in its country's numbering plan; check the country code and the digits"}
	case !Takes(info.Type, use) && use == UseSMS && Takes(info.Type, UseCall):
		return &Refusal{Rule: RuleType, Info: info, msg: what[info.Type] + " numbers cannot receive SMS codes; use a mobile number"}
	case !Takes(info.Type, use):
		return &Refusal{Rule: RuleType, Info: info, msg: what[info.Type] + " numbers cannot receive codes; use a mobile number"}
	case len(p.Regions) > 0 && !slices.Contains(p.Regions, info.Region):
		return &Refusal{Rule: RuleRegion, Info: info,
			msg: fmt.Sprintf("codes are sent only to numbers of %s; this number is of %s", strings.Join(p.Regions, ", "), regionName(info.Region))}
	}
	return nil
}

func regionName(r string) string {
	if r == "" || r == "001" || r == phonenumbers.UNKNOWN_REGION {
		return "no country"
	}
	return r
}

// ParseRegions reads AUTHFLOW_PHONE_REGIONS: comma-separated ISO 3166-1
// alpha-2 codes of regions the numbering plans know ("UA,PL"), in any case;
// empty means all regions.
func ParseRegions(raw string) ([]string, error) {
	var out []string
	for _, r := range strings.Split(raw, ",") {
		r = strings.ToUpper(strings.TrimSpace(r))
		if r == "" {
			continue
		}
		if !phonenumbers.GetSupportedRegions()[r] {
			return nil, fmt.Errorf("%q is not an ISO 3166-1 alpha-2 region code with a numbering plan (e.g. UA, PL, GB)", r)
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}
