package rawreader_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/source/rawreader"
	"github.com/framecast/framecast/internal/testkit"
)

const w, h = 64, 48

var gray = framecast.Format{PixelFormat: framecast.Gray, Width: w, Height: h, FPS: 30}

// newServer starts a server on a free loopback port, closed when the test
// ends, and reader options that log where it does, to the returned buffer.
func newServer(t *testing.T) (*framecast.Server, rawreader.Options, *testkit.Buffer) {
	t.Helper()
	logs := &testkit.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	srv, err := framecast.NewServer(framecast.Config{RTSPAddress: "127.0.0.1:0", DisableUDP: true,
		StatusInterval: -1, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, rawreader.Options{Name: "stdin", Logger: log}, logs
}

func frames(n int, v byte) []byte { return bytes.Repeat([]byte{v}, n*w*h) }

// info returns what the server says about path.
func info(t *testing.T, srv *framecast.Server, path string) framecast.StreamInfo {
	t.Helper()
	for _, in := range srv.Streams() {
		if in.Path == path {
			return in
		}
	}
	t.Fatalf("%s is not served", path)
	return framecast.StreamInfo{}
}

func TestReaderPublishesEveryFrameThenLeavesAtEOF(t *testing.T) {
	srv, opts, logs := newServer(t)
	src, err := rawreader.Start(srv, "/cam", gray, bytes.NewReader(frames(3, 128)), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	n, err := src.Result()
	if n != 3 || err != nil {
		t.Fatalf("Result = %d, %v; want 3 frames and no error", n, err)
	}
	in := info(t, srv, "/cam")
	if in.Stats.FramesIn != 3 || in.Stats.Refused != 0 {
		t.Errorf("stream counted %d frames in, %d refused; want 3 and 0", in.Stats.FramesIn, in.Stats.Refused)
	}
	if in.Producer != "" {
		t.Errorf("producer %q still on the path after EOF", in.Producer)
	}
	if !strings.Contains(logs.String(), "stdin reached end of file") || !strings.Contains(logs.String(), "frames=3") {
		t.Errorf("no end-of-file line with frames=3: %s", logs)
	}
}

func TestReaderSaysWhereAPartialLastFrameEnded(t *testing.T) {
	srv, opts, _ := newServer(t)
	in := frames(2, 128)
	in = append(in, make([]byte, 100)...)
	src, err := rawreader.Start(srv, "/cam", gray, bytes.NewReader(in), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	n, err := src.Result()
	want := "stdin ended in the middle of frame 3: got 100 of 3072 bytes"
	if n != 2 || err == nil || err.Error() != want {
		t.Fatalf("Result = %d, %v; want 2 frames and %q", n, err, want)
	}
}

// The server's picture is what the reader read: gray frames come out as
// a flat luma plane of their value.
func TestReaderFramesReachTheEncoderUnchanged(t *testing.T) {
	srv, opts, _ := newServer(t)
	pr, pw := io.Pipe()
	src, err := rawreader.Start(srv, "/cam", gray, pr, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Frames until the snapshot has one: it takes the next frame after it asks.
	go func() {
		frame := frames(1, 200)
		for ctx.Err() == nil {
			if _, err := pw.Write(frame); err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	img, err := srv.Snapshot(ctx, "/cam")
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]int{{0, 0}, {w / 2, h / 2}, {w - 1, h - 1}} {
		if y := img.Y[img.YOffset(p[0], p[1])]; y < 180 || y > 215 {
			t.Errorf("luma at %v is %d, want about 188 (gray 200, limited range)", p, y)
		}
	}
}

// Close ends a Read in progress by closing the reader, stops the
// goroutine and lets the producer leave, quietly.
func TestCloseEndsABlockedReadAndLeavesThePath(t *testing.T) {
	srv, opts, logs := newServer(t)
	pr, pw := io.Pipe()
	defer pw.Close()
	src, err := rawreader.Start(srv, "/cam", gray, pr, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pw.Write(frames(1, 10)); err != nil {
		t.Fatal(err)
	}
	src.Close()
	src.Close()
	if n, err := src.Result(); n != 1 || err != nil {
		t.Errorf("Result after Close = %d, %v; want 1 frame and no error", n, err)
	}
	if p := info(t, srv, "/cam").Producer; p != "" {
		t.Errorf("producer %q still on the path after Close", p)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("Close logged an error: %s", logs)
	}
}

// Attached at StageSource, the reader is closed by the server's Shutdown.
func TestShutdownClosesAnAttachedReader(t *testing.T) {
	srv, opts, _ := newServer(t)
	pr, pw := io.Pipe()
	defer pw.Close()
	src, err := rawreader.Start(srv, "/cam", gray, pr, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Attach(framecast.StageSource, src); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-src.Done():
	default:
		t.Fatal("reader still running after Shutdown")
	}
}
