package ingest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Code is an ERROR message's error code.
type Code uint16

// Error codes, as the spec's table lists them.
const (
	CodeBadHello           Code = 1  // first message not HELLO, wrong magic, malformed path, or a second HELLO
	CodeUnsupportedVersion Code = 2  // HELLO version is not 1
	CodeMalformed          Code = 3  // unknown type, non-zero reserved bits, a payload of the wrong length
	CodeMessageTooLarge    Code = 4  // length above the limits
	CodePathInUse          Code = 5  // another producer publishes the path
	CodeUnauthorized       Code = 6  // the token is wrong or missing
	CodeBadFormat          Code = 7  // FORMAT refused; the previous format stays
	CodeNoFormat           Code = 8  // FRAME before any accepted FORMAT
	CodeFrameSize          Code = 9  // FRAME pixels not the size the format needs
	CodeShuttingDown       Code = 10 // the server is stopping
	CodeInternal           Code = 11 // the encoder failed
	CodeTooManyProducers   Code = 12 // the server has its maximum number of producers
	CodeServerBusy         Code = 13 // a limit against abuse: connections not yet authenticated, or memory for frames
	CodeReplaced           Code = 14 // another producer took the path over (HELLO's FlagTakeover)
	CodeBadRing            Code = 15 // a RING the server cannot map: no descriptor, too small, not sealed
)

// Sentinel errors, one per code: errors.Is(err, ErrFrameSize) reports whether
// err is an *Error with CodeFrameSize, whichever side made it.
var (
	ErrBadHello           = errors.New("bad-hello")
	ErrUnsupportedVersion = errors.New("unsupported-version")
	ErrMalformed          = errors.New("malformed")
	ErrMessageTooLarge    = errors.New("message-too-large")
	ErrPathInUse          = errors.New("path-in-use")
	ErrUnauthorized       = errors.New("unauthorized")
	ErrBadFormat          = errors.New("bad-format")
	ErrNoFormat           = errors.New("no-format")
	ErrFrameSize          = errors.New("frame-size")
	ErrShuttingDown       = errors.New("shutting-down")
	ErrInternal           = errors.New("internal")
	ErrTooManyProducers   = errors.New("too-many-producers")
	ErrServerBusy         = errors.New("server-busy")
	ErrReplaced           = errors.New("replaced")
	ErrBadRing            = errors.New("bad-ring")
)

// ErrShortBuffer is returned by MarshalTo when the buffer is too short.
var ErrShortBuffer = errors.New("ingest: buffer too short")

var codes = [...]struct {
	sentinel error
	fatal    bool
}{
	CodeBadHello:           {ErrBadHello, true},
	CodeUnsupportedVersion: {ErrUnsupportedVersion, true},
	CodeMalformed:          {ErrMalformed, true},
	CodeMessageTooLarge:    {ErrMessageTooLarge, true},
	CodePathInUse:          {ErrPathInUse, true},
	CodeUnauthorized:       {ErrUnauthorized, true},
	CodeBadFormat:          {ErrBadFormat, false},
	CodeNoFormat:           {ErrNoFormat, false},
	CodeFrameSize:          {ErrFrameSize, false},
	CodeShuttingDown:       {ErrShuttingDown, true},
	CodeInternal:           {ErrInternal, true},
	CodeTooManyProducers:   {ErrTooManyProducers, true},
	CodeServerBusy:         {ErrServerBusy, true},
	CodeReplaced:           {ErrReplaced, true},
	CodeBadRing:            {ErrBadRing, true},
}

func (c Code) known() bool { return c > 0 && int(c) < len(codes) }

// String returns the code's name in the spec, e.g. "frame-size", or
// "code 99" for an unknown code.
func (c Code) String() string {
	if !c.known() {
		return fmt.Sprintf("code %d", uint16(c))
	}
	return codes[c].sentinel.Error()
}

// Fatal reports whether the spec makes errors of code c fatal: the server
// closes the connection after sending one. Unknown codes are fatal.
func (c Code) Fatal() bool { return !c.known() || codes[c].fatal }

// Err returns the sentinel error of c, or nil for an unknown code.
func (c Code) Err() error {
	if !c.known() {
		return nil
	}
	return codes[c].sentinel
}

// Error is the ERROR message the server sends, and the error this package's
// parsers return: a code, whether it is fatal, and a message that says what
// was expected. Its wire form is the code (u16), the fatal flag (u8), a
// reserved byte and the UTF-8 message.
type Error struct {
	Code    Code
	Fatal   bool
	Message string
}

// errorFixedSize is the size of an ERROR payload before its message.
const errorFixedSize = 4

// MaxErrorMessage is the longest message an ERROR carries.
const MaxErrorMessage = MaxControlPayload - errorFixedSize

func newError(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Fatal: c.Fatal(), Message: fmt.Sprintf(format, args...)}
}

// Error returns "code: message", e.g. "frame-size: frame is 1000 bytes,
// want 921600 for bgr24 640x480".
func (e *Error) Error() string { return e.Code.String() + ": " + e.Message }

// Unwrap returns the sentinel error of e's code (nil for an unknown code).
func (e *Error) Unwrap() error { return e.Code.Err() }

// MarshalSize is the size of e's payload; a message longer than
// MaxErrorMessage is cut.
func (e *Error) MarshalSize() int { return errorFixedSize + min(len(e.Message), MaxErrorMessage) }

// MarshalTo writes e's payload into b. A message longer than MaxErrorMessage
// bytes is cut at a character boundary.
func (e *Error) MarshalTo(b []byte) (int, error) {
	msg := e.Message
	if len(msg) > MaxErrorMessage {
		msg = strings.ToValidUTF8(msg[:MaxErrorMessage], "")
	}
	n := errorFixedSize + len(msg)
	if len(b) < n {
		return 0, ErrShortBuffer
	}
	binary.LittleEndian.PutUint16(b, uint16(e.Code))
	b[2] = 0
	if e.Fatal {
		b[2] = 1
	}
	b[3] = 0
	copy(b[errorFixedSize:], msg)
	return n, nil
}

// Marshal returns e's payload.
func (e *Error) Marshal() ([]byte, error) {
	b := make([]byte, e.MarshalSize())
	n, err := e.MarshalTo(b)
	return b[:n], err
}

// Unmarshal parses an ERROR payload into e. Invalid UTF-8 in the message is
// replaced with U+FFFD rather than refused, so that a client always has
// something to show. Errors are *Error with code malformed.
func (e *Error) Unmarshal(b []byte) error {
	if len(b) < errorFixedSize {
		return newError(CodeMalformed, "ERROR payload is %d bytes, want at least %d", len(b), errorFixedSize)
	}
	if b[2] > 1 || b[3] != 0 {
		return newError(CodeMalformed, "ERROR has fatal byte %d and reserved byte %d, want 0 or 1 and 0", b[2], b[3])
	}
	e.Code = Code(binary.LittleEndian.Uint16(b))
	e.Fatal = b[2] == 1
	msg := b[errorFixedSize:]
	if utf8.Valid(msg) {
		e.Message = string(msg)
	} else {
		e.Message = strings.ToValidUTF8(string(msg), "\uFFFD")
	}
	return nil
}
