package ingest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestEveryCodeHasTheSpecsNameAndFatality is the spec's error table.
func TestEveryCodeHasTheSpecsNameAndFatality(t *testing.T) {
	for _, tc := range []struct {
		code     Code
		value    uint16
		name     string
		fatal    bool
		sentinel error
	}{
		{CodeBadHello, 1, "bad-hello", true, ErrBadHello},
		{CodeUnsupportedVersion, 2, "unsupported-version", true, ErrUnsupportedVersion},
		{CodeMalformed, 3, "malformed", true, ErrMalformed},
		{CodeMessageTooLarge, 4, "message-too-large", true, ErrMessageTooLarge},
		{CodePathInUse, 5, "path-in-use", true, ErrPathInUse},
		{CodeUnauthorized, 6, "unauthorized", true, ErrUnauthorized},
		{CodeBadFormat, 7, "bad-format", false, ErrBadFormat},
		{CodeNoFormat, 8, "no-format", false, ErrNoFormat},
		{CodeFrameSize, 9, "frame-size", false, ErrFrameSize},
		{CodeShuttingDown, 10, "shutting-down", true, ErrShuttingDown},
		{CodeInternal, 11, "internal", true, ErrInternal},
		{CodeTooManyProducers, 12, "too-many-producers", true, ErrTooManyProducers},
		{CodeServerBusy, 13, "server-busy", true, ErrServerBusy},
		{CodeReplaced, 14, "replaced", true, ErrReplaced},
		{CodeBadRing, 15, "bad-ring", true, ErrBadRing},
	} {
		if uint16(tc.code) != tc.value || tc.code.String() != tc.name || tc.code.Fatal() != tc.fatal || tc.code.Err() != tc.sentinel {
			t.Errorf("code %d: value %d name %q fatal %v sentinel %v, want %d %q %v %v", tc.value, uint16(tc.code),
				tc.code.String(), tc.code.Fatal(), tc.code.Err(), tc.value, tc.name, tc.fatal, tc.sentinel)
		}
		e := &Error{Code: tc.code, Fatal: tc.fatal, Message: "m"}
		if !errors.Is(e, tc.sentinel) || e.Error() != tc.name+": m" {
			t.Errorf("%v: errors.Is %v, Error() %q", tc.name, errors.Is(e, tc.sentinel), e.Error())
		}
	}
	for _, c := range []Code{0, 16, 999} {
		if !c.Fatal() || c.Err() != nil || !strings.HasPrefix(c.String(), "code ") {
			t.Errorf("unknown code %d: fatal %v err %v name %q, want fatal, nil, \"code N\"", c, c.Fatal(), c.Err(), c.String())
		}
	}
}

func TestErrorRoundTrip(t *testing.T) {
	for _, e := range []Error{
		{Code: CodeFrameSize, Message: "frame is 1000 bytes, want 921600 for bgr24 640x480"},
		{Code: CodePathInUse, Fatal: true, Message: "path /cam already has a producer (from 127.0.0.1:53210)"},
		{Code: CodeShuttingDown, Fatal: true},
	} {
		b := mustMarshal(t, &e)
		var got Error
		if err := got.Unmarshal(b); err != nil || got != e {
			t.Errorf("Unmarshal(Marshal(%+v)) = %+v, %v", e, got, err)
		}
	}
}

func TestErrorWireForm(t *testing.T) {
	e := Error{Code: CodePathInUse, Fatal: true, Message: "x"}
	if b, want := mustMarshal(t, &e), []byte{5, 0, 1, 0, 'x'}; !bytes.Equal(b, want) {
		t.Errorf("ERROR payload = % x, want % x", b, want)
	}
}

func TestErrorMarshalCutsAMessageTooLongForAPayload(t *testing.T) {
	e := Error{Code: CodeInternal, Fatal: true, Message: strings.Repeat("é", MaxControlPayload)}
	b := mustMarshal(t, &e)
	if len(b) > MaxControlPayload {
		t.Fatalf("payload is %d bytes, want at most %d", len(b), MaxControlPayload)
	}
	var got Error
	if err := got.Unmarshal(b); err != nil || strings.ContainsRune(got.Message, '\uFFFD') {
		t.Errorf("cut message does not read back as UTF-8: %v", err)
	}
}

func TestErrorUnmarshal(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"short", []byte{9, 0, 0}, "ERROR payload is 3 bytes, want at least 4"},
		{"fatal byte 2", []byte{9, 0, 2, 0}, "ERROR has fatal byte 2 and reserved byte 0"},
		{"reserved", []byte{9, 0, 0, 1}, "reserved byte 1"},
	} {
		var e Error
		checkError(t, e.Unmarshal(tc.b), CodeMalformed, tc.want)
	}
	var e Error
	if err := e.Unmarshal([]byte{9, 0, 0, 0, 0xff, 'a'}); err != nil || e.Message != "\uFFFDa" {
		t.Errorf("invalid UTF-8: message %q, %v; want it replaced, not refused", e.Message, err)
	}
}

func FuzzError(f *testing.F) {
	f.Add([]byte{9, 0, 0, 0, 'f', 'r', 'a', 'm', 'e'})
	f.Add([]byte{5, 0, 1, 0})
	f.Add([]byte{5, 0, 2, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Error
		if e.Unmarshal(b) != nil {
			return
		}
		var again Error
		if err := again.Unmarshal(mustMarshal(t, &e)); err != nil || again != e {
			t.Fatalf("round trip of %+v: %+v, %v", e, again, err)
		}
	})
}
