package ingest

import (
	"io"
	"net"
	"time"
)

// marshaler is a message payload that writes itself.
type marshaler interface {
	MarshalSize() int
	MarshalTo([]byte) (int, error)
}

// Writer writes messages to a byte stream, one write (or writev) per
// message. Control messages go through a reused buffer; a FRAME's header
// and pixels are handed to the stream together as net.Buffers, so a
// net.Conn sends them with one writev and the pixels are never copied. A
// Writer is not safe for concurrent use.
type Writer struct {
	w    io.Writer
	ctl  []byte
	fh   [FrameHeaderSize]byte
	vec  [2][]byte
	bufs net.Buffers
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// WriteHello writes a HELLO, with h.Flags in its header.
func (w *Writer) WriteHello(h *Hello) error { return w.writeControlFlags(TypeHello, h.Flags, h) }

// WriteFormat writes a FORMAT.
func (w *Writer) WriteFormat(f *Format) error { return w.writeControl(TypeFormat, f) }

// WriteBye writes a BYE.
func (w *Writer) WriteBye() error { return w.writeControl(TypeBye, nil) }

// WriteReady writes a READY.
func (w *Writer) WriteReady(r *Ready) error { return w.writeControl(TypeReady, r) }

// WriteError writes an ERROR.
func (w *Writer) WriteError(e *Error) error { return w.writeControl(TypeError, e) }

func (w *Writer) writeControl(t Type, m marshaler) error { return w.writeControlFlags(t, 0, m) }

func (w *Writer) writeControlFlags(t Type, flags uint8, m marshaler) error {
	size := 0
	if m != nil {
		size = m.MarshalSize()
	}
	if cap(w.ctl) < HeaderSize+size {
		w.ctl = make([]byte, HeaderSize+size)
	}
	b := w.ctl[:HeaderSize+size]
	n := 0
	if m != nil {
		var err error
		if n, err = m.MarshalTo(b[HeaderSize:]); err != nil {
			return err
		}
	}
	h := Header{Type: t, Flags: flags, Length: uint32(n)}
	h.MarshalTo(b)
	_, err := w.w.Write(b[:HeaderSize+n])
	return err
}

// WriteFrame writes a FRAME of pix, with the timestamp ts when hasTS (else
// the server stamps it on arrival). It does not copy pix and does not keep
// it after returning; it does not allocate. A frame of more than MaxPixels
// bytes is an *Error with code message-too-large, and nothing is written.
func (w *Writer) WriteFrame(pix []byte, ts time.Duration, hasTS bool) error {
	fh := FrameHeader{Timestamp: ts, HasTimestamp: hasTS, PixelsLen: len(pix)}
	if _, err := fh.MarshalTo(w.fh[:]); err != nil {
		return err
	}
	w.vec[0], w.vec[1] = w.fh[:], pix
	w.bufs = w.vec[:]
	_, err := w.bufs.WriteTo(w.w)
	w.vec[0], w.vec[1], w.bufs = nil, nil, nil
	return err
}
