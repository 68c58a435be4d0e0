package ingest

import (
	"bytes"
	"testing"
)

func TestReadyMarshalsSpecExample(t *testing.T) {
	r := Ready{Version: Version, MaxFramePayload: MaxFramePayload}
	if b := mustMarshal(t, &r); !bytes.Equal(b, specReady[HeaderSize:]) {
		t.Errorf("READY payload = % x, want % x", b, specReady[HeaderSize:])
	}
	var got Ready
	if err := got.Unmarshal(specReady[HeaderSize:]); err != nil || got != r {
		t.Errorf("Unmarshal = %+v, %v; want %+v", got, err, r)
	}
}

// TestReadyWithURLMarshalsSpecExample is the spec's READY for a HELLO with
// the info flag.
func TestReadyWithURLMarshalsSpecExample(t *testing.T) {
	r := Ready{Version: Version, MaxFramePayload: MaxFramePayload, RTSPURL: "rtsp://127.0.0.1:8554/cam"}
	if b := mustMarshal(t, &r); !bytes.Equal(b, specReadyURL[HeaderSize:]) {
		t.Errorf("READY payload = % x, want % x", b, specReadyURL[HeaderSize:])
	}
	var got Ready
	if err := got.Unmarshal(specReadyURL[HeaderSize:]); err != nil || got != r {
		t.Errorf("Unmarshal = %+v, %v; want %+v", got, err, r)
	}
}

func TestReadyUnmarshalWantsSixBytesOrAURL(t *testing.T) {
	var r Ready
	checkError(t, r.Unmarshal([]byte{1, 0, 0}), CodeMalformed, "READY payload is 3 bytes, want 6")
	checkError(t, r.Unmarshal(make([]byte, 7)), CodeMalformed, "READY payload is 7 bytes, want 6")
	checkError(t, r.Unmarshal(make([]byte, 9)), CodeMalformed, "a URL of 0 bytes (at least 1)")
	checkError(t, r.Unmarshal([]byte{1, 0, 0, 0, 0, 16, 5, 0, 'r', 't'}), CodeMalformed, "want 13 for a URL of 5 bytes")
}

func FuzzReady(f *testing.F) {
	f.Add(specReady[HeaderSize:])
	f.Add(specReadyURL[HeaderSize:])
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Ready
		if r.Unmarshal(b) == nil && !bytes.Equal(mustMarshal(t, &r), b) {
			t.Fatalf("round trip of % x", b)
		}
	})
}
