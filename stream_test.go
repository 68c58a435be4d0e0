package framecast_test

import (
	"errors"
	"image"
	"image/color"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testkit"
)

func TestSecondProducerOnAPathIsRefusedUntilTheFirstCloses(t *testing.T) {
	srv := newServer(t, framecast.Config{})
	f := framecast.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48}
	a, err := srv.Publish("/cam", f)
	if err != nil {
		t.Fatal(err)
	}
	_, err = srv.Publish("/cam", f)
	if !errors.Is(err, framecast.ErrPathInUse) || !strings.Contains(err.Error(), "path already has a producer (from the Go API)") {
		t.Fatalf("second Publish: %v, want ErrPathInUse naming the producer", err)
	}
	a.Close()
	b, err := srv.Publish("/cam", f)
	if err != nil {
		t.Fatalf("Publish after the first producer closed: %v", err)
	}
	b.Close()
}

func TestPublishRejectsBadFormats(t *testing.T) {
	srv := newServer(t, framecast.Config{})
	for _, tc := range []struct {
		path string
		f    framecast.Format
		want string
	}{
		{"/x", framecast.Format{PixelFormat: framecast.BGR24, Width: 641, Height: 480}, "size 641x480: width and height must be positive and even"},
		{"/x", framecast.Format{PixelFormat: 99, Width: 640, Height: 480}, "unknown pixel format"},
		{"/x", framecast.Format{PixelFormat: framecast.BGR24, Width: 640, Height: 480, Stride: 100}, "stride 100 is less than a bgr24 row of 640 pixels (1920 bytes)"},
		{"/x", framecast.Format{PixelFormat: framecast.BGR24, Width: 640, Height: 480, FPS: -1}, "frame rate -1"},
		{"cam", framecast.Format{PixelFormat: framecast.BGR24, Width: 640, Height: 480}, `path "cam" must start with /`},
		{"/x", framecast.Format{PixelFormat: framecast.BGR24, Width: 640, Height: 480, Encoder: &framecast.EncoderConfig{Preset: "warp"}}, "preset"},
	} {
		_, err := srv.Publish(tc.path, tc.f)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Publish(%q, %+v) = %v, want an error saying %q", tc.path, tc.f, err, tc.want)
		}
	}
}

// TestEncoderBehindDropsOldestFrameAndCountsIt writes 1080p frames far
// faster than x264 encodes them: the writer never waits, frames are dropped,
// and every frame is either encoded or counted as dropped.
func TestEncoderBehindDropsOldestFrameAndCountsIt(t *testing.T) {
	srv := newServer(t, framecast.Config{AlwaysEncode: true})
	st, err := srv.Publish("/fast", framecast.Format{PixelFormat: framecast.Gray, Width: 1920, Height: 1080,
		Encoder: &framecast.EncoderConfig{Preset: "medium"}})
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, 1920*1080)
	for i := range 100 {
		for j := range frame {
			frame[j] = byte(i + j*7)
		}
		if err := st.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	s := st.Stats()
	if s.FramesIn != 100 || s.FramesEncoded+s.Dropped != 100 {
		t.Fatalf("stats %+v: want 100 in, encoded + dropped = 100", s)
	}
	if s.Dropped == 0 {
		t.Fatalf("stats %+v: a writer 10x faster than the encoder must drop frames", s)
	}
}

// writeUntil calls write every 33 ms until the test ends.
func writeUntil(t *testing.T, write func() error) {
	testkit.Every(t, 33*time.Millisecond, write)
}

// TestWriteImageColoursDecode publishes image.Image values of each supported
// type and checks the colour a real decoder sees.
func TestWriteImageColoursDecode(t *testing.T) {
	const w, h = 160, 120
	rect := image.Rect(0, 0, w, h)
	rgba := image.NewRGBA(rect)
	nrgba := image.NewNRGBA(rect)
	gray := image.NewGray(rect)
	ycc := image.NewYCbCr(rect, image.YCbCrSubsampleRatio420)
	for y := range h {
		for x := range w {
			rgba.Set(x, y, color.RGBA{R: 255, A: 255})
			nrgba.Set(x, y, color.NRGBA{G: 255, A: 255})
			gray.Set(x, y, color.Gray{Y: 200})
		}
	}
	// Pure blue in BT.601 limited range.
	for i := range ycc.Y {
		ycc.Y[i] = 41
	}
	for i := range ycc.Cb {
		ycc.Cb[i], ycc.Cr[i] = 240, 110
	}
	// A sub-image of a larger picture: its rows have a stride.
	big := image.NewRGBA(image.Rect(0, 0, 2*w, 2*h))
	for y := range 2 * h {
		for x := range 2 * w {
			big.Set(x, y, color.RGBA{R: 255, G: 255, A: 255})
		}
	}
	sub := big.SubImage(image.Rect(w/2, h/2, w/2+w, h/2+h))
	srv := newServer(t, framecast.Config{})
	for _, tc := range []struct {
		name string
		img  image.Image
		bgr  [3]int
	}{
		{"rgba", rgba, [3]int{0, 0, 255}},
		{"nrgba", nrgba, [3]int{0, 255, 0}},
		{"gray", gray, [3]int{200, 200, 200}},
		{"ycbcr", ycc, [3]int{255, 0, 0}},
		{"subimage", sub, [3]int{0, 255, 255}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := srv.Publish("/"+tc.name, framecast.Format{PixelFormat: framecast.RGBA, Width: w, Height: h})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			writeUntil(t, func() error { return st.WriteImage(tc.img) })
			dec := testkit.FFmpeg(t, url(srv, "/"+tc.name), "tcp", "bgr24", w, h)
			var frame []byte
			for range 3 {
				frame = dec.Next(t, 10*time.Second)
			}
			px := frame[(h/2*w+w/2)*3:]
			for c := range 3 {
				if d := int(px[c]) - tc.bgr[c]; d < -20 || d > 20 {
					t.Fatalf("decoded B,G,R = %v, want %v ±20", px[:3], tc.bgr)
				}
			}
		})
	}
}

// TestProducerTimestampsSetPlayTiming writes frames with irregular producer
// timestamps, faster than real time: the decoder's presentation times keep
// the producer's spacing.
func TestProducerTimestampsSetPlayTiming(t *testing.T) {
	srv := newServer(t, framecast.Config{})
	st, err := srv.Publish("/vfr", framecast.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	frame := make([]byte, 64*48)
	// A first frame so that a viewer can start.
	if err := st.WriteFrameAt(frame, 0); err != nil {
		t.Fatal(err)
	}
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := testkit.Run(t, 20*time.Second, "ffprobe", "-v", "error", "-rtsp_transport", "tcp",
			"-show_entries", "frame=pts_time", "-of", "csv=p=0", "-read_intervals", "%+#12", url(srv, "/vfr"))
		done <- result{out, err}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for st.Stats().Viewers == 0 {
		if time.Now().After(deadline) {
			t.Fatal("ffprobe did not start playing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Producer times: 1 s, then gaps of 40, 120, 10, 300, … ms.
	gaps := []int{40, 120, 10, 300, 60, 33, 250, 20, 80, 45, 150, 70, 90, 100}
	ts := time.Second
	var want []time.Duration
	for _, g := range gaps {
		ts += time.Duration(g) * time.Millisecond
		want = append(want, ts)
		for i := range frame {
			frame[i] = byte(g + i)
		}
		if err := st.WriteFrameAt(frame, ts); err != nil {
			t.Fatal(err)
		}
		time.Sleep(15 * time.Millisecond) // faster than the timestamps, slower than the encoder
	}
	// Then steady frames, so that ffprobe has more to read after probing.
	var r result
	for waiting := true; waiting; {
		select {
		case r = <-done:
			waiting = false
		case <-time.After(50 * time.Millisecond):
			ts += 50 * time.Millisecond
			if err := st.WriteFrameAt(frame, ts); err != nil {
				t.Fatal(err)
			}
		}
	}
	if r.err != nil {
		t.Fatalf("ffprobe: %v: %s", r.err, r.out)
	}
	var pts []float64
	for _, l := range strings.Fields(r.out) {
		if v, err := strconv.ParseFloat(strings.Trim(l, ","), 64); err == nil {
			pts = append(pts, v)
		}
	}
	// Match the decoded spacing against the producer's, wherever the
	// decoder's first frame falls in the sequence.
	best := math.Inf(1)
	for off := 0; off+len(pts) <= len(want)+1 && len(pts) > 3; off++ {
		worst := 0.0
		n := 0
		for i := 1; i < len(pts) && off+i < len(want); i++ {
			d := (pts[i] - pts[i-1]) - (want[off+i] - want[off+i-1]).Seconds()
			worst = max(worst, math.Abs(d))
			n++
		}
		if n >= 8 {
			best = min(best, worst)
		}
	}
	if best > 0.002 {
		t.Fatalf("decoded pts %v do not keep the producer's spacing %v (worst error %.4f s)", pts, gaps, best)
	}
}

// TestSetFormatReachesNewViewers changes the frame size mid-stream: a viewer
// that joins afterwards sees the new size.
func TestSetFormatReachesNewViewers(t *testing.T) {
	srv := newServer(t, framecast.Config{})
	st, err := srv.Publish("/resize", framecast.Format{PixelFormat: framecast.Gray, Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // after the writer stops: cleanups run last first
	if err := st.WriteFrame(make([]byte, 320*240)); err != nil {
		t.Fatal(err)
	}
	if err := st.SetFormat(framecast.Format{PixelFormat: framecast.BGR24, Width: 640, Height: 360}); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteFrame(make([]byte, 320*240)); err == nil || !strings.Contains(err.Error(), "want 691200 for bgr24 640x360") {
		t.Fatalf("old-size frame after SetFormat: %v, want a size error", err)
	}
	frame := make([]byte, 640*360*3)
	writeUntil(t, func() error { return st.WriteFrame(frame) })
	out, err := testkit.Run(t, 15*time.Second, "ffprobe", "-v", "error", "-rtsp_transport", "tcp",
		"-show_entries", "stream=width,height", "-of", "csv=p=0", url(srv, "/resize"))
	if err != nil || strings.TrimSpace(out) != "640,360" {
		t.Fatalf("ffprobe after SetFormat: %v %q, want 640,360", err, out)
	}
}
