package ingest

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// message returns a whole message: a header of type t with flags and the
// payload's length, then the payload.
func message(t Type, flags uint8, payload []byte) []byte {
	b := make([]byte, HeaderSize, HeaderSize+len(payload))
	b[0], b[1] = byte(t), flags
	binary.LittleEndian.PutUint32(b[4:], uint32(len(payload)))
	return append(b, payload...)
}

// frameMessage returns a FRAME with timestamp ts and n pixel bytes of value v.
func frameMessage(ts int64, flags uint8, n int, v byte) []byte {
	p := make([]byte, TimestampSize+n)
	binary.LittleEndian.PutUint64(p, uint64(ts))
	for i := TimestampSize; i < len(p); i++ {
		p[i] = v
	}
	return message(TypeFrame, flags, p)
}

func mustMarshal(t testing.TB, m interface{ Marshal() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkError fails unless err is an *Error with code and fatality per the
// spec and a message containing want.
func checkError(t *testing.T, err error, code Code, want string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want an *Error with code %v", err, err, code)
	}
	if e.Code != code || e.Fatal != code.Fatal() {
		t.Errorf("error %v: code %v fatal %v, want %v fatal %v", e, e.Code, e.Fatal, code, code.Fatal())
	}
	if !strings.Contains(e.Message, want) {
		t.Errorf("error message %q, want it to contain %q", e.Message, want)
	}
	if !errors.Is(err, code.Err()) {
		t.Errorf("errors.Is(%v, %v) = false", err, code.Err())
	}
}

// specExample is the byte sequence of the spec's example, producer side,
// with an 8-pixel frame instead of 921600 bytes.
var (
	specHello  = []byte{0x01, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x46, 0x43, 0x53, 0x54, 0x01, 0x00, 0x04, 0x00, 0x2f, 0x63, 0x61, 0x6d, 0x00, 0x00}
	specReady  = []byte{0x81, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x10}
	specFormat = []byte{0x02, 0x00, 0x00, 0x00, 0x1a, 0x00, 0x00, 0x00,
		0x01, 0x00, 0x80, 0x02, 0x00, 0x00, 0xe0, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x1e, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}
	specFrameHeader = []byte{0x03, 0x01, 0x00, 0x00, 0x08, 0x10, 0x0e, 0x00}
	specBye         = []byte{0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}
	// The HELLO and READY of the spec's example with takeover and info.
	specHelloFlags = []byte{0x01, 0x03, 0x00, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x46, 0x43, 0x53, 0x54, 0x01, 0x00, 0x04, 0x00, 0x2f, 0x63, 0x61, 0x6d, 0x00, 0x00}
	specReadyURL   = append([]byte{0x81, 0x00, 0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x10, 0x19, 0x00},
		"rtsp://127.0.0.1:8554/cam"...)
)
