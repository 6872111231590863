package smtpsink

import (
	"net/smtp"
	"strings"
	"testing"
	"time"
)

func TestEveryRecipientKeepsTheMessage(t *testing.T) {
	s := Start(t)
	msg := "Subject: code\r\nIdempotency-Key: k1\r\n\r\nYour code is 123456.\r\n"
	before := time.Now()
	if err := smtp.SendMail(s.Addr, nil, "a@example.com", []string{"B@example.com", "c@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Mails()); n != 2 {
		t.Fatalf("%d mails, want one per recipient", n)
	}
	got := s.To("b@EXAMPLE.com")
	if len(got) != 1 || got[0].Header.Get("Idempotency-Key") != "k1" || !strings.Contains(string(got[0].Body), "123456") {
		t.Fatalf("to b: %+v", got)
	}
	if got[0].At.Before(before) || got[0].At.After(time.Now()) {
		t.Fatalf("accepted at %s, not during the send", got[0].At)
	}
	if got[0].Text() != "Your code is 123456.\r\n" {
		t.Fatalf("text %q", got[0].Text())
	}
	if len(s.To("nobody@example.com")) != 0 {
		t.Fatal("a mail to nobody")
	}
}

func TestTextIsThePlainPartDecoded(t *testing.T) {
	s := Start(t)
	msg := "Subject: code\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b1\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"0JLQsNGIINC60L7QtDogNjU0MzIx\r\n" +
		"--b1\r\nContent-Type: text/html\r\n\r\n<p>HTML 111111</p>\r\n--b1--\r\n"
	if err := smtp.SendMail(s.Addr, nil, "a@example.com", []string{"b@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if got := s.To("b@example.com")[0].Text(); got != "Ваш код: 654321" {
		t.Fatalf("text %q", got)
	}
}
