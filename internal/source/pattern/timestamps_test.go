package pattern_test

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/source/pattern"
	"github.com/framecast/framecast/internal/testkit"
)

// TestPatternTimestampsAreEvenOnALoadedMachine reads the pattern for 3 s
// with ffprobe and ffmpeg while every core of the machine is kept busy.
// Each presentation time is a whole number of frame periods after the one
// before (one, or more where a late frame was skipped), to the 90 kHz tick,
// and ffmpeg reports no non-monotonic DTS. Stamped with the time it was
// drawn, the pattern came out with frames a few ticks apart after a late
// one, and ffmpeg warned several times a second.
func TestPatternTimestampsAreEvenOnALoadedMachine(t *testing.T) {
	testkit.Need(t, "ffmpeg", "ffprobe")
	srv := newServer(t)
	const fps = 30
	src, err := pattern.Start(srv, "/test", framecast.Format{Width: 640, Height: 360, FPS: fps})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	url := "rtsp://" + srv.Addr().String() + "/test"

	// The load: a spinning goroutine per core, competing with the
	// pattern's goroutine, the encoder and both readers.
	ctx, cancel := context.WithCancel(context.Background())
	var spin sync.WaitGroup
	for range runtime.NumCPU() {
		spin.Add(1)
		go func() {
			defer spin.Done()
			for ctx.Err() == nil {
			}
		}()
	}
	var probe, mpeg string
	var probeErr, mpegErr error
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		probe, probeErr = testkit.Run(t, 20*time.Second, "ffprobe", "-v", "error", "-rtsp_transport", "tcp",
			"-i", url, "-read_intervals", "%+3", "-select_streams", "v",
			"-show_entries", "packet=pts", "-of", "csv=p=0")
	}()
	go func() {
		defer readers.Done()
		mpeg, mpegErr = testkit.Run(t, 20*time.Second, "ffmpeg", "-nostdin", "-hide_banner",
			"-rtsp_transport", "tcp", "-i", url, "-t", "3", "-f", "null", "-")
	}()
	readers.Wait()
	cancel()
	spin.Wait()
	if probeErr != nil || mpegErr != nil {
		t.Fatalf("ffprobe: %v\n%s\nffmpeg: %v\n%s", probeErr, probe, mpegErr, mpeg)
	}

	if strings.Contains(strings.ToLower(mpeg), "monoton") {
		t.Errorf("ffmpeg reports non-monotonic timestamps:\n%s", mpeg)
	}
	var pts []int64
	for _, line := range strings.Fields(probe) {
		if v, err := strconv.ParseInt(strings.TrimSuffix(line, ","), 10, 64); err == nil {
			pts = append(pts, v)
		}
	}
	if len(pts) < fps {
		t.Fatalf("ffprobe read %d frames in 3 s, want at least %d:\n%s", len(pts), fps, probe)
	}
	const period = 90000 / fps // ticks
	skipped := 0
	var bad []string
	for i := 1; i < len(pts); i++ {
		d := pts[i] - pts[i-1]
		k := int64(math.Round(float64(d) / period))
		if k < 1 || d-k*period < -1 || d-k*period > 1 {
			bad = append(bad, fmt.Sprintf("frame %d is %d ticks after the one before", i, d))
		}
		if k > 1 {
			skipped += int(k - 1)
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d frames not a whole number of %d-tick periods after the one before: %s",
			len(bad), len(pts), period, strings.Join(bad, "; "))
	}
	st := src.Stream().Stats()
	t.Logf("%d frames in 3 s, %d skipped; stream: %d repeated, %d dropped", len(pts), skipped, st.Repeated, st.Dropped)
}
