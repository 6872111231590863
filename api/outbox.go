package api

import (
	"html/template"
	"net/http"
	"regexp"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/authflow/authflow/channels/telegram"
)

func (s *Server) outboxJSON(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"entries": s.Outbox.Entries()})
}

// codeInText finds the one-time code in a message, so the page can show it
// large.
var codeInText = regexp.MustCompile(`\b\d{6}\b`)

var outboxFuncs = template.FuncMap{
	"code": func(text string) string { return codeInText.FindString(text) },
	// head and last4 split a flash call's number: its last 4 digits are
	// the code.
	"head": func(s string) string {
		if len(s) <= 4 {
			return ""
		}
		return s[:len(s)-4]
	},
	"last4": func(s string) string {
		if len(s) <= 4 {
			return s
		}
		return s[len(s)-4:]
	},
}

// outboxTmpl is the dev outbox. Like the other pages it uses /assets only:
// no inline style or script (the pages' CSP).
var outboxTmpl = template.Must(template.New("outbox").Funcs(outboxFuncs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Dev outbox · authflow</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/assets/logo.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/app.css">
</head><body>
<header class="topbar"><div class="topbar-inner">
  <a class="brand" href="/login"><img src="/assets/logo.svg" alt="">authflow</a>
  <span class="pill pill-warn">dev outbox</span>
  <span class="topbar-actions">
    <a class="btn btn-sm" href="/dev/outbox">Refresh</a>
    <a class="btn btn-sm" href="/login">Login page</a>
  </span>
</div></header>
<main class="page outbox">
  <div class="page-head">
    <h1>Dev outbox</h1>
    <p class="muted">Every email, SMS, call and Telegram message this dev server would have sent, newest first. Press a Telegram button to answer as that chat.</p>
  </div>
  {{if not .}}<div class="card"><div class="card-body empty-state">Nothing sent yet. Sign in on the <a href="/login">login page</a> and choose a method.</div></div>{{end}}
  {{range .}}
  <article class="card msg msg-{{.Channel}}" id="m{{.ID}}" data-channel="{{.Channel}}" data-to="{{.To}}">
    <div class="msg-head">
      <img src="/assets/i-{{if eq .Channel "telegram"}}telegram{{else if eq .Channel "email"}}email{{else if eq .Channel "sms"}}sms{{else}}call{{end}}.svg" alt="" width="20" height="20">
      <strong class="msg-ch">{{if eq .Channel "sms"}}SMS{{else if eq .Channel "call"}}{{if eq .Kind "flash"}}Flash call{{else}}Robot call{{end}}{{else if eq .Channel "email"}}Email{{else}}Telegram{{end}}</strong>
      {{if and (eq .Channel "telegram") .Kind}}<span class="pill">{{.Kind}}</span>{{end}}
      <time class="muted small" datetime="{{.At.Format "2006-01-02T15:04:05Z07:00"}}">{{.At.Format "15:04:05"}}</time>
    </div>
    <div class="msg-to muted small">to <span class="mono">{{.To}}</span></div>
    {{if .Subject}}<div class="msg-subject">{{.Subject}}</div>{{end}}
    {{if .Digits}}<div class="msg-code" aria-label="dictated digits">{{.Digits}}</div>
    {{else if .From}}<div class="msg-code"><span class="muted">{{head .From}}</span>{{last4 .From}}</div><p class="small muted">The code is the last 4 digits of the calling number.</p>
    {{else if ne .Channel "telegram"}}{{with code .Text}}<div class="msg-code">{{.}}</div>{{end}}{{end}}
    <pre class="msg-text">{{.Text}}</pre>
    {{if .Buttons}}<div class="msg-buttons">{{$e := .}}{{range .Buttons}}<form method="post" action="/dev/outbox/telegram"><input type="hidden" name="chat_id" value="{{$e.ChatID}}"><input type="hidden" name="message_id" value="{{$e.MessageID}}"><input type="hidden" name="data" value="{{.Data}}"><button class="btn{{if eq .Text "Not me"}} btn-danger{{end}}" type="submit">{{.Text}}</button></form>{{end}}</div>{{end}}
  </article>
  {{end}}
</main></body></html>`))

func (s *Server) outboxPage(c *gin.Context) {
	c.Header("Content-Security-Policy", pageCSP)
	// The buttons are plain form posts, and under "no-referrer" a browser
	// sends a form post's Origin as "null", which the cross-site guard
	// refuses; "same-origin" sends this page's own origin.
	c.Header("Referrer-Policy", "same-origin")
	c.Header("Content-Type", "text/html; charset=utf-8")
	entries := s.Outbox.Entries()
	for i := range entries {
		if entries[i].Channel == "telegram" && len(entries[i].Buttons) > 0 {
			entries[i].MessageID = entries[i].ID
		}
	}
	if err := outboxTmpl.Execute(c.Writer, entries); err != nil {
		logFrom(c).Error("outbox page", "err", err)
	}
}

// outboxTelegramClick plays a button press in a dev Telegram chat: it goes
// through the same handler as a real callback query. It takes a form (the
// page) or JSON (tests).
func (s *Server) outboxTelegramClick(c *gin.Context) {
	var req struct {
		ChatID    int64  `json:"chat_id" form:"chat_id"`
		MessageID int64  `json:"message_id" form:"message_id"`
		Data      string `json:"data" form:"data"`
	}
	if c.ContentType() == "application/json" {
		if err := bind(c, &req); err != nil {
			fail(c, err)
			return
		}
	} else {
		req.ChatID, _ = strconv.ParseInt(c.PostForm("chat_id"), 10, 64)
		req.MessageID, _ = strconv.ParseInt(c.PostForm("message_id"), 10, 64)
		req.Data = c.PostForm("data")
	}
	if req.ChatID == 0 || req.Data == "" {
		fail(c, badRequest("chat_id and data are required"))
		return
	}
	u := telegram.Update{Callback: &telegram.CallbackQuery{ID: "dev", From: telegram.User{ID: req.ChatID}, Data: req.Data}}
	answer := s.HandleTelegramUpdate(c.Request.Context(), u)
	if c.ContentType() == "application/json" {
		c.JSON(http.StatusOK, gin.H{"answer": answer})
		return
	}
	c.Redirect(http.StatusSeeOther, "/dev/outbox")
}
