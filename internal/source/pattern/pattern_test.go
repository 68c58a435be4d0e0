package pattern_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/source/pattern"
	"github.com/framecast/framecast/internal/testsrc"
)

const w, h = 160, 120

func newServer(t *testing.T) *framecast.Server {
	t.Helper()
	srv, err := framecast.NewServer(framecast.Config{RTSPAddress: "127.0.0.1:0", DisableUDP: true,
		StatusInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func producer(srv *framecast.Server, path string) (string, bool) {
	for _, in := range srv.Streams() {
		if in.Path == path {
			return in.Producer, true
		}
	}
	return "", false
}

// The server's picture is the pattern: its white and black bars are where
// testsrc draws them.
func TestPatternPublishesItsBarsThenLeavesOnClose(t *testing.T) {
	srv := newServer(t)
	src, err := pattern.Start(srv, "/test", framecast.Format{Width: w, Height: h, FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	img, err := srv.Snapshot(ctx, "/test")
	if err != nil {
		t.Fatal(err)
	}
	p := testsrc.New(w, h)
	for i, want := range map[int][2]byte{0: {225, 240}, len(testsrc.Bars) - 1: {10, 30}} {
		x, y := p.BarCenter(i)
		if v := img.Y[img.YOffset(x, y)]; v < want[0] || v > want[1] {
			t.Errorf("luma of bar %s is %d, want %d to %d", testsrc.Bars[i].Name, v, want[0], want[1])
		}
	}
	if f := src.Stream().Format(); f.PixelFormat != framecast.BGR24 {
		t.Errorf("pattern published as %s, want bgr24", f.PixelFormat)
	}
	src.Close()
	src.Close()
	if owner, ok := producer(srv, "/test"); !ok || owner != "" {
		t.Errorf("after Close: path served %v, producer %q; want the path kept without a producer", ok, owner)
	}
	if err := src.Stream().WriteFrame(make([]byte, w*h*3)); !errors.Is(err, framecast.ErrStreamClosed) {
		t.Errorf("WriteFrame after Close = %v, want ErrStreamClosed", err)
	}
}

func TestPatternRefusesAnotherPixelFormat(t *testing.T) {
	srv := newServer(t)
	if _, err := pattern.Start(srv, "/test", framecast.Format{PixelFormat: framecast.Gray, Width: w, Height: h}); err == nil {
		t.Fatal("pattern started as gray")
	}
	if _, ok := producer(srv, "/test"); ok {
		t.Error("refused pattern published its path")
	}
}

// Attached at StageSource, the pattern is closed by the server's Close.
func TestCloseOfTheServerClosesAnAttachedPattern(t *testing.T) {
	srv := newServer(t)
	src, err := pattern.Start(srv, "/test", framecast.Format{Width: w, Height: h, FPS: 100})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Attach(framecast.StageSource, src); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if err := src.Stream().WriteFrame(make([]byte, w*h*3)); err == nil {
		t.Error("stream still open after the server closed")
	}
	src.Close() // returns at once: the server closed it
}
