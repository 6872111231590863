package channels

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// OutboxEntry is one recorded message, call or prompt.
type OutboxEntry struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Channel   string    `json:"channel"` // email, sms, call, telegram
	To        string    `json:"to"`
	Subject   string    `json:"subject,omitempty"`
	Text      string    `json:"text"`
	Kind      string    `json:"kind,omitempty"` // call: dictate | flash; telegram: prompt | text | edit
	From      string    `json:"from,omitempty"` // flash call: the calling number
	Digits    string    `json:"digits,omitempty"`
	ChatID    int64     `json:"chat_id,omitempty"`
	MessageID int64     `json:"message_id,omitempty"`
	Buttons   []Button  `json:"buttons,omitempty"`
	Key       string    `json:"key,omitempty"`
}

// Outbox is the dev stand-in for every channel: it records what would have
// been sent so a person (the /dev/outbox page) or a test can read it.
type Outbox struct {
	mu      sync.Mutex
	entries []OutboxEntry
	nextID  int64
	max     int
	// file, when set, keeps every change as a JSON line, so a restarted dev
	// server still shows the code a waiting login needs.
	file *os.File
}

var (
	_ EmailSender    = (*Outbox)(nil)
	_ SMSSender      = (*Outbox)(nil)
	_ Caller         = (*Outbox)(nil)
	_ TelegramSender = (*Outbox)(nil)
)

// NewOutbox keeps the newest 1000 entries in memory (a dev server runs for
// days).
func NewOutbox() *Outbox { return &Outbox{max: 1000} }

// OpenOutbox is NewOutbox kept in a JSON-lines file: entries already in the
// file are loaded, and every new entry or edit is appended.
func OpenOutbox(path string) (*Outbox, error) {
	o := NewOutbox()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("dev outbox: %w", err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e OutboxEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue // a line cut by a crash
		}
		o.put(e)
	}
	o.file = f
	return o, nil
}

// Close closes the file of an outbox made by OpenOutbox.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.file == nil {
		return nil
	}
	err := o.file.Close()
	o.file = nil
	return err
}

// put stores e, replacing the entry with the same id (an edit).
func (o *Outbox) put(e OutboxEntry) {
	if e.ID > o.nextID {
		o.nextID = e.ID
	}
	for i := range o.entries {
		if o.entries[i].ID == e.ID {
			o.entries[i] = e
			return
		}
	}
	o.entries = append(o.entries, e)
	if len(o.entries) > o.max {
		o.entries = o.entries[len(o.entries)-o.max:]
	}
}

// persist appends e to the file; the dev outbox is best effort by nature.
func (o *Outbox) persist(e OutboxEntry) {
	if o.file == nil {
		return
	}
	if b, err := json.Marshal(e); err == nil {
		_, _ = o.file.Write(append(b, '\n'))
	}
}

func (o *Outbox) add(e OutboxEntry) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.nextID++
	e.ID = o.nextID
	e.At = time.Now().UTC()
	o.put(e)
	o.persist(e)
	return e.ID
}

// Entries returns the entries, newest first.
func (o *Outbox) Entries() []OutboxEntry {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]OutboxEntry, len(o.entries))
	for i, e := range o.entries {
		out[len(o.entries)-1-i] = e
	}
	return out
}

// SendEmail records an email.
func (o *Outbox) SendEmail(_ context.Context, m Email) (string, error) {
	id := o.add(OutboxEntry{Channel: "email", To: m.To, Subject: m.Subject, Text: m.Text, Key: m.Key})
	return "outbox-" + strconv.FormatInt(id, 10), nil
}

// SendSMS records a text message.
func (o *Outbox) SendSMS(_ context.Context, to, body, key string) (string, error) {
	id := o.add(OutboxEntry{Channel: "sms", To: to, Text: body, Key: key})
	return "outbox-" + strconv.FormatInt(id, 10), nil
}

// DictateCall records a robot call.
func (o *Outbox) DictateCall(_ context.Context, to, digits, key string) (string, error) {
	id := o.add(OutboxEntry{Channel: "call", Kind: "dictate", To: to, Digits: digits,
		Text: "Robot call dictating " + digits, Key: key})
	return "outbox-" + strconv.FormatInt(id, 10), nil
}

// FlashCall records a flash call.
func (o *Outbox) FlashCall(_ context.Context, to, from, key string) (string, error) {
	id := o.add(OutboxEntry{Channel: "call", Kind: "flash", To: to, From: from,
		Text: "Missed call from " + from, Key: key})
	return "outbox-" + strconv.FormatInt(id, 10), nil
}

// SendPrompt records a Telegram prompt; its entry id is the message id.
func (o *Outbox) SendPrompt(_ context.Context, chatID int64, text string, buttons []Button, key string) (int64, error) {
	return o.add(OutboxEntry{Channel: "telegram", Kind: "prompt", To: strconv.FormatInt(chatID, 10),
		ChatID: chatID, Text: text, Buttons: buttons, Key: key}), nil
}

// EditPrompt updates a recorded prompt in place: its text changes and its
// buttons go, as in Telegram.
func (o *Outbox) EditPrompt(_ context.Context, chatID, messageID int64, text string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range o.entries {
		if o.entries[i].ID == messageID && o.entries[i].ChatID == chatID {
			o.entries[i].Text = text
			o.entries[i].Buttons = nil
			o.entries[i].Kind = "edited"
			o.persist(o.entries[i])
		}
	}
	return nil
}

// SendText records a Telegram notice.
func (o *Outbox) SendText(_ context.Context, chatID int64, text, key string) error {
	o.add(OutboxEntry{Channel: "telegram", Kind: "text", To: strconv.FormatInt(chatID, 10), ChatID: chatID, Text: text, Key: key})
	return nil
}

var _ TelegramBot = (*Outbox)(nil)

// AnswerCallback has nothing to answer in the outbox: the click came from
// the outbox page itself.
func (o *Outbox) AnswerCallback(context.Context, string, string) error { return nil }
