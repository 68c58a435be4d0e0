package web_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testkit"
)

// scrape returns the text of /metrics.
func scrape(t *testing.T, base string) string {
	t.Helper()
	res, body := get(t, base+"/metrics")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %s %s", res.Status, res.Header.Get("Content-Type"))
	}
	return string(body)
}

// metric returns the value of the sample named name{labels} (labels as
// Prometheus writes them, sorted), and whether it is there.
func metric(text, series string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

func TestMetricsCountFramesViewersAndBytesPerStream(t *testing.T) {
	const w, h = 320, 240
	srv := newFramecast(t, framecast.Config{})
	servePattern(t, srv, "/test", w, h, 30)
	servePattern(t, srv, "/idle", 64, 48, 30) // nobody watches: skipped
	_, base := newWeb(t, srv)
	dec := testkit.FFmpeg(t, "rtsp://"+srv.Addr().String()+"/test", "udp", "gray", w, h)
	for range 10 {
		dec.Next(t, 10*time.Second)
	}
	text := scrape(t, base)
	positive := []string{
		`framecast_frames_in_total{path="/test"}`,
		`framecast_frames_encoded_total{path="/test"}`,
		`framecast_encoded_bytes_total{path="/test"}`,
		`framecast_frames_in_total{path="/idle"}`,
		`framecast_frames_skipped_total{path="/idle"}`,
		`framecast_rtsp_bytes_sent_total{path="/test"}`,
		`framecast_encode_seconds_count{path="/test"}`,
		`framecast_encode_seconds_sum{path="/test"}`,
	}
	for _, s := range positive {
		if v, ok := metric(text, s); !ok || v <= 0 {
			t.Errorf("%s = %v (present %v), want more than 0", s, v, ok)
		}
	}
	exact := map[string]float64{
		`framecast_viewers{path="/test",transport="UDP"}`:                          1,
		`framecast_viewers{path="/test",transport="TCP"}`:                          0,
		`framecast_viewers{path="/test",transport="WebRTC"}`:                       0,
		`framecast_viewers{path="/idle",transport="UDP"}`:                          0,
		`framecast_frames_encoded_total{path="/idle"}`:                             0,
		`framecast_frames_dropped_total{path="/test",reason="encoder_behind"}`:     0,
		`framecast_frames_dropped_total{path="/test",reason="preview_queue_full"}`: 0,
		`framecast_slow_viewers_total{path="/test"}`:                               0,
		`framecast_producer_connected{path="/test"}`:                               1,
		`framecast_ingest_errors_total{path="/test"}`:                              0,
		`framecast_encode_errors_total{path="/test"}`:                              0,
	}
	for s, want := range exact {
		if v, ok := metric(text, s); !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", s, v, ok, want)
		}
	}
	for _, s := range []string{"# TYPE framecast_frames_in_total counter", "# TYPE framecast_viewers gauge",
		"# HELP framecast_frames_dropped_total", "go_goroutines", "process_cpu_seconds_total",
		"# TYPE framecast_encode_seconds histogram", `framecast_encode_seconds_bucket{path="/test",le="0.25"}`} {
		if !strings.Contains(text, s) {
			t.Errorf("metrics lack %q", s)
		}
	}
	// Counters grow between scrapes.
	in1, _ := metric(text, `framecast_frames_in_total{path="/test"}`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		in2, _ := metric(scrape(t, base), `framecast_frames_in_total{path="/test"}`)
		if in2 > in1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("framecast_frames_in_total still %v (from %v) 10 s later at 30 fps", in2, in1)
		}
	}
}
