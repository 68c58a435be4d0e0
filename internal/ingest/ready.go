package ingest

import "encoding/binary"

// Ready is the READY payload: the server's answer to an accepted HELLO or
// FORMAT. Its wire form is the version (u16) and the largest FRAME payload
// the server takes (u32).
type Ready struct {
	Version         uint16
	MaxFramePayload uint32
}

// readySize is the size of a READY payload.
const readySize = 6

// MarshalSize is the size of r's payload.
func (r *Ready) MarshalSize() int { return readySize }

// MarshalTo writes r's payload into b.
func (r *Ready) MarshalTo(b []byte) (int, error) {
	if len(b) < readySize {
		return 0, ErrShortBuffer
	}
	binary.LittleEndian.PutUint16(b, r.Version)
	binary.LittleEndian.PutUint32(b[2:], r.MaxFramePayload)
	return readySize, nil
}

// Marshal returns r's payload.
func (r *Ready) Marshal() ([]byte, error) {
	b := make([]byte, readySize)
	_, err := r.MarshalTo(b)
	return b, err
}

// Unmarshal parses a READY payload into r. Errors are *Error with code
// malformed.
func (r *Ready) Unmarshal(b []byte) error {
	if len(b) != readySize {
		return newError(CodeMalformed, "READY payload is %d bytes, want %d", len(b), readySize)
	}
	r.Version = binary.LittleEndian.Uint16(b)
	r.MaxFramePayload = binary.LittleEndian.Uint32(b[2:])
	return nil
}
