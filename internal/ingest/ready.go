package ingest

import (
	"encoding/binary"
	"math"
)

// Ready is the READY payload: the server's answer to an accepted HELLO or
// FORMAT. Its wire form is the version (u16) and the largest FRAME payload
// the server takes (u32); when the producer's HELLO had FlagInfo, then the
// RTSP URL viewers of the path play (u16 length, at least 1, and bytes).
type Ready struct {
	Version         uint16
	MaxFramePayload uint32
	// RTSPURL is where viewers watch the path, e.g.
	// "rtsp://127.0.0.1:8554/cam"; empty for the short form, which is all
	// a producer without FlagInfo reads.
	RTSPURL string
}

// readySize is the size of a READY payload in its short form.
const readySize = 6

// MarshalSize is the size of r's payload.
func (r *Ready) MarshalSize() int {
	if r.RTSPURL == "" {
		return readySize
	}
	return readySize + 2 + len(r.RTSPURL)
}

// MarshalTo writes r's payload into b: the short form when r.RTSPURL is
// empty, else the long one. The URL must fit in 65535 bytes.
func (r *Ready) MarshalTo(b []byte) (int, error) {
	if len(r.RTSPURL) > math.MaxUint16 {
		return 0, newError(CodeMalformed, "READY URL of %d bytes is longer than 65535", len(r.RTSPURL))
	}
	n := r.MarshalSize()
	if len(b) < n {
		return 0, ErrShortBuffer
	}
	binary.LittleEndian.PutUint16(b, r.Version)
	binary.LittleEndian.PutUint32(b[2:], r.MaxFramePayload)
	if r.RTSPURL != "" {
		binary.LittleEndian.PutUint16(b[readySize:], uint16(len(r.RTSPURL)))
		copy(b[readySize+2:], r.RTSPURL)
	}
	return n, nil
}

// Marshal returns r's payload.
func (r *Ready) Marshal() ([]byte, error) {
	b := make([]byte, r.MarshalSize())
	n, err := r.MarshalTo(b)
	return b[:n], err
}

// Unmarshal parses a READY payload, short or long, into r. Errors are
// *Error with code malformed.
func (r *Ready) Unmarshal(b []byte) error {
	if len(b) != readySize && len(b) < readySize+3 {
		return newError(CodeMalformed, "READY payload is %d bytes, want %d, or %d and a URL", len(b), readySize, readySize+2)
	}
	r.Version = binary.LittleEndian.Uint16(b)
	r.MaxFramePayload = binary.LittleEndian.Uint32(b[2:])
	r.RTSPURL = ""
	if len(b) == readySize {
		return nil
	}
	urlLen := int(binary.LittleEndian.Uint16(b[readySize:]))
	if urlLen == 0 || len(b) != readySize+2+urlLen {
		return newError(CodeMalformed, "READY payload is %d bytes, want %d for a URL of %d bytes (at least 1)",
			len(b), readySize+2+urlLen, urlLen)
	}
	r.RTSPURL = string(b[readySize+2:])
	return nil
}
