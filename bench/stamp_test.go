package bench

import (
	"bytes"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/testsrc"
	"github.com/framecast/framecast/internal/yuv"
)

func TestStampsReadBackFromLuma(t *testing.T) {
	for _, sz := range [][2]int{{640, 480}, {1280, 720}, {1920, 1080}} {
		w, h := sz[0], sz[1]
		s := NewSynth(w, h)
		frame := make([]byte, s.FrameSize())
		s.Draw(frame, 7)
		sent := time.UnixMilli(1_700_000_123_456)
		Stamp(frame, w, h, 0xbeef, sent)
		img := yuv.NewI420(w, h)
		if err := yuv.Convert(img, frame, yuv.BGR24, 0); err != nil {
			t.Fatal(err)
		}
		if got := ReadRow(img.Y, w, h, RowNumber); got != 0xbeef {
			t.Errorf("%dx%d: frame number %#x, want 0xbeef", w, h, got)
		}
		if got := testsrc.ReadNumber(img.Y, w, h, img.StrideY); got != 0xbeef {
			t.Errorf("%dx%d: testsrc.ReadNumber %#x, want 0xbeef", w, h, got)
		}
		if got, want := ReadRow(img.Y, w, h, RowSent), SentMillis(sent); got != want {
			t.Errorf("%dx%d: send time %#x, want %#x", w, h, got, want)
		}
		if age := AgeMillis(SentMillis(sent), sent.Add(41*time.Millisecond)); age != 41 {
			t.Errorf("age %d ms, want 41", age)
		}
	}
}

func TestAgeWrapsAround(t *testing.T) {
	sent := time.UnixMilli(65535)
	if age := AgeMillis(SentMillis(sent), sent.Add(3*time.Millisecond)); age != 3 {
		t.Errorf("age across the wrap %d ms, want 3", age)
	}
}

func TestSynthMovesAndLoops(t *testing.T) {
	s := NewSynth(640, 480)
	a, b, c := make([]byte, s.FrameSize()), make([]byte, s.FrameSize()), make([]byte, s.FrameSize())
	s.Draw(a, 0)
	s.Draw(b, 1)
	s.Draw(c, RingLen)
	if bytes.Equal(a, b) {
		t.Error("frames 0 and 1 are equal: no motion")
	}
	if !bytes.Equal(a, c) {
		t.Errorf("frame %d differs from frame 0: the ring does not loop", RingLen)
	}
}

func TestRingRoundTrip(t *testing.T) {
	path := t.TempDir() + "/ring.bgr"
	if err := WriteRing(path, 64, 48); err != nil {
		t.Fatal(err)
	}
	frames, err := ReadRing(path, 64, 48)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSynth(64, 48)
	want := make([]byte, s.FrameSize())
	s.Draw(want, 3)
	if !bytes.Equal(frames[3], want) {
		t.Error("frame 3 read back differs from the one drawn")
	}
}
