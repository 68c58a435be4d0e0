package framecast_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testkit"
)

func TestSnapshotWithoutViewersConvertsTheNextFrame(t *testing.T) {
	srv := newServer(t, framecast.Config{})
	st, err := srv.Publish("/cam", framecast.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // after the writer stops: cleanups run last first
	frame := make([]byte, 64*48)
	for i := range frame {
		frame[i] = 200
	}
	writeUntil(t, func() error { return st.WriteFrame(frame) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	img, err := srv.Snapshot(ctx, "/cam")
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 64 || b.Dy() != 48 || img.Y[10*img.YStride+10] != 200 || img.Cb[0] != 128 {
		t.Fatalf("snapshot %v: Y %d Cb %d, want 64x48, Y 200, Cb 128", b, img.Y[10*img.YStride+10], img.Cb[0])
	}
	if _, err := srv.Snapshot(ctx, "/nothing"); err == nil {
		t.Fatal("snapshot of an unknown path: want an error")
	}
}

func TestStreamsDescribesPathsProducersAndViewers(t *testing.T) {
	const w, h = 320, 240
	srv := newServer(t, framecast.Config{})
	servePattern(t, srv, "/test", w, h, 30)
	dec := testkit.FFmpeg(t, url(srv, "/test"), "tcp", "gray", w, h)
	dec.Next(t, 10*time.Second)
	infos := srv.Streams()
	if len(infos) != 1 {
		t.Fatalf("Streams() = %+v, want one", infos)
	}
	in := infos[0]
	if in.Path != "/test" || in.Producer != "the Go API" || in.Format.Width != w || len(in.Viewers) != 1 ||
		in.Viewers[0].Transport != "TCP" || in.Viewers[0].BytesSent == 0 || in.Stats.FramesEncoded == 0 {
		t.Fatalf("Streams() = %+v", in)
	}
}

// TestSinkGetsAnIDRFirstAndIncreasingTimestamps is what a browser preview
// or a push to another server relies on.
func TestSinkGetsAnIDRFirstAndIncreasingTimestamps(t *testing.T) {
	srv := newServer(t, framecast.Config{Encoder: framecast.EncoderConfig{GOP: 1000}})
	st := servePattern(t, srv, "/test", 320, 240, 30)
	var mu sync.Mutex
	var types [][]byte
	var pts []time.Duration
	remove, err := srv.AddSink("/test", func(au [][]byte, p time.Duration, _ time.Time) {
		mu.Lock()
		defer mu.Unlock()
		var ty []byte
		for _, n := range au {
			ty = append(ty, n[0]&0x1f)
		}
		types = append(types, ty)
		pts = append(pts, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	got := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(types)
	}
	waitFor(t, 10*time.Second, "20 access units at the sink", func() bool { return got() >= 20 })
	remove()
	// The sink is called under the mount's lock that remove takes: from
	// here on it must not be called. Frames the encoder handles after
	// remove (encoded or skipped) are what must come before the check.
	n := got()
	handled := func() uint64 { s := st.Stats(); return s.FramesEncoded + s.Skipped + s.Dropped }
	h := handled()
	waitFor(t, 10*time.Second, "3 frames handled after remove", func() bool { return handled() >= h+3 })
	if got() != n {
		t.Fatal("sink still called after remove")
	}
	mu.Lock()
	defer mu.Unlock()
	if first := types[0]; len(first) < 3 || first[0] != 7 || first[1] != 8 || first[2] != 5 {
		t.Fatalf("first access unit has NAL types %v, want SPS, PPS, IDR", first)
	}
	for i := 1; i < len(pts); i++ {
		if pts[i] <= pts[i-1] {
			t.Fatalf("sink pts went from %v to %v", pts[i-1], pts[i])
		}
	}
}

func TestStatsCountRefusedFramesAndEncodeTime(t *testing.T) {
	srv := newServer(t, framecast.Config{AlwaysEncode: true})
	st, err := srv.Publish("/cam", framecast.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48})
	if err != nil {
		t.Fatal(err)
	}
	st.WriteFrame(make([]byte, 10))
	for range 5 {
		if err := st.WriteFrame(make([]byte, 64*48)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // paces the producer: not a wait for the encoder
	}
	st.Close()
	s := st.Stats()
	if s.Refused != 1 || s.EncodeTime.Count != s.FramesEncoded || s.EncodeTime.Count == 0 || s.EncodeTime.Sum <= 0 {
		t.Fatalf("stats %+v: want 1 refused and one encode time per encoded frame", s)
	}
	if last := s.EncodeTime.Counts[len(s.EncodeTime.Counts)-1]; last != s.EncodeTime.Count {
		t.Errorf("64x48 frames took over %v to encode: %+v", s.EncodeTime.Bounds[len(s.EncodeTime.Bounds)-1], s.EncodeTime)
	}
}

func TestRequestIDRAndCheckRead(t *testing.T) {
	srv := newServer(t, framecast.Config{Auth: []framecast.PathAuth{
		{Path: "/private", Read: []framecast.Credentials{{User: "u", Pass: "sha256:" + "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"}}}, // "password"
	}})
	if !srv.CheckRead("/open", "", "") || srv.CheckRead("/private", "", "") ||
		srv.CheckRead("/private", "u", "wrong") || !srv.CheckRead("/private", "u", "password") {
		t.Fatal("CheckRead does not follow Config.Auth")
	}
	if err := srv.RequestIDR("/nothing"); err == nil {
		t.Fatal("RequestIDR of an unknown path: want an error")
	}
}
