package ingest

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/framecast/framecast/internal/pathname"
)

// Hello is the HELLO payload: the first message of a connection, naming the
// path the producer publishes. Its wire form is the magic "FCST", the
// version (u16), the path (u16 length, bytes) and the token (u16 length,
// bytes).
type Hello struct {
	Version uint16 // Version when zero at MarshalTo
	Path    string // e.g. "/cam": see ValidatePath
	Token   string // credentials for publishing; empty when the server has none
	// Flags are the HELLO header's flags (FlagTakeover, FlagInfo), which
	// are not part of the payload: Writer.WriteHello sends them, and
	// Marshal and Unmarshal neither write nor set them.
	Flags uint8
}

// helloFixedSize is the size of a HELLO payload with an empty path and token.
const helloFixedSize = 10

// MarshalSize is the size of h's payload.
func (h *Hello) MarshalSize() int { return helloFixedSize + len(h.Path) + len(h.Token) }

// MarshalTo writes h's payload into b. The path and token must each fit in
// 65535 bytes; the path is not otherwise checked.
func (h *Hello) MarshalTo(b []byte) (int, error) {
	if len(h.Path) > math.MaxUint16 || len(h.Token) > math.MaxUint16 {
		return 0, fmt.Errorf("ingest: HELLO path of %d bytes or token of %d bytes is longer than 65535", len(h.Path), len(h.Token))
	}
	n := h.MarshalSize()
	if len(b) < n {
		return 0, ErrShortBuffer
	}
	v := h.Version
	if v == 0 {
		v = Version
	}
	copy(b, Magic)
	binary.LittleEndian.PutUint16(b[4:], v)
	binary.LittleEndian.PutUint16(b[6:], uint16(len(h.Path)))
	p := 8 + copy(b[8:], h.Path)
	binary.LittleEndian.PutUint16(b[p:], uint16(len(h.Token)))
	copy(b[p+2:], h.Token)
	return n, nil
}

// Marshal returns h's payload.
func (h *Hello) Marshal() ([]byte, error) {
	b := make([]byte, h.MarshalSize())
	n, err := h.MarshalTo(b)
	return b[:n], err
}

// Unmarshal parses a HELLO payload into h. The magic and version come
// first, so a HELLO of another version is answered unsupported-version
// whatever follows them. Errors are *Error, all fatal: malformed for a
// payload of the wrong length, bad-hello for a wrong magic or path,
// unsupported-version for a version other than 1.
func (h *Hello) Unmarshal(b []byte) error {
	if len(b) < 6 {
		return newError(CodeMalformed, "HELLO payload is %d bytes, want at least %d", len(b), helloFixedSize)
	}
	if string(b[:len(Magic)]) != Magic {
		return newError(CodeBadHello, "HELLO magic is %q, want %q", b[:len(Magic)], Magic)
	}
	h.Version = binary.LittleEndian.Uint16(b[4:])
	if h.Version != Version {
		return newError(CodeUnsupportedVersion, "protocol version %d is not supported: this server speaks version %d",
			h.Version, Version)
	}
	if len(b) < helloFixedSize {
		return newError(CodeMalformed, "HELLO payload is %d bytes, want at least %d", len(b), helloFixedSize)
	}
	pathLen := int(binary.LittleEndian.Uint16(b[6:]))
	if len(b) < helloFixedSize+pathLen {
		return newError(CodeMalformed, "HELLO payload is %d bytes, too short for a path of %d bytes", len(b), pathLen)
	}
	path := b[8 : 8+pathLen]
	tokenLen := int(binary.LittleEndian.Uint16(b[8+pathLen:]))
	if want := helloFixedSize + pathLen + tokenLen; len(b) != want {
		return newError(CodeMalformed, "HELLO payload is %d bytes, want %d for a path of %d bytes and a token of %d bytes",
			len(b), want, pathLen, tokenLen)
	}
	if err := ValidatePath(string(path)); err != nil {
		return newError(CodeBadHello, "%v", err)
	}
	h.Path = string(path)
	h.Token = string(b[10+pathLen:])
	return nil
}

// ValidatePath reports whether p may be published: a canonical path by
// pathname.Check (e.g. "/cam" or "/site/cam", at most MaxPathLen bytes),
// the rule the RTSP server, the web API and the configuration share.
func ValidatePath(p string) error { return pathname.Check(p) }

// quoteCut quotes a string the producer sent for an error message, cut to
// 64 bytes so that messages stay short.
func quoteCut(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("%q…", strings.ToValidUTF8(s[:64], ""))
	}
	return fmt.Sprintf("%q", s)
}
