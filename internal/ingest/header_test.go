package ingest

import (
	"bytes"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	for _, h := range []Header{
		{Type: TypeHello, Length: 14},
		{Type: TypeHello, Flags: FlagTakeover | FlagInfo, Length: 14},
		{Type: TypeFrame, Flags: FlagTimestamp, Length: MaxFramePayload},
		{Type: TypeBye},
		{Type: TypeError, Length: MaxControlPayload},
	} {
		b, err := h.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var got Header
		if err := got.Unmarshal(b); err != nil || got != h {
			t.Errorf("Unmarshal(Marshal(%+v)) = %+v, %v", h, got, err)
		}
	}
}

func TestHeaderMarshalsSpecExample(t *testing.T) {
	h := Header{Type: TypeFrame, Flags: FlagTimestamp, Length: 921608}
	if b := mustMarshal(t, &h); !bytes.Equal(b, specFrameHeader) {
		t.Errorf("FRAME header = % x, want % x", b, specFrameHeader)
	}
	if _, err := h.MarshalTo(make([]byte, 7)); err != ErrShortBuffer {
		t.Errorf("MarshalTo a 7-byte buffer: %v, want ErrShortBuffer", err)
	}
}

func TestHeaderUnmarshalRefusesWhatBreaksTheLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		code Code
		want string
	}{
		{"short", []byte{1, 0, 0, 0}, CodeMalformed, "header is 4 bytes, want 8"},
		{"unknown type", []byte("GET / HT"), CodeMalformed, "unknown message type 0x47"},
		{"type zero", []byte{0, 0, 0, 0, 0, 0, 0, 0}, CodeMalformed, "unknown message type 0x00"},
		{"reserved", []byte{1, 0, 0, 1, 14, 0, 0, 0}, CodeMalformed, "HELLO header has reserved bytes 0001, want 0000"},
		{"unknown HELLO flag", []byte{1, 15, 0, 0, 14, 0, 0, 0}, CodeMalformed, "HELLO has unknown flags 0x08"},
		{"flags on FORMAT", []byte{2, 1, 0, 0, 26, 0, 0, 0}, CodeMalformed, "FORMAT has unknown flags 0x01"},
		{"unknown FRAME flag", []byte{3, 3, 0, 0, 8, 0, 0, 0}, CodeMalformed, "FRAME has unknown flags 0x02"},
		{"control too large", []byte{2, 0, 0, 0, 0x01, 0x00, 0x01, 0x00}, CodeMessageTooLarge, "FORMAT payload is 65537 bytes, more than the 65536 bytes allowed"},
		{"frame too large", []byte{3, 0, 0, 0, 0x01, 0x00, 0x00, 0x10}, CodeMessageTooLarge, "FRAME payload is 268435457 bytes, more than the 268435456 bytes allowed"},
		{"huge length", []byte{3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, CodeMessageTooLarge, "FRAME payload is 4294967295 bytes"},
		{"BYE with payload", []byte{4, 0, 0, 0, 1, 0, 0, 0}, CodeMalformed, "BYE has a payload of 1 bytes, want none"},
		{"FRAME without timestamp", []byte{3, 0, 0, 0, 7, 0, 0, 0}, CodeMalformed, "FRAME payload is 7 bytes, want at least the 8 bytes of its timestamp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Header
			checkError(t, h.Unmarshal(tc.b), tc.code, tc.want)
		})
	}
}

func TestTypeNames(t *testing.T) {
	for typ, want := range map[Type]string{TypeHello: "HELLO", TypeFormat: "FORMAT", TypeFrame: "FRAME",
		TypeBye: "BYE", TypeReady: "READY", TypeError: "ERROR", 0x47: "type 0x47"} {
		if got := typ.String(); got != want {
			t.Errorf("Type(0x%02x).String() = %q, want %q", uint8(typ), got, want)
		}
	}
}

func FuzzHeader(f *testing.F) {
	f.Add(specFrameHeader)
	f.Add(specBye)
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Header
		if h.Unmarshal(b) != nil {
			return
		}
		out := mustMarshal(t, &h)
		if !bytes.Equal(out, b[:HeaderSize]) {
			t.Fatalf("Marshal(Unmarshal(% x)) = % x", b[:HeaderSize], out)
		}
	})
}
