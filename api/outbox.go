package api

import (
	"html/template"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
)

func (s *Server) outboxJSON(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"entries": s.Outbox.Entries()})
}

var outboxTmpl = template.Must(template.New("outbox").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>authflow · dev outbox</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2430}
header{background:#1d2430;color:#fff;padding:14px 24px}header a{color:#9cc3ff}
main{max-width:860px;margin:24px auto;padding:0 16px}
.e{background:#fff;border-radius:10px;padding:14px 18px;margin:0 0 12px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.meta{color:#667;font-size:13px}.ch{display:inline-block;background:#e7ecf5;border-radius:6px;padding:0 8px;margin-right:8px;font-weight:600}
pre{white-space:pre-wrap;margin:8px 0 0;font:inherit}
form{display:inline}button{font:inherit;margin:8px 8px 0 0;padding:6px 14px;border-radius:8px;border:1px solid #b8c4d8;background:#fff;cursor:pointer}
button:hover{background:#eef3fb}.code{font-size:22px;font-weight:700;letter-spacing:3px}
</style></head><body>
<header><strong>authflow</strong> · dev outbox — every email, SMS, call and Telegram message the dev server would have sent · <a href="/login">login page</a></header>
<main>
{{if not .}}<p>Nothing sent yet.</p>{{end}}
{{range .}}<div class="e" id="m{{.ID}}"><div class="meta"><span class="ch">{{.Channel}}{{if .Kind}} · {{.Kind}}{{end}}</span>to {{.To}}{{if .From}} · from <b>{{.From}}</b>{{end}} · {{.At.Format "15:04:05"}}</div>
{{if .Subject}}<div><b>{{.Subject}}</b></div>{{end}}
{{if .Digits}}<div class="code">{{.Digits}}</div>{{end}}
<pre>{{.Text}}</pre>
{{$e := .}}{{range .Buttons}}<form method="post" action="/dev/outbox/telegram"><input type="hidden" name="chat_id" value="{{$e.ChatID}}"><input type="hidden" name="message_id" value="{{$e.MessageID}}"><input type="hidden" name="data" value="{{.Data}}"><button type="submit">{{.Text}}</button></form>{{end}}
</div>{{end}}
</main></body></html>`))

func (s *Server) outboxPage(c *gin.Context) {
	c.Header("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'")
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
	var u TelegramUpdate
	u.Callback = &TelegramCallback{ID: "dev", From: TelegramUser{ID: req.ChatID}, Data: req.Data}
	answer := s.HandleTelegramUpdate(c.Request.Context(), u)
	if c.ContentType() == "application/json" {
		c.JSON(http.StatusOK, gin.H{"answer": answer})
		return
	}
	c.Redirect(http.StatusSeeOther, "/dev/outbox")
}
