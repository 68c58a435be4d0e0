package framecast_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/publisher"
)

// grayFrame is a w×h gray frame of value v.
func grayFrame(w, h int, v byte) []byte {
	b := make([]byte, w*h)
	for i := range b {
		b[i] = v
	}
	return b
}

// checkGray fails unless the decoded gray frame is v (±12) at its centre.
func checkGray(t *testing.T, frame []byte, w, h int, v byte) {
	t.Helper()
	if got := frame[(h/2)*w+w/2]; int(got) < int(v)-12 || int(got) > int(v)+12 {
		t.Fatalf("decoded picture is %d at its centre, want %d (the last frame written)", got, v)
	}
}

// A producer that wrote frames while nobody watched and then paused (its
// connection open, nothing sent): a viewer joining later gets the last
// frame at once, through the Go API and through a socket producer alike.
func TestViewerOfPausedProducerGetsTheLastPicture(t *testing.T) {
	const w, h = 160, 120
	srv := newServer(t, framecast.Config{StatusInterval: -1})
	ingestAddr, err := srv.ListenIngest("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := framecast.Format{PixelFormat: framecast.Gray, Width: w, Height: h, FPS: 30}
	st, err := srv.Publish("/api", f)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pub, err := publisher.Dial(ctx, "tcp://"+ingestAddr.String(), "/sock", publisherFormat(f))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	for i := range 30 {
		if err := st.WriteFrame(grayFrame(w, h, byte(100+i))); err != nil {
			t.Fatal(err)
		}
		if err := pub.WriteFrame(grayFrame(w, h, byte(150+i))); err != nil {
			t.Fatal(err)
		}
	}
	// Every frame reached the socket stream (its counters say so), none was
	// encoded: nobody watched.
	waitFor(t, 10*time.Second, "the socket producer's 30 frames", func() bool {
		for _, in := range srv.Streams() {
			if in.Path == "/sock" && in.Stats.FramesIn == 30 {
				return true
			}
		}
		return false
	})
	for _, in := range srv.Streams() {
		if in.Stats.FramesEncoded != 0 {
			t.Fatalf("%s: %d frames encoded with nobody watching", in.Path, in.Stats.FramesEncoded)
		}
	}
	for path, want := range map[string]byte{"/api": 129, "/sock": 179} {
		v := testkit.FFmpeg(t, url(srv, path), "tcp", "gray", w, h)
		checkGray(t, v.Next(t, 12*time.Second), w, h, want)
		v.Stop()
		snapCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		img, err := srv.Snapshot(snapCtx, path)
		cancel()
		if err != nil {
			t.Fatalf("snapshot of paused %s: %v", path, err)
		}
		if y := img.Y[(h/2)*img.YStride+w/2]; int(y) < int(want)-2 || int(y) > int(want)+2 {
			t.Fatalf("snapshot of paused %s: Y %d, want %d", path, y, want)
		}
	}
}

// A path whose producer left lingers, repeating its last picture to a viewer
// that joins then; after the linger it is removed: the viewer is
// disconnected, the API forgets it, RTSP answers 404, and a producer may
// publish it again.
func TestPathLingersThenIsRemoved(t *testing.T) {
	const w, h = 160, 120
	const linger = 2 * time.Second
	srv := newServer(t, framecast.Config{StatusInterval: -1, Linger: linger})
	f := framecast.Format{PixelFormat: framecast.Gray, Width: w, Height: h, FPS: 30}
	st, err := srv.Publish("/gone", f)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := st.WriteFrame(grayFrame(w, h, 60)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	left := time.Now()
	if got := srv.Streams(); len(got) != 1 || got[0].Producer != "" {
		t.Fatalf("a lingering path: Streams() = %+v, want /gone without a producer", got)
	}
	v := testkit.FFmpeg(t, url(srv, "/gone"), "tcp", "gray", w, h)
	checkGray(t, v.Next(t, 10*time.Second), w, h, 60)
	if !v.Ended(linger + 15*time.Second) {
		t.Fatalf("the viewer of a removed path is still connected after the linger")
	}
	if d := time.Since(left); d < linger {
		t.Fatalf("the path was removed %v after its producer left, linger is %v", d, linger)
	}
	waitFor(t, 5*time.Second, "the path's removal from Streams", func() bool { return len(srv.Streams()) == 0 })
	pu, err := base.ParseURL(url(srv, "/gone"))
	if err != nil {
		t.Fatal(err)
	}
	c := &gortsplib.Client{Scheme: pu.Scheme, Host: pu.Host}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Describe(pu)
	c.Close()
	var bad liberrors.ErrClientBadStatusCode
	if !errors.As(err, &bad) || bad.Code != base.StatusNotFound {
		t.Fatalf("DESCRIBE of a removed path: %v, want 404", err)
	}
	if _, err := srv.Snapshot(context.Background(), "/gone"); !errors.Is(err, framecast.ErrNoStream) {
		t.Fatalf("snapshot of a removed path: %v, want ErrNoStream", err)
	}
	// Published again, it serves its new producer.
	st = servePatternGray(t, srv, "/gone", w, h, 90)
	v = testkit.FFmpeg(t, url(srv, "/gone"), "tcp", "gray", w, h)
	checkGray(t, v.Next(t, 10*time.Second), w, h, 90)
}

// servePatternGray publishes a gray frame of value v every 50 ms until the
// test ends.
func servePatternGray(t *testing.T, srv *framecast.Server, path string, w, h int, v byte) *framecast.Stream {
	t.Helper()
	st, err := srv.Publish(path, framecast.Format{PixelFormat: framecast.Gray, Width: w, Height: h, FPS: 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	frame := grayFrame(w, h, v)
	testkit.Every(t, 50*time.Millisecond, func() error { return st.WriteFrame(frame) })
	return st
}

// A producer back within the linger keeps the viewers of its path.
func TestProducerBackWithinLingerKeepsViewers(t *testing.T) {
	const w, h = 160, 120
	srv := newServer(t, framecast.Config{StatusInterval: -1, Linger: time.Minute})
	st, err := srv.Publish("/cam", framecast.Format{PixelFormat: framecast.Gray, Width: w, Height: h, FPS: 20})
	if err != nil {
		t.Fatal(err)
	}
	frame := grayFrame(w, h, 40)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			st.WriteFrame(frame)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	v := testkit.FFmpeg(t, url(srv, "/cam"), "tcp", "gray", w, h)
	checkGray(t, v.Next(t, 10*time.Second), w, h, 40)
	close(stop)
	<-done
	st.Close()
	servePatternGray(t, srv, "/cam", w, h, 200)
	deadline := time.Now().Add(15 * time.Second)
	for {
		fr := v.Next(t, 10*time.Second)
		if c := fr[(h/2)*w+w/2]; c > 180 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the viewer never got the new producer's frames")
		}
	}
}

// Paths in KeepPaths stay after their producer left.
func TestKeptPathIsNeverRemoved(t *testing.T) {
	srv := newServer(t, framecast.Config{StatusInterval: -1, Linger: -1, KeepPaths: []string{"/kept"}})
	f := framecast.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48}
	for _, p := range []string{"/kept", "/other"} {
		st, err := srv.Publish(p, f)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.Streams(); len(got) != 1 || got[0].Path != "/kept" {
		t.Fatalf("Streams() = %+v, want /kept only (linger < 0 removes /other at once)", got)
	}
}

// MaxProducers counts lingering paths: a new path is refused while the
// lingering one holds its place, the lingering path itself may be taken over.
func TestLingeringPathsCountAgainstMaxProducers(t *testing.T) {
	srv := newServer(t, framecast.Config{StatusInterval: -1, MaxProducers: 1, Linger: time.Minute})
	f := framecast.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48}
	st, err := srv.Publish("/a", f)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := srv.Publish("/b", f); !errors.Is(err, framecast.ErrTooManyProducers) {
		t.Fatalf("a second path beside a lingering one: %v, want ErrTooManyProducers", err)
	}
	st, err = srv.Publish("/a", f)
	if err != nil {
		t.Fatalf("taking over the lingering path: %v", err)
	}
	st.Close()
}

// A frame of the wrong size from a socket producer is refused, and counted
// in the stream's stats as the Go API's are.
func TestSocketRefusedFramesAreCounted(t *testing.T) {
	srv := newServer(t, framecast.Config{StatusInterval: -1})
	ingestAddr, err := srv.ListenIngest("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := framecast.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pub, err := publisher.Dial(ctx, "tcp://"+ingestAddr.String(), "/cam", publisherFormat(f))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	pub.WriteFrame(make([]byte, 10)) // refused by the server, answered later
	waitFor(t, 10*time.Second, "the refused frame counted", func() bool {
		in := srv.Streams()
		return len(in) == 1 && in[0].Stats.Refused == 1
	})
}

// Churn: 1000 producers on distinct paths come and go; after the linger
// every path is gone and goroutines and heap are back to their baseline.
func TestThousandDistinctPathsAreFreedAfterLinger(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 encoders opened")
	}
	const linger = 200 * time.Millisecond
	srv := newServer(t, framecast.Config{StatusInterval: -1, Linger: linger})
	ingestAddr, err := srv.ListenIngest("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := framecast.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48}
	frame := grayFrame(64, 48, 80)
	round := func(i int) {
		path := "/churn/" + itoa(i)
		if i%10 == 0 { // one in ten over the socket
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			pub, err := publisher.Dial(ctx, "tcp://"+ingestAddr.String(), path, publisherFormat(f))
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			pub.WriteFrame(frame)
			pub.Close()
			return
		}
		st, err := srv.Publish(path, f)
		if err != nil {
			t.Fatal(err)
		}
		st.WriteFrame(frame)
		st.Close()
	}
	for i := range 20 {
		round(i)
	}
	waitFor(t, 30*time.Second, "warm-up paths removed", func() bool { return len(srv.Streams()) == 0 })
	baseG, baseH := runtime.NumGoroutine(), heapInUse()
	for i := range 1000 {
		round(1000 + i)
	}
	waitFor(t, 60*time.Second, "1000 paths removed after their linger", func() bool { return len(srv.Streams()) == 0 })
	waitFor(t, 20*time.Second, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= baseG+2 })
	h := heapInUse()
	t.Logf("after 1000 paths: %d goroutines (baseline %d), heap in use %d KiB (baseline %d KiB)",
		runtime.NumGoroutine(), baseG, h>>10, baseH>>10)
	if h > baseH+8<<20 {
		t.Fatalf("heap in use grew from %d KiB to %d KiB over 1000 paths", baseH>>10, h>>10)
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{digits[i%10]}, b...)
	}
	return string(b)
}
