package web_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/testsrc"
	"github.com/framecast/framecast/internal/web"
)

// testLogger logs to the test output with -v, and nowhere otherwise.
func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newFramecast starts a framecast server on free loopback ports, closed
// when the test ends.
func newFramecast(t *testing.T, cfg framecast.Config) *framecast.Server {
	t.Helper()
	cfg.RTSPAddress = "127.0.0.1:0"
	cfg.UDPRTPAddress, cfg.UDPRTCPAddress = testkit.UDPPair(t)
	cfg.Logger = testLogger()
	srv, err := framecast.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// newWeb serves srv over HTTP on a free loopback port until the test ends;
// it returns the server and its base URL (http://127.0.0.1:port).
func newWeb(t *testing.T, srv *framecast.Server) (*web.Server, string) {
	t.Helper()
	return newWebWith(t, srv, web.Options{})
}

// newWebWith is newWeb with options.
func newWebWith(t *testing.T, srv *framecast.Server, opts web.Options) (*web.Server, string) {
	t.Helper()
	opts.Logger = testLogger()
	ws, err := web.New(srv, opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- ws.Serve(ln) }()
	t.Cleanup(func() {
		if err := ws.Close(); err != nil {
			t.Errorf("web Close: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("web Serve: %v", err)
		}
	})
	return ws, "http://" + ln.Addr().String()
}

// drawn records when each frame of a test pattern was written.
type drawn struct {
	mu    sync.Mutex
	times map[uint32]time.Time
}

// at is when frame n was written.
func (d *drawn) at(n uint32) (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.times[n]
	return t, ok
}

// servePattern publishes the test pattern on path at fps until the test
// ends, and records when each frame was written.
func servePattern(t *testing.T, srv *framecast.Server, path string, w, h int, fps float64) *drawn {
	t.Helper()
	st, err := srv.Publish(path, framecast.Format{PixelFormat: framecast.BGR24, Width: w, Height: h, FPS: fps})
	if err != nil {
		t.Fatal(err)
	}
	d := &drawn{times: make(map[uint32]time.Time)}
	t.Cleanup(func() { st.Close() }) // after the writer stops: cleanups run last first
	p := testsrc.New(w, h)
	buf := make([]byte, p.FrameSize())
	var n uint32
	testkit.Every(t, time.Duration(float64(time.Second)/fps), func() error {
		now := time.Now()
		p.Draw(buf, n, now)
		d.mu.Lock()
		d.times[n&(1<<testsrc.StampBits-1)] = now
		d.mu.Unlock()
		n++
		return st.WriteFrame(buf)
	})
	return d
}

// get fetches url and returns the response and its body.
func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return res, b
}
