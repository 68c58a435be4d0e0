package publisher_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/ingest"
	"github.com/framecast/framecast/pixfmt"
	"github.com/framecast/framecast/publisher"
)

// These tests run the publisher against a fake server that speaks the
// protocol with internal/ingest, so that each answer comes exactly when the
// test wants it. ingest_test.go in the repository root runs it against the
// real server.

type fakeServer struct {
	l     net.Listener
	conns chan net.Conn
}

func newFake(t *testing.T) (*fakeServer, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeServer{l: l, conns: make(chan net.Conn, 4)}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(fs.conns)
				return
			}
			fs.conns <- c
		}
	}()
	t.Cleanup(func() { l.Close() })
	return fs, "tcp://" + l.Addr().String()
}

type fakeConn struct {
	c net.Conn
	r *ingest.Reader
	w *ingest.Writer
}

func (fs *fakeServer) accept(t *testing.T) *fakeConn {
	t.Helper()
	select {
	case c := <-fs.conns:
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return &fakeConn{c: c, r: ingest.NewReader(c), w: ingest.NewWriter(c)}
	case <-time.After(10 * time.Second):
		t.Fatal("the publisher did not connect")
		return nil
	}
}

// expect reads the next message, which must be of type typ.
func (fc *fakeConn) expect(t *testing.T, typ ingest.Type) ingest.Message {
	t.Helper()
	m, err := fc.r.Next()
	if err != nil || m.Header.Type != typ {
		t.Fatalf("fake server read %v, %v; want %v", m.Header.Type, err, typ)
	}
	return m
}

func (fc *fakeConn) ready(t *testing.T) {
	t.Helper()
	if err := fc.w.WriteReady(&ingest.Ready{Version: 1, MaxFramePayload: ingest.MaxFramePayload}); err != nil {
		t.Fatal(err)
	}
}

func (fc *fakeConn) error(t *testing.T, code ingest.Code, msg string) {
	t.Helper()
	if err := fc.w.WriteError(&ingest.Error{Code: code, Fatal: code.Fatal(), Message: msg}); err != nil {
		t.Fatal(err)
	}
}

// format reads a FORMAT and sets the frame size it declares.
func (fc *fakeConn) format(t *testing.T) ingest.Format {
	t.Helper()
	var f ingest.Format
	if err := f.Unmarshal(fc.expect(t, ingest.TypeFormat).Payload); err != nil {
		t.Fatal(err)
	}
	fc.r.SetFormat(f)
	return f
}

type dialResult struct {
	p   *publisher.Publisher
	err error
}

func dialAsync(address string, f publisher.Format, opts ...publisher.Option) chan dialResult {
	ch := make(chan dialResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p, err := publisher.Dial(ctx, address, "/cam", f, opts...)
		ch <- dialResult{p, err}
	}()
	return ch
}

func (r dialResult) get(t *testing.T) *publisher.Publisher {
	t.Helper()
	if r.err != nil {
		t.Fatalf("Dial: %v", r.err)
	}
	t.Cleanup(func() { r.p.Close() })
	return r.p
}

var gray = publisher.Format{PixelFormat: pixfmt.Gray, Width: 4, Height: 2, FPS: 30}

// connect dials the fake server and answers the handshake.
func connect(t *testing.T, f publisher.Format, opts ...publisher.Option) (*publisher.Publisher, *fakeConn, ingest.Hello, ingest.Format) {
	t.Helper()
	fake, addr := newFake(t)
	res := dialAsync(addr, f, opts...)
	fc := fake.accept(t)
	var h ingest.Hello
	if err := h.Unmarshal(fc.expect(t, ingest.TypeHello).Payload); err != nil {
		t.Fatal(err)
	}
	fc.ready(t)
	wf := fc.format(t)
	fc.ready(t)
	p := (<-res).get(t)
	// Before p.Close (cleanups run last first): Close need not wait for a
	// fake server that does not answer BYE.
	t.Cleanup(func() { fc.c.Close() })
	return p, fc, h, wf
}

func TestDialSendsHelloAndFormatAsTheSpecSays(t *testing.T) {
	f := publisher.Format{PixelFormat: pixfmt.NV12, Width: 1920, Height: 1080, Stride: 2048, FPS: 29.97,
		Encoder: &publisher.EncoderConfig{BitrateKbps: 4000, GOP: 60, Preset: "veryfast"}}
	_, _, h, wf := connect(t, f, publisher.WithToken("s3cret"))
	if h != (ingest.Hello{Version: 1, Path: "/cam", Token: "s3cret"}) {
		t.Errorf("HELLO %+v", h)
	}
	want := ingest.Format{PixelFormat: pixfmt.NV12, Width: 1920, Height: 1080, Stride: 2048, FPSNum: 30000, FPSDen: 1001,
		Options: ingest.Options{BitrateKbps: 4000, GOP: 60, Preset: "veryfast"}}
	if wf != want {
		t.Errorf("FORMAT %+v, want %+v", wf, want)
	}
}

func TestDialSendsFrameRatesAsFractions(t *testing.T) {
	for fps, want := range map[float64][2]uint32{0: {30, 1}, 30: {30, 1}, 29.97: {30000, 1001}, 23.976: {24000, 1001},
		59.94: {60000, 1001}, 12.5: {12500, 1000}, 0.5: {500, 1000}, 1000: {1000, 1}, 0.001: {1, 1000}} {
		f := gray
		f.FPS = fps
		_, _, _, wf := connect(t, f)
		if wf.FPSNum != want[0] || wf.FPSDen != want[1] {
			t.Errorf("FPS %g sent as %d/%d, want %d/%d", fps, wf.FPSNum, wf.FPSDen, want[0], want[1])
		}
	}
}

// TestDialRefusesWhatTheServerWouldRefuse before connecting: nobody listens
// on the address.
func TestDialRefusesWhatTheServerWouldRefuse(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := "tcp://" + l.Addr().String()
	l.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		name, address, path string
		f                   publisher.Format
		code                publisher.Code
		want                string
	}{
		{"odd width", addr, "/cam", publisher.Format{PixelFormat: pixfmt.BGR24, Width: 641, Height: 480}, publisher.CodeBadFormat, "size 641x480"},
		{"too fast", addr, "/cam", publisher.Format{PixelFormat: pixfmt.BGR24, Width: 640, Height: 480, FPS: 2000}, publisher.CodeBadFormat, "frame rate 2000"},
		{"negative size", addr, "/cam", publisher.Format{PixelFormat: pixfmt.BGR24, Width: -2, Height: 480}, publisher.CodeBadFormat, "out of range"},
		{"bitrate and crf", addr, "/cam", publisher.Format{PixelFormat: pixfmt.BGR24, Width: 640, Height: 480,
			Encoder: &publisher.EncoderConfig{BitrateKbps: 1, CRF: 20}}, publisher.CodeBadFormat, "bitrate and crf exclude each other"},
		{"bad preset", addr, "/cam", publisher.Format{PixelFormat: pixfmt.BGR24, Width: 640, Height: 480,
			Encoder: &publisher.EncoderConfig{Preset: "ultra fast"}}, publisher.CodeBadFormat, `option preset="ultra fast"`},
		{"bad path", addr, "cam", gray, publisher.CodeBadHello, `path "cam"`},
	} {
		_, err := publisher.Dial(ctx, tc.address, tc.path, tc.f)
		var e *publisher.Error
		if !errors.As(err, &e) || e.Code != tc.code || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%s: Dial = %v, want %v containing %q", tc.name, err, tc.code, tc.want)
		}
	}
	for _, a := range []string{"http://127.0.0.1:1", "", "unix://relative", "127.0.0.1"} {
		_, err := publisher.Dial(ctx, a, "/cam", gray)
		if err == nil || !strings.Contains(err.Error(), "want tcp://HOST:PORT, unix:///PATH or HOST:PORT") {
			t.Errorf("Dial(%q) = %v, want an address error", a, err)
		}
	}
	if _, err := publisher.Dial(ctx, addr, "/cam", gray); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Dial with nobody listening = %v", err)
	}
}

func TestDialReturnsTheServersRefusal(t *testing.T) {
	fake, addr := newFake(t)
	res := dialAsync(addr, gray)
	fc := fake.accept(t)
	fc.expect(t, ingest.TypeHello)
	fc.error(t, ingest.CodePathInUse, "path /cam already has a producer (from 10.0.0.1:5)")
	r := <-res
	var e *publisher.Error
	if !errors.As(r.err, &e) || e.Code != publisher.CodePathInUse || !e.Fatal ||
		r.err.Error() != "framecast: path-in-use: path /cam already has a producer (from 10.0.0.1:5)" {
		t.Fatalf("Dial = %v", r.err)
	}
}

func TestDialGivesUpWhenTheContextEnds(t *testing.T) {
	fake, addr := newFake(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res := make(chan error, 1)
	go func() {
		_, err := publisher.Dial(ctx, addr, "/cam", gray)
		res <- err
	}()
	fake.accept(t) // and never answer
	select {
	case err := <-res:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Dial = %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Dial did not give up when its context ended")
	}
}

// waitFrames reads n frames at the fake server.
func (fc *fakeConn) waitFrames(t *testing.T, n int) {
	t.Helper()
	for range n {
		fc.expect(t, ingest.TypeFrame)
	}
}

// TestWriteFrameReturnsTheServersErrorForAnEarlierFrame: the error comes
// back from the first WriteFrame after it arrived, which does not send its
// frame; the connection goes on.
func TestWriteFrameReturnsTheServersErrorForAnEarlierFrame(t *testing.T) {
	p, fc, _, _ := connect(t, gray)
	frame := make([]byte, 8)
	for range 2 {
		if err := p.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
	}
	fc.waitFrames(t, 2)
	fc.error(t, ingest.CodeFrameSize, "frame is 3 bytes, want 8 for gray 4x2")
	deadline := time.Now().Add(5 * time.Second)
	var err error
	sent := 0
	for err == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		if err = p.WriteFrame(frame); err == nil {
			sent++
		}
	}
	var e *publisher.Error
	if !errors.As(err, &e) || e.Code != publisher.CodeFrameSize || e.Fatal || e.Message != "frame is 3 bytes, want 8 for gray 4x2" {
		t.Fatalf("WriteFrame = %v, want the frame-size error", err)
	}
	if err := p.WriteFrameAt(frame, 5*time.Second); err != nil {
		t.Fatalf("WriteFrame after the error: %v", err)
	}
	fc.waitFrames(t, sent) // the frame of the call that returned the error was not sent
	m := fc.expect(t, ingest.TypeFrame)
	if !m.HasTimestamp() || m.Timestamp != 5*time.Second {
		t.Errorf("frame after the error: %+v at %v, want the one stamped 5 s", m.Header, m.Timestamp)
	}
}

func TestFatalErrorIsReturnedByEveryLaterCall(t *testing.T) {
	p, fc, _, _ := connect(t, gray)
	fc.error(t, ingest.CodeShuttingDown, "the server is shutting down")
	fc.c.Close()
	var first error
	deadline := time.Now().Add(5 * time.Second)
	for first == nil && time.Now().Before(deadline) {
		first = p.WriteFrame(make([]byte, 8))
		time.Sleep(time.Millisecond)
	}
	var e *publisher.Error
	if !errors.As(first, &e) || e.Code != publisher.CodeShuttingDown || !e.Fatal {
		t.Fatalf("WriteFrame = %v, want the fatal shutting-down error", first)
	}
	for _, err := range []error{p.WriteFrame(make([]byte, 8)), p.SetFormat(gray), p.Close()} {
		if err != first {
			t.Errorf("later call = %v, want %v again", err, first)
		}
	}
}

func TestLostConnectionIsAnError(t *testing.T) {
	p, fc, _, _ := connect(t, gray)
	fc.c.Close()
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		err = p.WriteFrame(make([]byte, 8))
		time.Sleep(time.Millisecond)
	}
	if err == nil || !strings.Contains(err.Error(), "publisher: connection to the server lost") {
		t.Fatalf("WriteFrame to a closed connection = %v", err)
	}
}

func TestSetFormatWaitsForTheAnswer(t *testing.T) {
	p, fc, _, _ := connect(t, gray)
	vga := publisher.Format{PixelFormat: pixfmt.BGR24, Width: 640, Height: 480, FPS: 25}
	go func() {
		fc.error(t, ingest.CodeFrameSize, "an earlier frame") // about a frame sent before
		if f := fc.format(t); f.Width != 640 || f.FPSNum != 25 {
			t.Errorf("FORMAT %+v", f)
		}
		fc.ready(t)
		fc.format(t)
		fc.error(t, ingest.CodeBadFormat, "option preset=\"x\"")
	}()
	if err := p.SetFormat(vga); err != nil {
		t.Fatalf("SetFormat = %v", err)
	}
	if got := p.Format(); got != vga {
		t.Errorf("Format() = %+v, want %+v", got, vga)
	}
	err := p.SetFormat(gray)
	var e *publisher.Error
	if !errors.As(err, &e) || e.Code != publisher.CodeBadFormat || e.Fatal {
		t.Fatalf("refused SetFormat = %v", err)
	}
	if got := p.Format(); got != vga {
		t.Errorf("Format() after a refusal = %+v, want the previous %+v", got, vga)
	}
	// The error about the earlier frame is kept for the next WriteFrame.
	if err := p.WriteFrame(make([]byte, 8)); !errors.As(err, &e) || e.Code != publisher.CodeFrameSize {
		t.Errorf("WriteFrame after SetFormat = %v, want the queued frame-size error", err)
	}
}

func TestCloseSendsByeAndReturnsErrorsForTheLastFrames(t *testing.T) {
	p, fc, _, _ := connect(t, gray)
	p.WriteFrame(make([]byte, 8))
	go func() {
		fc.expect(t, ingest.TypeFrame)
		fc.expect(t, ingest.TypeBye)
		fc.error(t, ingest.CodeFrameSize, "the last frame")
		fc.c.Close()
	}()
	err := p.Close()
	var e *publisher.Error
	if !errors.As(err, &e) || e.Message != "the last frame" {
		t.Fatalf("Close = %v, want the error about the last frame", err)
	}
	if err := p.WriteFrame(nil); err != publisher.ErrClosed {
		t.Errorf("WriteFrame after Close = %v, want ErrClosed", err)
	}
}

func TestWriteFrameDoesNotAllocate(t *testing.T) {
	p, fc, _, _ := connect(t, gray)
	go func() {
		for {
			if _, err := fc.r.Next(); err != nil {
				return
			}
		}
	}()
	frame := make([]byte, 8)
	if allocs := testing.AllocsPerRun(1000, func() { p.WriteFrame(frame) }); allocs != 0 {
		t.Errorf("WriteFrame allocates %v times, want 0", allocs)
	}
}
