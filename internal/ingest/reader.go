package ingest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"time"
)

// Message is one message read by a Reader. Its Payload aliases the
// Reader's buffers and is valid until the next call to Next.
type Message struct {
	Header Header
	// Payload is the payload of a message other than FRAME, or the pixels
	// of a FRAME (its timestamp removed).
	Payload []byte
	// Timestamp is a FRAME's timestamp, meaningful when Header.Flags has
	// FlagTimestamp.
	Timestamp time.Duration
}

// HasTimestamp reports whether m is a FRAME with its timestamp set.
func (m *Message) HasTimestamp() bool {
	return m.Header.Type == TypeFrame && m.Header.Flags&FlagTimestamp != 0
}

// readBufferSize is the size of a Reader's read-ahead buffer. Frames larger
// than it are read straight into the pixel buffer.
const readBufferSize = 32 << 10

// Reader reads messages from a byte stream. It checks each header against
// the protocol's limits before reading the payload, and reads FRAME pixels
// into one buffer sized for the frame format set with SetFormat, so that
// reading frames allocates nothing once the first frame is in. A Reader is
// not safe for concurrent use.
type Reader struct {
	br      *bufio.Reader
	hdr     [FrameHeaderSize]byte
	ctl     []byte // payload of the last control message
	pix     []byte // pixels of the last frame; cap is the format's largest frame
	f       Format
	hasF    bool
	least   int64
	most    int64
	discard error // set when a discard failed: the stream is out of sync
	budget  *Budget
	held    int64 // bytes of budget reserved for pix
}

// NewReader returns a Reader reading from r through a 32 KiB buffer.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, readBufferSize)}
}

// SetFormat sets the format FRAME pixels must have from now on, after the
// server has accepted it. It returns f.Validate's error, and then keeps the
// previous format. The pixel buffer is allocated at the next frame of the
// new size; a buffer larger than the new format's largest frame is
// released, so that a Reader holds at most one frame of its format.
func (r *Reader) SetFormat(f Format) error {
	if err := f.Validate(); err != nil {
		return err
	}
	r.f, r.hasF = f, true
	r.least, r.most = f.FrameSize()
	if int64(cap(r.pix)) > r.most {
		r.Release()
	}
	return nil
}

// Next reads the next message.
//
// Errors:
//   - io.EOF when the stream ends between two messages, io.ErrUnexpectedEOF
//     within one, or the underlying reader's error;
//   - a fatal *Error (malformed, message-too-large) for a header that breaks
//     the protocol's limits, or server-busy for a frame whose buffer would
//     exceed the Budget (see SetBudget): the stream cannot be read further;
//   - a non-fatal *Error for a FRAME refused whole, its payload skipped in
//     chunks without being buffered, so that the next call reads the next
//     message: no-format before SetFormat, frame-size for pixels whose size
//     is not the format's (see Format.CheckFrameSize).
//
// With an error the returned Message has the header when it was read (its
// Type may be unknown), so the caller can say what it got.
func (r *Reader) Next() (Message, error) {
	if r.discard != nil {
		return Message{}, r.discard
	}
	if _, err := io.ReadFull(r.br, r.hdr[:HeaderSize]); err != nil {
		return Message{}, err
	}
	var m Message
	if err := m.Header.Unmarshal(r.hdr[:HeaderSize]); err != nil {
		return m, err
	}
	if m.Header.Type != TypeFrame {
		n := int(m.Header.Length)
		if cap(r.ctl) < n {
			r.ctl = make([]byte, n, min(max(n, 2*cap(r.ctl), 256), MaxControlPayload))
		}
		r.ctl = r.ctl[:n]
		if _, err := io.ReadFull(r.br, r.ctl); err != nil {
			return m, noEOF(err)
		}
		m.Payload = r.ctl
		return m, nil
	}
	ts := r.hdr[HeaderSize:FrameHeaderSize]
	if _, err := io.ReadFull(r.br, ts); err != nil {
		return m, noEOF(err)
	}
	m.Timestamp = time.Duration(binary.LittleEndian.Uint64(ts))
	n := int64(m.Header.Length) - TimestampSize
	if !r.hasF {
		if err := r.skip(n); err != nil {
			return m, err
		}
		return m, newError(CodeNoFormat, "FRAME before any accepted FORMAT: the frame is dropped")
	}
	if err := r.f.CheckFrameSize(n); err != nil {
		if err := r.skip(n); err != nil {
			return m, err
		}
		return m, err
	}
	if int64(cap(r.pix)) < n {
		if err := r.growRead(int(n)); err != nil {
			return Message{Header: m.Header}, err
		}
	} else if _, err := io.ReadFull(r.br, r.pix[:n]); err != nil {
		return Message{Header: m.Header}, noEOF(err)
	}
	m.Payload = r.pix[:n]
	return m, nil
}

// firstGrowth is the pixel buffer's first size when it must grow.
const firstGrowth = 1 << 20

// growRead reads n pixel bytes into a buffer that grows as they arrive,
// doubling up to the format's largest frame: memory follows the bytes
// received, so a producer that declares large frames but sends little
// costs little. Each larger buffer is reserved from the Budget before it is
// allocated (the old one's bytes are given back once copied).
func (r *Reader) growRead(n int) error {
	buf := r.pix[:0]
	for len(buf) < n {
		if len(buf) == cap(buf) {
			c := min(max(2*cap(buf), firstGrowth), int(r.most))
			if !r.budget.reserve(int64(c)) {
				r.discard = r.budget.refuse(n)
				return r.discard
			}
			nb := make([]byte, len(buf), c)
			copy(nb, buf)
			buf = nb
			r.pix = buf
			r.budget.release(r.held)
			r.held = int64(c)
		}
		k, err := io.ReadFull(r.br, buf[len(buf):min(n, cap(buf))])
		buf = buf[:len(buf)+k]
		if err != nil {
			return noEOF(err)
		}
	}
	return nil
}

// skip discards n bytes of payload through the read-ahead buffer.
func (r *Reader) skip(n int64) error {
	for n > 0 {
		k, err := r.br.Discard(int(min(n, readBufferSize)))
		n -= int64(k)
		if err != nil {
			r.discard = noEOF(err)
			return r.discard
		}
	}
	return nil
}

// noEOF turns io.EOF within a message into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
