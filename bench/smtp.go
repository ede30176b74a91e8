package main

import (
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// smtpSink is a real SMTP server (emersion/go-smtp) on 127.0.0.1:0 that
// accepts every message and counts it, so the end-to-end benchmark pays for
// a real SMTP conversation per email as the app does in production.
type smtpSink struct {
	Port     int
	received atomic.Int64
	srv      *smtp.Server
	done     chan struct{}
}

func startSMTPSink() (*smtpSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("SMTP sink: %w", err)
	}
	s := &smtpSink{Port: ln.Addr().(*net.TCPAddr).Port, done: make(chan struct{})}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return sinkSession{s}, nil }))
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	go func() { defer close(s.done); _ = s.srv.Serve(ln) }()
	return s, nil
}

// Received is the number of messages accepted so far.
func (s *smtpSink) Received() int64 { return s.received.Load() }

func (s *smtpSink) close() { _ = s.srv.Close(); <-s.done }

type sinkSession struct{ s *smtpSink }

func (sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (sinkSession) Reset()                               {}
func (sinkSession) Logout() error                        { return nil }
func (x sinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	x.s.received.Add(1)
	return nil
}
