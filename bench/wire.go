package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// wireCounter is a TCP proxy in front of PostgreSQL that counts, in the
// server's messages, ReadyForQuery: one per Sync or simple query, that is
// one per round trip of a pgx client (a batch or pipeline ends in one
// Sync), and those with transaction status idle ('I'), each of which ends
// one transaction (implicit or explicit). It is used only in a counting
// pass, apart from the CPU windows, since its copying costs CPU in this
// process. Connections must not use TLS (sslmode=disable).
type wireCounter struct {
	ln     net.Listener
	target string

	roundTrips atomic.Int64
	xacts      atomic.Int64
	wg         sync.WaitGroup
}

func startWireCounter(target string) (*wireCounter, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w := &wireCounter{ln: ln, target: target}
	w.wg.Add(1)
	go w.accept()
	return w, nil
}

// Addr is host:port to connect to instead of the server.
func (w *wireCounter) Addr() string { return w.ln.Addr().String() }

func (w *wireCounter) accept() {
	defer w.wg.Done()
	for {
		c, err := w.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", w.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		w.wg.Add(2)
		go func() {
			defer w.wg.Done()
			_, _ = io.Copy(s, c)
			_ = s.Close()
		}()
		go func() {
			defer w.wg.Done()
			_ = w.count(c, s)
			_ = c.Close()
		}()
	}
}

// count forwards the server's messages to the client, counting.
func (w *wireCounter) count(dst io.Writer, src io.Reader) error {
	r := bufio.NewReaderSize(src, 64<<10)
	bw := bufio.NewWriterSize(dst, 64<<10)
	hdr := make([]byte, 5)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint32(hdr[1:])) - 4
		if n < 0 {
			return errors.New("bad message length")
		}
		if _, err := bw.Write(hdr); err != nil {
			return err
		}
		if hdr[0] == 'Z' {
			st, err := r.ReadByte()
			if err != nil {
				return err
			}
			w.roundTrips.Add(1)
			if st == 'I' {
				w.xacts.Add(1)
			}
			if err := bw.WriteByte(st); err != nil {
				return err
			}
			n--
		}
		if _, err := io.CopyN(bw, r, int64(n)); err != nil {
			return err
		}
		// Flush when nothing more is buffered, so the client is never
		// left waiting on bytes the proxy holds.
		if r.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
		}
	}
}

// Stop closes the listener; open connections end when their peers close.
func (w *wireCounter) Stop() { _ = w.ln.Close() }
