// Package frames is the AMQP 1.0 framing layer (part 2, transport): the 8-byte frame header, the
// performatives, delivery states and SASL frames. It depends only on the type codec.
package frames

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Frame types (part 2, section 2.3).
const (
	TypeAMQP uint8 = 0
	TypeSASL uint8 = 1
)

// HeaderSize is the size of the fixed frame header.
const HeaderSize = 8

// MinMaxFrameSize is the smallest max-frame-size a peer may announce (part 2, section 2.7.1).
const MinMaxFrameSize = 512

// Protocol headers exchanged before any frame (part 2, section 2.2; part 5, section 5.3).
var (
	ProtoAMQP = [8]byte{'A', 'M', 'Q', 'P', 0, 1, 0, 0}
	ProtoSASL = [8]byte{'A', 'M', 'Q', 'P', 3, 1, 0, 0}
	ProtoTLS  = [8]byte{'A', 'M', 'Q', 'P', 2, 1, 0, 0}
)

// Header is the frame header: SIZE(4) DOFF(1) TYPE(1) CHANNEL(2).
type Header struct {
	Size       uint32
	DataOffset uint8
	Type       uint8
	Channel    uint16
}

// ParseHeader decodes and validates a frame header against maxFrameSize.
func ParseHeader(b [HeaderSize]byte, maxFrameSize uint32) (Header, error) {
	h := Header{
		Size:       binary.BigEndian.Uint32(b[0:4]),
		DataOffset: b[4],
		Type:       b[5],
		Channel:    binary.BigEndian.Uint16(b[6:8]),
	}
	if h.Size < HeaderSize {
		return h, fmt.Errorf("frame size %d below header size: %w", h.Size, ErrMalformed)
	}
	if h.DataOffset < 2 || uint32(h.DataOffset)*4 > h.Size {
		return h, fmt.Errorf("data offset %d for frame size %d: %w", h.DataOffset, h.Size, ErrMalformed)
	}
	if h.Type != TypeAMQP && h.Type != TypeSASL {
		return h, fmt.Errorf("frame type %d: %w", h.Type, ErrMalformed)
	}
	if maxFrameSize > 0 && h.Size > maxFrameSize {
		return h, fmt.Errorf("frame of %d bytes, limit %d: %w", h.Size, maxFrameSize, ErrFrameTooLarge)
	}
	return h, nil
}

// Reader reads whole frames from a stream, however the bytes are split across reads.
type Reader struct {
	r   *bufio.Reader
	buf []byte
	// MaxFrameSize is the largest frame accepted; 0 means no limit beyond 4 GiB.
	MaxFrameSize uint32
}

// NewReader returns a frame reader over r.
func NewReader(r io.Reader, maxFrameSize uint32) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64*1024), MaxFrameSize: maxFrameSize}
}

// ReadProtoHeader reads the 8-byte protocol header.
func (r *Reader) ReadProtoHeader() ([8]byte, error) {
	var h [8]byte
	_, err := io.ReadFull(r.r, h[:])
	return h, err
}

// Next reads the next frame and returns its header and body (the bytes after the extended
// header). The body is only valid until the next call.
func (r *Reader) Next() (Header, []byte, error) {
	var hb [HeaderSize]byte
	if _, err := io.ReadFull(r.r, hb[:]); err != nil {
		return Header{}, nil, err
	}
	h, err := ParseHeader(hb, r.MaxFrameSize)
	if err != nil {
		return h, nil, err
	}
	n := int(h.Size) - HeaderSize
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	r.buf = r.buf[:n]
	if _, err := io.ReadFull(r.r, r.buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return h, nil, err
	}
	ext := int(h.DataOffset)*4 - HeaderSize
	return h, r.buf[ext:], nil
}

// Append appends a complete frame holding body p (nil for an empty keep-alive frame) and payload.
func Append(b []byte, typ uint8, channel uint16, p Performative, payload []byte) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 2, typ, byte(channel>>8), byte(channel))
	if p != nil {
		var err error
		if b, err = p.AppendAMQP(b); err != nil {
			return b[:start], err
		}
	}
	b = append(b, payload...)
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b, nil
}
