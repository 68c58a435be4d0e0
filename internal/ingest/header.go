package ingest

import "encoding/binary"

// Header is the 8-byte header before every payload. Its reserved field is
// always written as zero and must be zero when read.
type Header struct {
	Type   Type
	Flags  uint8
	Length uint32 // payload length in bytes
}

// MarshalSize returns HeaderSize.
func (h *Header) MarshalSize() int { return HeaderSize }

// MarshalTo writes h into the first HeaderSize bytes of b. It returns
// ErrShortBuffer if b is shorter. It does not check h: a test may write any
// header.
func (h *Header) MarshalTo(b []byte) (int, error) {
	if len(b) < HeaderSize {
		return 0, ErrShortBuffer
	}
	b[0] = byte(h.Type)
	b[1] = h.Flags
	b[2], b[3] = 0, 0
	binary.LittleEndian.PutUint32(b[4:], h.Length)
	return HeaderSize, nil
}

// Marshal returns h's wire form.
func (h *Header) Marshal() ([]byte, error) {
	b := make([]byte, HeaderSize)
	_, err := h.MarshalTo(b)
	return b, err
}

// Unmarshal parses the first HeaderSize bytes of b into h and checks it
// against the limits of the receiving side: a known type, reserved bits and
// unknown flags zero, a length within the type's limit, no payload for
// BYE and at least a timestamp for FRAME. h is filled in even when the check
// fails, so that the caller can name the type. Errors are *Error with code
// malformed or message-too-large, both fatal.
func (h *Header) Unmarshal(b []byte) error {
	if len(b) < HeaderSize {
		return newError(CodeMalformed, "header is %d bytes, want %d", len(b), HeaderSize)
	}
	h.Type = Type(b[0])
	h.Flags = b[1]
	h.Length = binary.LittleEndian.Uint32(b[4:])
	switch {
	case !h.Type.known():
		return newError(CodeMalformed, "unknown message type 0x%02x", b[0])
	case b[2] != 0 || b[3] != 0:
		return newError(CodeMalformed, "%v header has reserved bytes %02x%02x, want 0000", h.Type, b[2], b[3])
	case h.Flags&^h.Type.allowedFlags() != 0:
		return newError(CodeMalformed, "%v has unknown flags 0x%02x", h.Type, h.Flags&^h.Type.allowedFlags())
	case h.Length > h.Type.maxPayload():
		return newError(CodeMessageTooLarge, "%v payload is %d bytes, more than the %d bytes allowed",
			h.Type, h.Length, h.Type.maxPayload())
	case h.Type == TypeBye && h.Length != 0:
		return newError(CodeMalformed, "BYE has a payload of %d bytes, want none", h.Length)
	case h.Type == TypeFrame && h.Length < TimestampSize:
		return newError(CodeMalformed, "FRAME payload is %d bytes, want at least the %d bytes of its timestamp",
			h.Length, TimestampSize)
	}
	return nil
}
