package hls

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/x264"
)

// TestMain fails the package when its tests leave goroutines running.
func TestMain(m *testing.M) { testkit.LeakCheck(m) }

// testLogger logs to the test output with -v, and nowhere otherwise.
func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// fakeStream is a stream encoded by x264 at 30 fps on path, a Source for
// a Server: a new sink gets an IDR at once, as framecast's do.
type fakeStream struct {
	t    *testing.T
	path string

	mu     sync.Mutex
	enc    *x264.Encoder
	w, h   int
	sinks  map[int]Sink
	nextID int
	force  bool
	n      int64
	paused atomic.Bool
}

func newFakeStream(t *testing.T, path string, w, h int) *fakeStream {
	f := &fakeStream{t: t, path: path, sinks: make(map[int]Sink)}
	f.resize(w, h)
	t.Cleanup(func() {
		f.mu.Lock()
		f.enc.Close()
		f.mu.Unlock()
	})
	testkit.Every(t, time.Second/30, func() error {
		if !f.paused.Load() {
			f.frame()
		}
		return nil
	})
	return f
}

// resize encodes at w x h from the next frame on: a new SPS.
func (f *fakeStream) resize(w, h int) {
	enc, err := x264.Open(x264.Params{Width: w, Height: h, FPSNum: 30, GOP: 60})
	if err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.enc != nil {
		f.enc.Close()
	}
	f.enc, f.w, f.h, f.force = enc, w, h, true
}

func (f *fakeStream) frame() {
	f.mu.Lock()
	defer f.mu.Unlock()
	y := make([]byte, f.w*f.h)
	for i := range y {
		y[i] = byte(f.n * 4)
	}
	c := make([]byte, (f.w/2)*(f.h/2))
	for i := range c {
		c[i] = 128
	}
	pic := &x264.Picture{Y: y, U: c, V: c, StrideY: f.w, StrideU: f.w / 2, StrideV: f.w / 2}
	pts := time.Duration(f.n) * time.Second / 30
	au, _, err := f.enc.Encode(pic, f.n*3000, f.force)
	f.n++
	f.force = false
	if err != nil {
		f.t.Error(err)
		return
	}
	for _, s := range f.sinks {
		s(au, pts, time.Now())
	}
}

func (f *fakeStream) source(path string, sink Sink) (func(), error) {
	if path != f.path {
		return nil, errors.New("no stream")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.nextID
	f.nextID++
	f.sinks[id] = sink
	f.force = true
	return func() {
		f.mu.Lock()
		delete(f.sinks, id)
		f.mu.Unlock()
	}, nil
}

func (f *fakeStream) sinkCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sinks)
}

// serve serves s over HTTP on loopback until the test ends, the stream
// path being the URL's path before its last element.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := strings.LastIndexByte(r.URL.Path, '/')
		s.ServeHTTP(w, r, r.URL.Path[:i])
	}))
	t.Cleanup(func() { s.Close(); hs.Close() })
	return hs.URL
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPlaylistNamesPartsAndSegments: the first playlist request opens a
// muxer and waits for its first segment; the media playlist has LL-HLS
// parts and plain segments; unknown files are 404, gaps empty.
func TestPlaylistNamesPartsAndSegments(t *testing.T) {
	f := newFakeStream(t, "/cam", 160, 120)
	s := New(f.source, Config{Logger: testLogger()})
	base := serve(t, s)

	code, body := get(t, base+"/cam/index.m3u8")
	if code != http.StatusOK || !strings.Contains(body, "RESOLUTION=160x120") {
		t.Fatalf("GET /cam/index.m3u8: %d %q", code, body)
	}
	code, pl := get(t, base+"/cam/"+lastLine(body))
	for _, want := range []string{"#EXT-X-PART:", "#EXTINF:", "#EXT-X-PRELOAD-HINT:", "#EXT-X-GAP"} {
		if code != http.StatusOK || !strings.Contains(pl, want) {
			t.Errorf("media playlist: %d, no %s:\n%s", code, want, pl)
		}
	}
	for _, c := range []struct {
		path string
		code int
	}{
		{"/cam/gap.mp4", http.StatusOK},
		{"/cam/nothing.mp4", http.StatusNotFound},
		{"/cam/1234_video1_seg1.mp4", http.StatusNotFound},
		{"/other/x_video1_seg7.mp4", http.StatusNotFound}, // no muxer: none opened
		{"/other/index.m3u8", http.StatusNotFound},        // no stream
	} {
		if code, body := get(t, base+c.path); code != c.code {
			t.Errorf("GET %s: %d %q, want %d", c.path, code, body, c.code)
		}
	}
	res, err := http.Post(base+"/cam/index.m3u8", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /cam/index.m3u8: %s, want 405", res.Status)
	}
	if st := s.Stats(); st.Open != 1 || st.Opened != 1 {
		t.Errorf("stats %+v, want one muxer open", st)
	}
}

// TestIdleMuxerLetsGoOfItsStream: a muxer without requests for
// IdleTimeout closes, detaches its sink and stops its goroutine; the next
// playlist request opens a new one.
func TestIdleMuxerLetsGoOfItsStream(t *testing.T) {
	f := newFakeStream(t, "/cam", 160, 120)
	s := New(f.source, Config{IdleTimeout: 300 * time.Millisecond, Logger: testLogger()})
	base := serve(t, s)
	if code, body := get(t, base+"/cam/index.m3u8"); code != http.StatusOK {
		t.Fatalf("GET /cam/index.m3u8: %d %q", code, body)
	}
	waitFor(t, 10*time.Second, "the idle muxer closes", func() bool { return s.Stats().Open == 0 })
	waitFor(t, 5*time.Second, "the idle muxer's sink is removed", func() bool { return f.sinkCount() == 0 })
	s.mu.Lock()
	n := len(s.muxers)
	s.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d muxers still held after the idle close", n)
	}
	// The muxer's goroutine has stopped: Close waits for nothing more.
	if code, body := get(t, base+"/cam/index.m3u8"); code != http.StatusOK {
		t.Fatalf("GET /cam/index.m3u8 after the idle close: %d %q", code, body)
	}
	if st := s.Stats(); st.Opened != 2 || st.Open != 1 {
		t.Errorf("stats %+v, want a second muxer opened", st)
	}
}

// TestMuxersBeyondMaxMuxersAreRefused: a playlist request that would open
// one muxer more than MaxMuxers is 503 and counted.
func TestMuxersBeyondMaxMuxersAreRefused(t *testing.T) {
	a := newFakeStream(t, "/a", 160, 120)
	b := newFakeStream(t, "/b", 160, 120)
	src := func(path string, sink Sink) (func(), error) {
		if path == "/b" {
			return b.source(path, sink)
		}
		return a.source(path, sink)
	}
	s := New(src, Config{MaxMuxers: 1, Logger: testLogger()})
	base := serve(t, s)
	if code, body := get(t, base+"/a/index.m3u8"); code != http.StatusOK {
		t.Fatalf("GET /a/index.m3u8: %d %q", code, body)
	}
	if code, body := get(t, base+"/b/index.m3u8"); code != http.StatusServiceUnavailable {
		t.Fatalf("GET /b/index.m3u8 beyond MaxMuxers 1: %d %q, want 503", code, body)
	}
	if st := s.Stats(); st.Refused != 1 || st.Open != 1 {
		t.Errorf("stats %+v, want 1 refused, 1 open", st)
	}
	if b.sinkCount() != 0 {
		t.Error("the refused request attached a sink")
	}
	s.Drop("/a")
	waitFor(t, 5*time.Second, "the dropped muxer closes", func() bool { return s.Stats().Open == 0 })
	if code, body := get(t, base+"/b/index.m3u8"); code != http.StatusOK {
		t.Fatalf("GET /b/index.m3u8 after /a was dropped: %d %q", code, body)
	}
}

// TestNewFormatOpensANewSession: new parameter sets (the path published
// again at another size) close the muxer; the next playlist is a new
// session of the new size, with new file names.
func TestNewFormatOpensANewSession(t *testing.T) {
	f := newFakeStream(t, "/cam", 160, 120)
	s := New(f.source, Config{Logger: testLogger()})
	base := serve(t, s)
	code, body := get(t, base+"/cam/index.m3u8")
	if code != http.StatusOK {
		t.Fatalf("GET /cam/index.m3u8: %d %q", code, body)
	}
	_, pl := get(t, base+"/cam/"+lastLine(body))
	prefix := regexp.MustCompile(`URI="([0-9a-f]+)_`).FindStringSubmatch(pl)
	f.resize(320, 240)
	waitFor(t, 10*time.Second, "the muxer closes at the new format", func() bool { return s.Stats().Open == 0 })
	code, body = get(t, base+"/cam/index.m3u8")
	if code != http.StatusOK || !strings.Contains(body, "RESOLUTION=320x240") {
		t.Fatalf("GET /cam/index.m3u8 after the new format: %d %q, want 320x240", code, body)
	}
	_, pl2 := get(t, base+"/cam/"+lastLine(body))
	if prefix == nil || strings.Contains(pl2, prefix[1]) {
		t.Errorf("the new session reuses the old file names (%v):\n%s", prefix, pl2)
	}
}

// TestCloseAnswersWaitingRequests: a blocking reload waiting for a part
// of a stalled stream is answered when the server closes, and Close
// returns.
func TestCloseAnswersWaitingRequests(t *testing.T) {
	f := newFakeStream(t, "/cam", 160, 120)
	s := New(f.source, Config{Logger: testLogger()})
	base := serve(t, s)
	code, body := get(t, base+"/cam/index.m3u8")
	if code != http.StatusOK {
		t.Fatalf("GET /cam/index.m3u8: %d %q", code, body)
	}
	media := lastLine(body)
	f.paused.Store(true)
	_, pl := get(t, base+"/cam/"+media)
	var seq int
	fmt.Sscan(regexp.MustCompile(`#EXT-X-MEDIA-SEQUENCE:(\d+)`).FindStringSubmatch(pl)[1], &seq)
	// The segment after the one being written: it will not come.
	next := seq + strings.Count(pl, "#EXTINF:") + 1
	answered := make(chan int, 1)
	go func() {
		res, err := http.Get(fmt.Sprintf("%s/cam/%s?_HLS_msn=%d&_HLS_part=0", base, media, next))
		if err != nil {
			answered <- -1
			return
		}
		res.Body.Close()
		answered <- res.StatusCode
	}()
	s.mu.Lock()
	m := s.muxers["/cam"]
	s.mu.Unlock()
	waitFor(t, 10*time.Second, "the reload reaches the muxer", func() bool { return m.inflight.Load() > 0 })
	select {
	case code := <-answered:
		t.Fatalf("the reload for segment %d of a stalled stream was answered %d at once", next, code)
	case <-time.After(300 * time.Millisecond):
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10 s with a reload waiting")
	}
	select {
	case <-answered:
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting reload was not answered within 10 s of Close")
	}
	if code, _ := get(t, base+"/cam/index.m3u8"); code != http.StatusServiceUnavailable {
		t.Errorf("GET /cam/index.m3u8 after Close: %d, want 503", code)
	}
}

// TestFullQueueDropsUntilTheNextIDR: a muxer that falls behind loses the
// access unit that did not fit and the P-frames after it, counts it in its
// log and the server's stats, asks for an IDR, and starts again at one.
func TestFullQueueDropsUntilTheNextIDR(t *testing.T) {
	s := New(nil, Config{QueueLen: 2})
	m := newMuxer(s, "/x")
	sps, pps, idr, slice := []byte{0x67, 1}, []byte{0x68, 2}, []byte{0x65, 3}, []byte{0x41, 4}
	m.queue.Push([][]byte{slice}, 0, time.Time{}) // before any IDR: skipped
	if len(m.queue.Units()) != 0 {
		t.Fatal("a P-frame before the first IDR was queued")
	}
	m.queue.Push([][]byte{sps, pps, idr}, time.Second, time.Time{})
	m.queue.Push([][]byte{slice}, 2*time.Second, time.Time{})
	m.queue.Push([][]byte{slice}, 3*time.Second, time.Time{}) // full: dropped
	m.queue.Push([][]byte{slice}, 4*time.Second, time.Time{}) // undecodable: skipped
	if m.queue.Dropped() != 1 || s.Stats().Dropped != 1 || len(m.queue.Wanted()) != 1 {
		t.Fatalf("dropped %d (server %d), IDR wanted %d times; want 1, 1, 1", m.queue.Dropped(), s.Stats().Dropped, len(m.queue.Wanted()))
	}
	first := <-m.queue.Units()
	if len(first.NALUs) != 3 || string(first.NALUs[2]) != string(idr) || first.PTS != time.Second {
		t.Fatalf("first queued access unit %x at %v, want SPS, PPS, IDR at 1 s", first.NALUs, first.PTS)
	}
	<-m.queue.Units()
	m.queue.Push([][]byte{slice}, 5*time.Second, time.Time{})
	m.queue.Push([][]byte{sps, pps, idr}, 6*time.Second, time.Time{})
	if u := <-m.queue.Units(); u.PTS != 6*time.Second {
		t.Fatalf("after a drop the muxer starts again at %v, want the IDR at 6 s", u.PTS)
	}
}

func TestIsFile(t *testing.T) {
	for _, c := range []struct {
		name string
		want bool
	}{
		{"index.m3u8", true}, {"video1_stream.m3u8", true}, {"abc_video1_init.mp4", true},
		{"abc_video1_seg7.mp4", true}, {"abc_video1_part3.mp4", true}, {"gap.mp4", true},
		{"", false}, {"snapshot.jpg", false}, {"whep", false}, {"a/index.m3u8", false}, {"m3u8", false},
	} {
		if got := IsFile(c.name); got != c.want {
			t.Errorf("IsFile(%q) = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestClockPutsJitteredTimesOnTheFrameGrid: times within a quarter frame
// of the nominal rate's grid are put on it, others kept; ticks always
// increase.
func TestClockPutsJitteredTimesOnTheFrameGrid(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		name string
		fps  float64
		pts  []time.Duration
		want []int64
	}{
		{"no rate", 0, []time.Duration{0, 34 * ms, 66 * ms}, []int64{0, 3060, 5940}},
		{"jitter", 30, []time.Duration{0, 35 * ms, 65 * ms, 101 * ms}, []int64{0, 3000, 6000, 9000}},
		{"a late frame", 30, []time.Duration{0, 50 * ms, 67 * ms}, []int64{0, 4500, 6000}},
		{"a gap", 30, []time.Duration{0, 200 * ms}, []int64{0, 18000}},
		{"two on one slot", 30, []time.Duration{33 * ms, 34 * ms}, []int64{3000, 3001}},
		{"29.97", 30000.0 / 1001, []time.Duration{0, 33 * ms, 67 * ms}, []int64{0, 3003, 6006}},
	} {
		clk := clock{fps: c.fps}
		var got []int64
		for _, p := range c.pts {
			got = append(got, clk.ticks(p))
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: ticks %v, want %v", c.name, got, c.want)
		}
	}
}
