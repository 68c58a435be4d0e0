package ingest

import (
	"bytes"
	"testing"
	"time"
)

func TestFrameHeaderRoundTrip(t *testing.T) {
	for _, fh := range []FrameHeader{
		{Timestamp: 33 * time.Millisecond, HasTimestamp: true, PixelsLen: 921600},
		{PixelsLen: 0},
		{Timestamp: -5, HasTimestamp: true, PixelsLen: MaxPixels},
	} {
		b := make([]byte, FrameHeaderSize)
		if _, err := fh.MarshalTo(b); err != nil {
			t.Fatal(err)
		}
		var got FrameHeader
		if err := got.Unmarshal(b); err != nil || got != fh {
			t.Errorf("round trip of %+v: %+v, %v", fh, got, err)
		}
	}
}

func TestFrameHeaderMarshalsSpecExample(t *testing.T) {
	fh := FrameHeader{HasTimestamp: true, Timestamp: 0x0102030405060708, PixelsLen: 921600}
	b := make([]byte, FrameHeaderSize)
	fh.MarshalTo(b)
	want := append(append([]byte{}, specFrameHeader...), 8, 7, 6, 5, 4, 3, 2, 1)
	if !bytes.Equal(b, want) {
		t.Errorf("FRAME header = % x, want % x", b, want)
	}
}

func TestFrameHeaderRefusesTooManyPixels(t *testing.T) {
	fh := FrameHeader{PixelsLen: MaxPixels + 1}
	_, err := fh.MarshalTo(make([]byte, FrameHeaderSize))
	checkError(t, err, CodeMessageTooLarge, "frame of 268435449 bytes is more than the 268435448 bytes of pixels a FRAME carries")
	if _, err := (&FrameHeader{}).MarshalTo(make([]byte, 15)); err != ErrShortBuffer {
		t.Errorf("MarshalTo 15 bytes: %v, want ErrShortBuffer", err)
	}
}

func TestFrameHeaderUnmarshalErrors(t *testing.T) {
	var fh FrameHeader
	checkError(t, fh.Unmarshal(specBye), CodeMalformed, "message is BYE, want FRAME")
	checkError(t, fh.Unmarshal(specFrameHeader), CodeMalformed, "FRAME header and timestamp are 8 bytes, want 16")
	checkError(t, fh.Unmarshal([]byte{3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), CodeMalformed, "want at least the 8 bytes of its timestamp")
}

func FuzzFrameHeader(f *testing.F) {
	f.Add(append(append([]byte{}, specFrameHeader...), 0, 0, 0, 0, 0, 0, 0, 0))
	f.Add(specBye)
	f.Fuzz(func(t *testing.T, b []byte) {
		var fh FrameHeader
		if fh.Unmarshal(b) != nil {
			return
		}
		out := make([]byte, FrameHeaderSize)
		if _, err := fh.MarshalTo(out); err != nil || !bytes.Equal(out, b[:FrameHeaderSize]) {
			t.Fatalf("round trip of % x: % x, %v", b[:FrameHeaderSize], out, err)
		}
	})
}
