package ingest

import (
	"encoding/binary"
	"time"
)

// FrameHeader is what precedes a FRAME's pixels on the wire: the message
// header and the timestamp, FrameHeaderSize bytes. A Writer sends it and the
// pixels in one writev, so the pixels are never copied.
type FrameHeader struct {
	// Timestamp is the producer's capture time, in nanoseconds on its own
	// clock; only differences between timestamps matter.
	Timestamp time.Duration
	// HasTimestamp sets FlagTimestamp: without it the server stamps the
	// frame with its arrival time and ignores Timestamp.
	HasTimestamp bool
	// PixelsLen is the number of pixel bytes that follow.
	PixelsLen int
}

// FrameHeaderSize is the size of a marshalled FrameHeader.
const FrameHeaderSize = HeaderSize + TimestampSize

// MarshalSize returns FrameHeaderSize.
func (fh *FrameHeader) MarshalSize() int { return FrameHeaderSize }

// MarshalTo writes fh into the first FrameHeaderSize bytes of b. A frame of
// more than MaxPixels bytes is an *Error with code message-too-large.
func (fh *FrameHeader) MarshalTo(b []byte) (int, error) {
	if fh.PixelsLen < 0 || fh.PixelsLen > MaxPixels {
		return 0, newError(CodeMessageTooLarge, "frame of %d bytes is more than the %d bytes of pixels a FRAME carries",
			fh.PixelsLen, MaxPixels)
	}
	if len(b) < FrameHeaderSize {
		return 0, ErrShortBuffer
	}
	h := Header{Type: TypeFrame, Length: uint32(TimestampSize + fh.PixelsLen)}
	if fh.HasTimestamp {
		h.Flags = FlagTimestamp
	}
	h.MarshalTo(b)
	binary.LittleEndian.PutUint64(b[HeaderSize:], uint64(fh.Timestamp))
	return FrameHeaderSize, nil
}

// Unmarshal parses the first FrameHeaderSize bytes of b, which must be a
// FRAME's header and timestamp. Errors are *Error as Header.Unmarshal
// returns, or malformed for another type.
func (fh *FrameHeader) Unmarshal(b []byte) error {
	var h Header
	if err := h.Unmarshal(b); err != nil {
		return err
	}
	if h.Type != TypeFrame {
		return newError(CodeMalformed, "message is %v, want FRAME", h.Type)
	}
	if len(b) < FrameHeaderSize {
		return newError(CodeMalformed, "FRAME header and timestamp are %d bytes, want %d", len(b), FrameHeaderSize)
	}
	fh.Timestamp = time.Duration(binary.LittleEndian.Uint64(b[HeaderSize:]))
	fh.HasTimestamp = h.Flags&FlagTimestamp != 0
	fh.PixelsLen = int(h.Length) - TimestampSize
	return nil
}
