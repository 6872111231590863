// Package i18n gives the text people read — emails, SMS, the dictated
// call, Telegram messages and notices — in English or Ukrainian
// (docs/design.md "Languages"). Messages live in locales/<lang>.json, one
// file per language with the same ids (a test checks), read with
// github.com/nicksnyder/go-i18n. The language of a person is their stored
// one, else what their browser asks for (Accept-Language), else
// AUTHFLOW_DEFAULT_LOCALE.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
)

// Languages authflow speaks, the first the fallback.
const (
	English   = "en"
	Ukrainian = "uk"
)

// Supported lists the languages, as their tags.
var Supported = []string{English, Ukrainian}

//go:embed locales/*.json
var files embed.FS

var (
	bundle  = mustBundle()
	matcher = language.NewMatcher([]language.Tag{language.English, language.Ukrainian})
)

func mustBundle() *goi18n.Bundle {
	b := goi18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("json", json.Unmarshal)
	for _, l := range Supported {
		if _, err := b.LoadMessageFileFS(files, "locales/"+l+".json"); err != nil {
			panic(fmt.Sprintf("i18n: %v", err))
		}
	}
	return b
}

// Valid reports whether lang is a language authflow speaks.
func Valid(lang string) bool {
	for _, l := range Supported {
		if l == lang {
			return true
		}
	}
	return false
}

// Match is the language authflow speaks that acceptLanguage (an
// Accept-Language header, a Telegram language_code) asks for; "" when it
// asks for none of them.
func Match(acceptLanguage string) string {
	acceptLanguage = strings.TrimSpace(acceptLanguage)
	if acceptLanguage == "" || len(acceptLanguage) > 512 {
		return ""
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return ""
	}
	if _, i, conf := matcher.Match(tags...); conf != language.No {
		return Supported[i]
	}
	return ""
}

// Pick chooses the language: stored (the person's own) if authflow speaks
// it, else the best match of acceptLanguage (an Accept-Language header or
// Telegram's language_code), else def.
func Pick(stored, acceptLanguage, def string) string {
	if Valid(stored) {
		return stored
	}
	if l := Match(acceptLanguage); l != "" {
		return l
	}
	if Valid(def) {
		return def
	}
	return English
}

// T is message id in lang with data filled in (a map of the message's
// {{.Name}} fields). count picks a plural form where the message has them
// (pass nil when it has none). A missing message is a bug the locale test
// catches; at run time it falls back to English, then to the id.
func T(lang, id string, data map[string]any, count ...int) string {
	cfg := &goi18n.LocalizeConfig{MessageID: id, TemplateData: data}
	if len(count) > 0 {
		cfg.PluralCount = count[0]
	}
	s, err := goi18n.NewLocalizer(bundle, lang, English).Localize(cfg)
	if err != nil {
		return id
	}
	return s
}

// PagePrefix starts the ids of the pages' messages; PageScriptPrefix the
// ones the pages' scripts read (see Page).
const (
	PagePrefix       = "page."
	PageScriptPrefix = "page.js."
)

var catalogs = mustCatalogs()

func mustCatalogs() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, l := range Supported {
		raw, err := files.ReadFile("locales/" + l + ".json")
		if err != nil {
			panic(fmt.Sprintf("i18n: %v", err))
		}
		m := map[string]string{}
		if err := json.Unmarshal(raw, &m); err != nil {
			panic(fmt.Sprintf("i18n: %s: %v", l, err))
		}
		out[l] = m
	}
	return out
}

// Page is every message of lang whose id starts with prefix (an unknown
// lang gives English's), as the page's script reads them: the pages put
// the PageScriptPrefix ones into themselves as JSON, and common.js fills
// their {{.Name}} fields itself.
func Page(lang, prefix string) map[string]string {
	c, ok := catalogs[lang]
	if !ok {
		c = catalogs[English]
	}
	out := map[string]string{}
	for id, s := range c {
		if strings.HasPrefix(id, prefix) {
			out[id] = s
		}
	}
	return out
}

// PluralForm is the CLDR plural category of n in lang ("one", "few",
// "many" or "other"). A message that counts has one id per category, id
// + "." + form, in every language: English uses only one and other, and
// its few and many repeat other.
func PluralForm(lang string, n int) string {
	tag := language.English
	if lang == Ukrainian {
		tag = language.Ukrainian
	}
	if n < 0 {
		n = -n
	}
	switch plural.Cardinal.MatchPlural(tag, n, 0, 0, 0, 0) {
	case plural.One:
		return "one"
	case plural.Few:
		return "few"
	case plural.Many:
		return "many"
	default:
		return "other"
	}
}

// TN is T of the plural form of id that fits n, with n as the field N.
func TN(lang, id string, n int, data map[string]any) string {
	d := map[string]any{"N": n}
	for k, v := range data {
		d[k] = v
	}
	return T(lang, id+"."+PluralForm(lang, n), d)
}
