package framecast_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/ingest"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/testsrc"
	"github.com/framecast/framecast/publisher"
)

// These tests run producers over the ingest socket (the Go publisher, or raw
// bytes for what a publisher never sends) against a real server, and watch
// the result with ffmpeg.

// listenIngestTCP starts a TCP ingest listener on srv and returns its URL.
func listenIngestTCP(t testing.TB, srv *framecast.Server) string {
	t.Helper()
	addr, err := srv.ListenIngest("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return "tcp://" + addr.String()
}

// shortTempDir is a temporary directory with a short name: a Unix socket
// path has at most 107 bytes.
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "fci")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// dialPublisher publishes path at address, closed when the test ends.
func dialPublisher(t testing.TB, address, path string, f framecast.Format) *publisher.Publisher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := publisher.Dial(ctx, address, path, publisherFormat(f))
	if err != nil {
		t.Fatalf("dial %s%s: %v", address, path, err)
	}
	t.Cleanup(func() { pub.Close() })
	return pub
}

// pusher writes frames drawn by draw to a publisher at fps, in its own
// goroutine, until stop.
type pusher struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	errs   chan error // errors WriteFrame returned, in order (buffered)
	mu     sync.Mutex
	n      uint32 // frames written so far
}

// push starts writing frames numbered from first: draw fills buf for frame n
// and returns the bytes to send (buf itself, or something else to test).
func push(t testing.TB, pub *publisher.Publisher, fps float64, first uint32, draw func(buf []byte, n uint32) []byte) *pusher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &pusher{cancel: cancel, errs: make(chan error, 1000)}
	buf := make([]byte, pub.Format().FrameSize())
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(time.Duration(float64(time.Second) / fps))
		defer tick.Stop()
		for n := first; ; n++ {
			if err := pub.WriteFrame(draw(buf, n)); err != nil {
				select {
				case p.errs <- err:
				default:
				}
				var e *publisher.Error
				if !errors.As(err, &e) || e.Fatal {
					return
				}
			}
			p.mu.Lock()
			p.n = n
			p.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *pusher) stop() {
	p.cancel()
	p.wg.Wait()
}

func (p *pusher) last() uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// stampedBGR draws a mid-grey bgr24 frame of w x h with n stamped on it.
func stampedBGR(w, h int) func([]byte, uint32) []byte {
	return func(buf []byte, n uint32) []byte {
		for i := range buf {
			buf[i] = 100
		}
		testsrc.StampNumber(buf, w, h, w*3, 3, n)
		return buf
	}
}

// numberOf reads the stamped number of a frame decoded as gray.
func numberOf(frame []byte, w, h int) uint32 { return testsrc.ReadNumber(frame, w, h, w) }

// waitNumber reads decoded gray frames until one's number satisfies ok,
// and returns it; it fails the test after timeout.
func waitNumber(t *testing.T, dec *testkit.Frames, w, h int, timeout time.Duration, ok func(uint32) bool) uint32 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatal("no frame with the wanted number in time")
		}
		if n := numberOf(dec.Next(t, left), w, h); ok(n) {
			return n
		}
	}
}

// The BT.601 limited-range Y, U, V of pure red, green and blue: what
// libyuv makes of them, and what a decoder turns back into them.
var yuvOf = map[string][3]byte{"red": {82, 90, 240}, "green": {145, 54, 34}, "blue": {41, 240, 110}}

var bandColours = []string{"red", "green", "blue"}

var rgbOf = map[string][3]byte{"red": {255, 0, 0}, "green": {0, 255, 0}, "blue": {0, 0, 255}}

// grayLevels are the levels of gray bands; a decoder shows gray Y as
// (Y-16)*255/219 on every channel.
var grayLevels = []byte{40, 128, 220}

// drawBands fills a frame of pf, w x h (w a multiple of 6), with three
// vertical bands: red, green and blue (for gray: grayLevels).
func drawBands(pf framecast.PixelFormat, w, h int) []byte {
	f := framecast.Format{PixelFormat: pf, Width: w, Height: h}
	buf := make([]byte, f.FrameSize())
	band := func(x int) int { return x * 3 / w }
	for y := range h {
		for x := range w {
			c := bandColours[band(x)]
			rgb, yuv := rgbOf[c], yuvOf[c]
			i := y*w + x
			switch pf {
			case framecast.BGR24:
				copy(buf[3*i:], []byte{rgb[2], rgb[1], rgb[0]})
			case framecast.RGB24:
				copy(buf[3*i:], rgb[:])
			case framecast.BGRA:
				copy(buf[4*i:], []byte{rgb[2], rgb[1], rgb[0], 255})
			case framecast.RGBA:
				copy(buf[4*i:], []byte{rgb[0], rgb[1], rgb[2], 255})
			case framecast.Gray:
				buf[i] = grayLevels[band(x)]
			case framecast.YUV420P:
				buf[i] = yuv[0]
				if x%2 == 0 && y%2 == 0 {
					ci := (y/2)*(w/2) + x/2
					buf[w*h+ci], buf[w*h+w*h/4+ci] = yuv[1], yuv[2]
				}
			case framecast.NV12:
				buf[i] = yuv[0]
				if x%2 == 0 && y%2 == 0 {
					ci := (y/2)*w + x
					buf[w*h+ci], buf[w*h+ci+1] = yuv[1], yuv[2]
				}
			case framecast.YUYV422:
				if x%2 == 0 {
					copy(buf[2*i:], []byte{yuv[0], yuv[1], yuv[0], yuv[2]})
				}
			}
		}
	}
	return buf
}

// meanAt is the mean B, G, R of the 8x8 square centred at (x, y) of a
// decoded bgr24 frame.
func meanAt(frame []byte, w, x, y int) [3]int {
	var sum [3]int
	for yy := y - 4; yy < y+4; yy++ {
		for xx := x - 4; xx < x+4; xx++ {
			for c := range 3 {
				sum[c] += int(frame[(yy*w+xx)*3+c])
			}
		}
	}
	for c := range sum {
		sum[c] /= 64
	}
	return sum
}

// checkBands checks the three bands of a decoded bgr24 frame.
func checkBands(t *testing.T, frame []byte, pf framecast.PixelFormat, w, h int) {
	t.Helper()
	for i, c := range bandColours {
		var want [3]int
		if pf == framecast.Gray {
			v := min(255, max(0, (int(grayLevels[i])-16)*255/219))
			want = [3]int{v, v, v}
		} else {
			rgb := rgbOf[c]
			want = [3]int{int(rgb[2]), int(rgb[1]), int(rgb[0])}
		}
		got := meanAt(frame, w, w*(2*i+1)/6, h/2)
		for k := range 3 {
			if d := got[k] - want[k]; d < -20 || d > 20 {
				t.Errorf("%v band %d (%s): decoded B,G,R = %v, want %v ±20", pf, i, c, got, want)
				break
			}
		}
	}
}

// TestIngestEveryPixelFormatKeepsItsColours publishes red, green and blue
// bands (gray levels for gray) in each pixel format through the socket and
// checks the colours ffmpeg decodes: a BGR/RGB swap, a U/V swap or a plane
// mix-up shows as a wrong band.
func TestIngestEveryPixelFormatKeepsItsColours(t *testing.T) {
	const w, h = 384, 216
	srv := newServer(t, framecast.Config{})
	addr := listenIngestTCP(t, srv)
	for _, pf := range []framecast.PixelFormat{framecast.BGR24, framecast.RGB24, framecast.BGRA, framecast.RGBA,
		framecast.Gray, framecast.YUV420P, framecast.NV12, framecast.YUYV422} {
		t.Run(pf.String(), func(t *testing.T) {
			t.Parallel()
			path := "/" + pf.String()
			pub := dialPublisher(t, addr, path, framecast.Format{PixelFormat: pf, Width: w, Height: h, FPS: 15})
			frame := drawBands(pf, w, h)
			push(t, pub, 15, 0, func([]byte, uint32) []byte { return frame })
			dec := testkit.FFmpeg(t, url(srv, path), "tcp", "bgr24", w, h)
			var got []byte
			for range 3 {
				got = dec.Next(t, 20*time.Second)
			}
			checkBands(t, got, pf, w, h)
		})
	}
}

// TestIngestFramesDecodeInOrderAt30fps stamps each frame with its number:
// ffmpeg must decode them in order with none missing.
func TestIngestFramesDecodeInOrderAt30fps(t *testing.T) {
	const w, h = 640, 360
	srv := newServer(t, framecast.Config{})
	pub := dialPublisher(t, listenIngestTCP(t, srv), "/cam", framecast.Format{PixelFormat: framecast.BGR24, Width: w, Height: h, FPS: 30})
	push(t, pub, 30, 0, stampedBGR(w, h))
	dec := testkit.FFmpeg(t, url(srv, "/cam"), "tcp", "gray", w, h)
	first := numberOf(dec.Next(t, 10*time.Second), w, h)
	// In order, none missing but those the encoder counted as dropped (it
	// can fall behind on a loaded machine).
	dropped := func() uint64 {
		var d uint64
		for _, in := range srv.Streams() {
			d += in.Stats.Dropped
		}
		return d
	}
	dropped0 := dropped()
	for prev := first; prev < first+89; {
		n := numberOf(dec.Next(t, 5*time.Second), w, h)
		if n == prev {
			continue // the last picture again, as an IDR for a joining viewer
		}
		if n < prev || uint64(n-prev-1) > dropped()-dropped0 {
			t.Fatalf("frame %d after %d (%d dropped by the encoder): order or loss", n, prev, dropped()-dropped0)
		}
		prev = n
	}
}

// TestIngestWrongSizeFrameIsRefusedAndStreamGoesOn sends one frame of 1000
// bytes among good ones: a later WriteFrame returns the server's frame-size
// error naming both sizes, and frames sent after it still decode.
func TestIngestWrongSizeFrameIsRefusedAndStreamGoesOn(t *testing.T) {
	const w, h = 320, 240
	srv := newServer(t, framecast.Config{})
	pub := dialPublisher(t, listenIngestTCP(t, srv), "/cam", framecast.Format{PixelFormat: framecast.BGR24, Width: w, Height: h, FPS: 30})
	draw := stampedBGR(w, h)
	const bad = 45
	p := push(t, pub, 30, 0, func(buf []byte, n uint32) []byte {
		if n == bad {
			return make([]byte, 1000)
		}
		return draw(buf, n)
	})
	dec := testkit.FFmpeg(t, url(srv, "/cam"), "tcp", "gray", w, h)
	waitNumber(t, dec, w, h, 10*time.Second, func(uint32) bool { return true })
	var err error
	select {
	case err = <-p.errs:
	case <-time.After(10 * time.Second):
		t.Fatal("no WriteFrame returned the server's error for the wrong-size frame")
	}
	var e *publisher.Error
	want := fmt.Sprintf("frame is 1000 bytes, want %d for bgr24 %dx%d", w*h*3, w, h)
	if !errors.As(err, &e) || e.Code != publisher.CodeFrameSize || e.Fatal || e.Message != want {
		t.Fatalf("WriteFrame error %v (%T), want a non-fatal frame-size *publisher.Error %q", err, err, want)
	}
	if got := err.Error(); got != "framecast: frame-size: "+want {
		t.Errorf("Error() = %q", got)
	}
	after := p.last()
	waitNumber(t, dec, w, h, 10*time.Second, func(n uint32) bool { return n > after+10 })
	p.stop()
	if err := pub.Close(); err != nil {
		t.Errorf("Close after the error was returned: %v, want nil", err)
	}
	select {
	case err := <-p.errs:
		t.Errorf("a second error: %v", err)
	default:
	}
}

// TestIngestErrorForTheLastFramesIsReturnedByClose: the server's answer to a
// wrong-size frame sent just before Close is Close's error.
func TestIngestErrorForTheLastFramesIsReturnedByClose(t *testing.T) {
	srv := newServer(t, framecast.Config{})
	f := framecast.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48}
	pub := dialPublisher(t, listenIngestTCP(t, srv), "/cam", f)
	if err := pub.WriteFrame(make([]byte, f.FrameSize())); err != nil {
		t.Fatal(err)
	}
	if err := pub.WriteFrame(make([]byte, 3000)); err != nil {
		t.Fatalf("WriteFrame of a wrong size: %v; the error comes later, from the server", err)
	}
	err := pub.Close()
	var e *publisher.Error
	if !errors.As(err, &e) || e.Code != publisher.CodeFrameSize || e.Message != "frame is 3000 bytes, want 3072 for gray 64x48" {
		t.Fatalf("Close = %v, want the frame-size error", err)
	}
	if err := pub.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if err := pub.WriteFrame(make([]byte, f.FrameSize())); err != publisher.ErrClosed {
		t.Errorf("WriteFrame after Close = %v, want ErrClosed", err)
	}
}

// rawConn is a producer that writes raw bytes and reads what the server says.
type rawConn struct {
	c net.Conn
	r *ingest.Reader
}

func dialRaw(t *testing.T, address string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(address, "tcp://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{c: c, r: ingest.NewReader(c)}
}

func (rc *rawConn) send(t *testing.T, b ...[]byte) {
	t.Helper()
	if _, err := rc.c.Write(bytes.Join(b, nil)); err != nil {
		t.Fatal(err)
	}
}

// next reads the server's next message: READY gives nil, ERROR its *Error.
func (rc *rawConn) next(t *testing.T) *ingest.Error {
	t.Helper()
	m, err := rc.r.Next()
	if err != nil {
		t.Fatalf("reading the server's answer: %v", err)
	}
	switch m.Header.Type {
	case ingest.TypeReady:
		var r ingest.Ready
		if err := r.Unmarshal(m.Payload); err != nil || r.Version != 1 || r.MaxFramePayload != ingest.MaxFramePayload {
			t.Fatalf("READY %+v, %v; want version 1, 268435456", r, err)
		}
		return nil
	case ingest.TypeError:
		var e ingest.Error
		if err := e.Unmarshal(m.Payload); err != nil {
			t.Fatal(err)
		}
		return &e
	}
	t.Fatalf("server sent %v", m.Header.Type)
	return nil
}

// closedByServer checks that the server closes the connection next.
func (rc *rawConn) closedByServer(t *testing.T) {
	t.Helper()
	if m, err := rc.r.Next(); err != io.EOF {
		t.Fatalf("after a fatal ERROR: %+v, %v; want the connection closed", m.Header, err)
	}
}

func wireMsg(t ingest.Type, payload []byte) []byte {
	h := ingest.Header{Type: t, Length: uint32(len(payload))}
	b, _ := h.Marshal()
	return append(b, payload...)
}

func wireHello(path string) []byte {
	h := ingest.Hello{Path: path}
	b, _ := h.Marshal()
	return wireMsg(ingest.TypeHello, b)
}

func wireFormat(f ingest.Format) []byte {
	b, _ := f.Marshal()
	return wireMsg(ingest.TypeFormat, b)
}

func wireFrame(n int) []byte { return wireMsg(ingest.TypeFrame, make([]byte, 8+n)) }

var gray64x48 = ingest.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48, FPSNum: 30, FPSDen: 1}

// TestIngestBrokenProducerIsClosedWithAReasonAndOthersGoOn sends what no
// publisher sends: each connection gets a fatal ERROR that says what was
// wrong, then is closed, while a stream of another producer keeps playing
// and a new producer can still publish.
func TestIngestBrokenProducerIsClosedWithAReasonAndOthersGoOn(t *testing.T) {
	const w, h = 320, 240
	srv := newServer(t, framecast.Config{})
	addr := listenIngestTCP(t, srv)
	good := dialPublisher(t, addr, "/good", framecast.Format{PixelFormat: framecast.BGR24, Width: w, Height: h, FPS: 30})
	push(t, good, 30, 0, stampedBGR(w, h))
	dec := testkit.FFmpeg(t, url(srv, "/good"), "tcp", "gray", w, h)
	dec.Next(t, 10*time.Second)

	hello := wireHello("/bad")
	badHeader := func(b ...byte) []byte { return b }
	for _, tc := range []struct {
		name    string
		send    [][]byte
		readies int // READYs before the ERROR
		code    ingest.Code
		want    string
	}{
		{"HTTP request", [][]byte{[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")}, 0, ingest.CodeBadHello, "first message is not a HELLO: unknown message type 0x47"},
		{"RTSP request", [][]byte{[]byte("OPTIONS rtsp://x/ RTSP/1.0\r\n\r\n")}, 0, ingest.CodeBadHello, "unknown message type 0x4f"},
		{"frame first", [][]byte{wireFrame(10)}, 0, ingest.CodeBadHello, "first message is FRAME, want HELLO"},
		{"format first", [][]byte{wireFormat(gray64x48)}, 0, ingest.CodeBadHello, "first message is FORMAT, want HELLO"},
		{"wrong magic", [][]byte{wireMsg(ingest.TypeHello, []byte("RTSP\x01\x00\x04\x00/cam\x00\x00"))}, 0, ingest.CodeBadHello, `HELLO magic is "RTSP", want "FCST"`},
		{"version 2", [][]byte{wireMsg(ingest.TypeHello, []byte("FCST\x02\x00\x04\x00/cam\x00\x00"))}, 0, ingest.CodeUnsupportedVersion, "protocol version 2 is not supported: this server speaks version 1"},
		{"bad path", [][]byte{wireHello("/my cam")}, 0, ingest.CodeBadHello, `path "/my cam" has ' ' at byte 3; want a path such as /cam`},
		{"huge HELLO", [][]byte{badHeader(1, 0, 0, 0, 0, 0, 0, 1)}, 0, ingest.CodeMessageTooLarge, "HELLO payload is 16777216 bytes, more than the 65536 bytes allowed"},
		{"second HELLO", [][]byte{hello, hello}, 1, ingest.CodeBadHello, "second HELLO on a connection that publishes /bad"},
		{"huge frame", [][]byte{hello, badHeader(3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff)}, 1, ingest.CodeMessageTooLarge, "FRAME payload is 4294967295 bytes, more than the 268435456 bytes allowed"},
		{"reserved bits", [][]byte{hello, badHeader(2, 0, 0, 1, 0, 0, 0, 0)}, 1, ingest.CodeMalformed, "FORMAT header has reserved bytes 0001, want 0000"},
		{"unknown flag", [][]byte{hello, badHeader(3, 2, 0, 0, 8, 0, 0, 0)}, 1, ingest.CodeMalformed, "FRAME has unknown flags 0x02"},
		{"short FORMAT", [][]byte{hello, wireMsg(ingest.TypeFormat, make([]byte, 10))}, 1, ingest.CodeMalformed, "FORMAT payload is 10 bytes, want at least 26"},
		{"unknown type", [][]byte{hello, badHeader(7, 0, 0, 0, 0, 0, 0, 0)}, 1, ingest.CodeMalformed, "unknown message type 0x07"},
		{"READY from a producer", [][]byte{hello, wireMsg(ingest.TypeReady, make([]byte, 6))}, 1, ingest.CodeMalformed, "READY is a message the server sends, not a producer"},
		{"BYE with a payload", [][]byte{hello, wireMsg(ingest.TypeBye, []byte{1})}, 1, ingest.CodeMalformed, "BYE has a payload of 1 bytes, want none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, addr)
			rc.send(t, tc.send...)
			for range tc.readies {
				if e := rc.next(t); e != nil {
					t.Fatalf("got %v, want READY", e)
				}
			}
			e := rc.next(t)
			if e == nil || e.Code != tc.code || !e.Fatal || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("server answered %v, want a fatal %v containing %q", e, tc.code, tc.want)
			}
			rc.closedByServer(t)
		})
	}
	// The good stream played on; a new producer publishes.
	before := numberOf(dec.Next(t, 5*time.Second), w, h)
	waitNumber(t, dec, w, h, 5*time.Second, func(n uint32) bool { return n > before+5 })
	other := dialPublisher(t, addr, "/bad", framecast.Format{PixelFormat: framecast.BGR24, Width: w, Height: h, FPS: 30})
	push(t, other, 30, 7000, stampedBGR(w, h))
	dec2 := testkit.FFmpeg(t, url(srv, "/bad"), "tcp", "gray", w, h)
	waitNumber(t, dec2, w, h, 10*time.Second, func(n uint32) bool { return n >= 7000 })
}

// TestIngestNonFatalErrorsKeepTheConnection: a bad FORMAT, a frame before
// any format and a frame of the wrong size are each answered with a
// non-fatal ERROR, and the connection goes on to publish.
func TestIngestNonFatalErrorsKeepTheConnection(t *testing.T) {
	srv := newServer(t, framecast.Config{AlwaysEncode: true})
	rc := dialRaw(t, listenIngestTCP(t, srv))
	rc.send(t, wireHello("/cam"))
	if e := rc.next(t); e != nil {
		t.Fatal(e)
	}
	odd := gray64x48
	odd.Width = 63
	tooFast := gray64x48
	tooFast.FPSNum = 5000
	withOptions := gray64x48
	withOptions.Options = ingest.Options{GOP: 5, Preset: "veryfast"}
	strided := gray64x48
	strided.Stride = 80
	for _, tc := range []struct {
		name string
		send []byte
		code ingest.Code
		want string
	}{
		{"frame before a format", wireFrame(64 * 48), ingest.CodeNoFormat, "FRAME before any accepted FORMAT"},
		{"odd width", wireFormat(odd), ingest.CodeBadFormat, "size 63x48: width and height must be even, from 2 to 8192"},
		{"too fast", wireFormat(tooFast), ingest.CodeBadFormat, "frame rate 5000/1: want from 1/1000 to 1000 frames per second"},
		{"unknown pixel format", wireFormat(ingest.Format{PixelFormat: 9, Width: 64, Height: 48, FPSNum: 30, FPSDen: 1}), ingest.CodeBadFormat, "unknown pixel format 9"},
		{"bad option", wireFormat(ingest.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48, FPSNum: 30, FPSDen: 1,
			Options: ingest.Options{Preset: "turbo"}}), ingest.CodeBadFormat, `option preset="turbo": want one of ultrafast`},
		{"good format", wireFormat(gray64x48), 0, ""},
		{"short frame", wireFrame(1000), ingest.CodeFrameSize, "frame is 1000 bytes, want 3072 for gray 64x48"},
		{"long frame", wireFrame(5 << 20), ingest.CodeFrameSize, "frame is 5242880 bytes, want exactly 3072 for gray 64x48"},
		{"good frame", wireFrame(64 * 48), 0, ""},
		{"strided format", wireFormat(strided), 0, ""},
		{"strided frame, last row short", wireFrame(80*47 + 64), 0, ""},
		{"strided frame, too long", wireFrame(80*48 + 1), ingest.CodeFrameSize, "frame is 3841 bytes, want at most 3840 for gray 64x48 with stride 80"},
		{"format with options", wireFormat(withOptions), 0, ""},
	} {
		rc.send(t, tc.send)
		if tc.code == 0 {
			if tc.send[0] == byte(ingest.TypeFormat) {
				if e := rc.next(t); e != nil {
					t.Fatalf("%s: %v, want READY", tc.name, e)
				}
			}
			continue
		}
		e := rc.next(t)
		if e == nil || e.Code != tc.code || e.Fatal || !strings.Contains(e.Message, tc.want) {
			t.Fatalf("%s: server answered %v, want a non-fatal %v containing %q", tc.name, e, tc.code, tc.want)
		}
	}
	rc.send(t, wireMsg(ingest.TypeBye, nil))
	rc.closedByServer(t)
}

// TestIngestTwoProducersOnTwoPathsBothDecode publishes two paths at once.
func TestIngestTwoProducersOnTwoPathsBothDecode(t *testing.T) {
	const w, h = 320, 240
	srv := newServer(t, framecast.Config{})
	addr := listenIngestTCP(t, srv)
	f := framecast.Format{PixelFormat: framecast.BGR24, Width: w, Height: h, FPS: 30}
	push(t, dialPublisher(t, addr, "/a", f), 30, 1000, stampedBGR(w, h))
	push(t, dialPublisher(t, addr, "/b", f), 30, 5000, stampedBGR(w, h))
	decA := testkit.FFmpeg(t, url(srv, "/a"), "tcp", "gray", w, h)
	decB := testkit.FFmpeg(t, url(srv, "/b"), "udp", "gray", w, h)
	for name, tc := range map[string]struct {
		dec    *testkit.Frames
		lo, hi uint32
	}{"/a": {decA, 1000, 5000}, "/b": {decB, 5000, 9000}} {
		prev := uint32(0)
		for range 30 {
			n := numberOf(tc.dec.Next(t, 10*time.Second), w, h)
			if n < tc.lo || n >= tc.hi || n <= prev {
				t.Fatalf("%s: frame number %d after %d, want increasing numbers from %d", name, n, prev, tc.lo)
			}
			prev = n
		}
	}
}

// TestIngestSecondProducerOnSamePathGetsPathInUse: the second producer is
// refused with the address of the first; the Go API is refused too.
func TestIngestSecondProducerOnSamePathGetsPathInUse(t *testing.T) {
	srv := newServer(t, framecast.Config{})
	addr := listenIngestTCP(t, srv)
	f := framecast.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48}
	first := dialPublisher(t, addr, "/cam", f)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := publisher.Dial(ctx, addr, "/cam", publisherFormat(f))
	var e *publisher.Error
	want := fmt.Sprintf("path /cam already has a producer (from %s)", first.LocalAddr())
	if !errors.As(err, &e) || e.Code != publisher.CodePathInUse || !e.Fatal || e.Message != want {
		t.Fatalf("second Dial: %v, want path-in-use %q", err, want)
	}
	if _, err := srv.Publish("/cam", framecast.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48}); !errors.Is(err, framecast.ErrPathInUse) {
		t.Errorf("Publish on the producer's path: %v, want ErrPathInUse", err)
	}
	// A path the Go API holds is refused the same way, and freed by Close.
	st, err := srv.Publish("/go", f)
	if err != nil {
		t.Fatal(err)
	}
	_, err = publisher.Dial(ctx, addr, "/go", publisherFormat(f))
	if !errors.As(err, &e) || e.Code != publisher.CodePathInUse || e.Message != "path /go already has a producer (from the Go API)" {
		t.Fatalf("Dial on a path of the Go API: %v", err)
	}
	st.Close()
	first.Close()
	for _, path := range []string{"/cam", "/go"} {
		dialPublisher(t, addr, path, f)
	}
}

// TestIngestViewerSeesNewProducerAfterReconnect: a producer leaves and
// another publishes the path; a viewer that stayed connected gets the new
// producer's frames without reconnecting.
func TestIngestViewerSeesNewProducerAfterReconnect(t *testing.T) {
	const w, h = 320, 240
	srv := newServer(t, framecast.Config{})
	addr := listenIngestTCP(t, srv)
	f := framecast.Format{PixelFormat: framecast.BGR24, Width: w, Height: h, FPS: 30}
	a := dialPublisher(t, addr, "/cam", f)
	pa := push(t, a, 30, 100, stampedBGR(w, h))
	dec := testkit.FFmpeg(t, url(srv, "/cam"), "tcp", "gray", w, h)
	waitNumber(t, dec, w, h, 10*time.Second, func(n uint32) bool { return n >= 110 && n < 1000 })
	pa.stop()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// The server lets the path go after the connection ends: wait for that,
	// or the new producer may still find the path in use.
	waitFor(t, 10*time.Second, "/cam without a producer", func() bool {
		for _, in := range srv.Streams() {
			if in.Path == "/cam" && in.Producer != "" {
				return false
			}
		}
		return true
	})
	b := dialPublisher(t, addr, "/cam", f)
	push(t, b, 30, 1000, stampedBGR(w, h))
	n := waitNumber(t, dec, w, h, 10*time.Second, func(n uint32) bool { return n >= 1000 })
	for range 10 {
		m := numberOf(dec.Next(t, 5*time.Second), w, h)
		if m <= n || m > n+20 {
			t.Fatalf("after frame %d of the new producer came %d", n, m)
		}
		n = m
	}
}

// TestIngestUnixSocketWorksWithMode0660 publishes over a Unix socket,
// created with mode 0660 and removed when the server closes.
func TestIngestUnixSocketWorksWithMode0660(t *testing.T) {
	const w, h = 320, 240
	srv := newServer(t, framecast.Config{})
	sock := filepath.Join(shortTempDir(t), "ingest.sock")
	addr, err := srv.ListenIngest("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	if addr.String() != sock {
		t.Errorf("ListenIngest returned %q, want %q", addr, sock)
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&fs.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v, want a socket with mode 0660", fi.Mode())
	}
	pub := dialPublisher(t, "unix://"+sock, "/cam", framecast.Format{PixelFormat: framecast.BGR24, Width: w, Height: h, FPS: 30})
	push(t, pub, 30, 0, stampedBGR(w, h))
	dec := testkit.FFmpeg(t, url(srv, "/cam"), "tcp", "gray", w, h)
	prev := numberOf(dec.Next(t, 10*time.Second), w, h)
	for range 10 {
		n := numberOf(dec.Next(t, 5*time.Second), w, h)
		if n != prev+1 {
			t.Fatalf("frame %d after %d", n, prev)
		}
		prev = n
	}
	srv.Close()
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket file after Close: %v, want it removed", err)
	}
}

// TestListenIngestReplacesAStaleSocketButNothingElse: a socket file left by
// a crash is replaced; a live socket or another kind of file is an error.
func TestListenIngestReplacesAStaleSocketButNothingElse(t *testing.T) {
	dir := shortTempDir(t)
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	srv := newServer(t, framecast.Config{})
	if _, err := srv.ListenIngest("unix://" + stale); err != nil {
		t.Fatalf("ListenIngest on a stale socket: %v", err)
	}
	other := newServer(t, framecast.Config{})
	if _, err := other.ListenIngest("unix://" + stale); err == nil || !strings.Contains(err.Error(), "another server is listening on "+stale) {
		t.Errorf("ListenIngest on a live socket: %v", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("keep me"), 0o644)
	if _, err := srv.ListenIngest("unix://" + file); err == nil || !strings.Contains(err.Error(), file+" exists and is not a socket") {
		t.Errorf("ListenIngest on a regular file: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Error("ListenIngest changed a regular file")
	}
}

func TestListenIngestRejectsUnknownAddresses(t *testing.T) {
	srv := newServer(t, framecast.Config{})
	for _, a := range []string{"127.0.0.1:8555", "http://127.0.0.1:8555", "tcp://127.0.0.1", "unix://", "unix://relative.sock", ""} {
		_, err := srv.ListenIngest(a)
		want := fmt.Sprintf("ingest address %q: want tcp://HOST:PORT or unix:///PATH", a)
		if err == nil || err.Error() != want {
			t.Errorf("ListenIngest(%q) = %v, want %q", a, err, want)
		}
	}
	if _, err := srv.ListenIngest("tcp://127.0.0.1:99999"); err == nil || !strings.HasPrefix(err.Error(), "ingest tcp://127.0.0.1:99999: ") {
		t.Errorf("ListenIngest on a bad port: %v", err)
	}
	srv.Close()
	if _, err := srv.ListenIngest("tcp://127.0.0.1:0"); !errors.Is(err, framecast.ErrServerClosed) {
		t.Errorf("ListenIngest after Close: %v, want ErrServerClosed", err)
	}
}

// TestServerCloseTellsProducersAndDoesNotWaitForThem: Close sends every
// producer a shutting-down ERROR and returns promptly, even with a producer
// stuck in the middle of a message and one that never reads.
func TestServerCloseTellsProducersAndDoesNotWaitForThem(t *testing.T) {
	srv := newServer(t, framecast.Config{})
	addr := listenIngestTCP(t, srv)
	f := framecast.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48}
	pub := dialPublisher(t, addr, "/cam", f)
	half := dialRaw(t, addr)
	half.send(t, wireHello("/half"))
	if e := half.next(t); e != nil {
		t.Fatal(e)
	}
	half.send(t, wireFrame(1000)[:100]) // a frame header and part of its payload
	// mute never reads: frames before any format make the server answer
	// until its socket buffer is full and it blocks writing.
	mute := dialRaw(t, addr)
	mute.send(t, wireHello("/mute"))
	mute.c.SetWriteDeadline(time.Now().Add(time.Second))
	mute.c.Write(bytes.Repeat(wireFrame(5), 200000))
	start := time.Now()
	srv.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if e := half.next(t); e == nil || e.Code != ingest.CodeShuttingDown || !e.Fatal {
		t.Errorf("producer in the middle of a message got %v, want shutting-down", e)
	}
	half.closedByServer(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := pub.WriteFrame(make([]byte, f.FrameSize()))
		var e *publisher.Error
		if errors.As(err, &e) && e.Code == publisher.CodeShuttingDown && e.Fatal {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("WriteFrame after the server closed: %v, want shutting-down", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkIngest1080p publishes 1920x1080 bgr24 frames as fast as the
// server takes them, over loopback TCP and a Unix socket, and, for
// comparison, through the Go API without a socket. In the "convert" rows the
// server converts every frame (AlwaysEncode) and encodes what the encoder
// keeps up with, dropping the rest; in the "read" rows nobody watches, so
// the server only reads each frame and checks its size: what the socket
// path costs by itself. allocs/op counts the whole process, encoder
// included; the read rows show the socket path allocates nothing.
func BenchmarkIngest1080p(b *testing.B) {
	const w, h = 1920, 1080
	f := framecast.Format{PixelFormat: framecast.BGR24, Width: w, Height: h, FPS: 30}
	frame := make([]byte, f.FrameSize())
	testsrc.New(w, h).Draw(frame, 0, time.Now())
	for _, work := range []string{"convert", "read"} {
		for _, kind := range []string{"tcp", "unix", "go-api"} {
			b.Run(work+"/"+kind, func(b *testing.B) {
				rtp, rtcp := testkit.UDPPair(b)
				srv, err := framecast.NewServer(framecast.Config{RTSPAddress: "127.0.0.1:0", UDPRTPAddress: rtp,
					UDPRTCPAddress: rtcp, AlwaysEncode: work == "convert", StatusInterval: -1,
					Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { srv.Close() })
				var write func([]byte) error
				var done func() error // returns when the server has taken every frame
				switch kind {
				case "go-api":
					st, err := srv.Publish("/cam", f)
					if err != nil {
						b.Fatal(err)
					}
					write, done = st.WriteFrame, st.Close
				case "tcp", "unix":
					address := "unix://" + filepath.Join(shortTempDir(b), "ingest.sock")
					if kind == "tcp" {
						address = listenIngestTCP(b, srv)
					} else if _, err := srv.ListenIngest(address); err != nil {
						b.Fatal(err)
					}
					pub := dialPublisher(b, address, "/cam", f)
					write, done = pub.WriteFrame, pub.Close
					// Warm up: the server's pixel buffer grows at the first
					// frame; the answer to a FORMAT comes after it is read.
					if err := pub.WriteFrame(frame); err != nil {
						b.Fatal(err)
					}
					if err := pub.SetFormat(publisherFormat(f)); err != nil {
						b.Fatal(err)
					}
				}
				b.SetBytes(int64(len(frame)))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if err := write(frame); err != nil {
						b.Fatal(err)
					}
				}
				if err := done(); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
			})
		}
	}
}
