package rtsp

import (
	"log/slog"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/h264desc"
	"github.com/framecast/framecast/internal/rtptime"
)

func testMount(t *testing.T) *Mount {
	t.Helper()
	s, err := Listen(Config{Address: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	m, err := s.Mount("/test", []byte{0x67, 0x42, 0xc0, 0x1f}, []byte{0x68, 0xce, 0x3c, 0x80})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSinksGetTheMountsTicksBackAfterDaysOfStreaming: a producer whose
// clock has run for 29 hours (past where pts*90000 overflows) writes at
// 30 fps; the sink's pts converts back to exactly 3000 ticks a frame, as a
// push turns it into RTP timestamps.
func TestSinksGetTheMountsTicksBackAfterDaysOfStreaming(t *testing.T) {
	m := testMount(t)
	var got []time.Duration
	remove := m.AddSink(func(_ [][]byte, pts time.Duration, _ time.Time) { got = append(got, pts) })
	defer remove()
	start := 29 * time.Hour
	for i := range 90 {
		pts := start + time.Duration(i)*time.Second/30
		if err := m.WriteAccessUnit([][]byte{{0x65, 0x88, 0x84}}, pts, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 90 || got[0] != 0 {
		t.Fatalf("sink got %d access units starting at %v, want 90 from 0", len(got), got[0])
	}
	for i, pts := range got {
		if ticks := rtptime.Ticks(pts, h264desc.ClockRate); ticks != int64(i)*3000 {
			t.Fatalf("access unit %d: sink pts %v is %d ticks, want %d", i, pts, ticks, i*3000)
		}
	}
}

func TestWriteAccessUnitRefusesAnEmptyNALUnit(t *testing.T) {
	m := testMount(t)
	called := false
	defer m.AddSink(func([][]byte, time.Duration, time.Time) { called = true })()
	if err := m.WriteAccessUnit([][]byte{{0x65, 0x88}, {}}, 0, time.Now()); err == nil {
		t.Error("WriteAccessUnit accepted an empty NAL unit")
	}
	if called {
		t.Error("the sink got an access unit with an empty NAL unit")
	}
}
