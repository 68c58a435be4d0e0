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

func TestReadyUnmarshalWantsSixBytes(t *testing.T) {
	var r Ready
	checkError(t, r.Unmarshal([]byte{1, 0, 0}), CodeMalformed, "READY payload is 3 bytes, want 6")
	checkError(t, r.Unmarshal(make([]byte, 7)), CodeMalformed, "READY payload is 7 bytes, want 6")
}

func FuzzReady(f *testing.F) {
	f.Add(specReady[HeaderSize:])
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Ready
		if r.Unmarshal(b) == nil && !bytes.Equal(mustMarshal(t, &r), b) {
			t.Fatalf("round trip of % x", b)
		}
	})
}
