package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/hls"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/testsrc"
	"github.com/framecast/framecast/internal/web"
)

// checkBars fails the test unless a decoded bgr24 frame of the test pattern
// shows its colour bars (±20).
func checkBars(t *testing.T, frame []byte, w, h int, what string) {
	t.Helper()
	p := testsrc.New(w, h)
	for i, bar := range testsrc.Bars {
		x, y := p.BarCenter(i)
		px := frame[(y*w+x)*3:]
		got := [3]int{int(px[2]), int(px[1]), int(px[0])}
		want := [3]int{int(bar.R), int(bar.G), int(bar.B)}
		for c := range 3 {
			if d := got[c] - want[c]; d < -20 || d > 20 {
				t.Errorf("%s: bar %s at (%d,%d): R,G,B = %v, want %v ±20", what, bar.Name, x, y, got, want)
				break
			}
		}
	}
}

// frameNumber reads the number the test pattern stamps on a bgr24 frame.
func frameNumber(frame []byte, w, h int) uint32 {
	luma := make([]byte, w*h)
	for i := range luma {
		luma[i] = frame[i*3+1]
	}
	return testsrc.ReadNumber(luma, w, h, w)
}

// ffprobeStreams runs ffprobe on url and returns its streams.
func ffprobeStreams(t *testing.T, url string) []probedStream {
	t.Helper()
	out, err := testkit.Run(t, 60*time.Second, "ffprobe", "-v", "error", "-show_streams", "-of", "json", url)
	if err != nil {
		t.Fatalf("ffprobe %s: %v: %s", url, err, out)
	}
	var r struct{ Streams []probedStream }
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &r); err != nil {
		t.Fatalf("ffprobe %s: %v: %s", url, err, out)
	}
	return r.Streams
}

type probedStream struct {
	CodecName  string `json:"codec_name"`
	CodecType  string `json:"codec_type"`
	Width      int
	Height     int
	SampleRate string `json:"sample_rate"`
	Channels   int
}

// TestFFmpegPlaysHLS: ffprobe reads /PATH/index.m3u8 as H.264 of the
// stream's size, and ffmpeg decodes frames of the test pattern from it,
// colours right and numbers in order.
func TestFFmpegPlaysHLS(t *testing.T) {
	testkit.Need(t, "ffprobe", "ffmpeg")
	const w, h = 320, 240
	srv := newFramecast(t, framecast.Config{})
	servePattern(t, srv, "/cam/one", w, h, 30)
	_, base := newWeb(t, srv)
	url := base + "/cam/one/index.m3u8"

	streams := ffprobeStreams(t, url)
	if len(streams) != 1 || streams[0].CodecName != "h264" || streams[0].Width != w || streams[0].Height != h {
		t.Fatalf("ffprobe %s: streams %+v, want one h264 %dx%d", url, streams, w, h)
	}

	checkHLSFrames(t, url, 45, w, h)
}

// checkHLSFrames has ffmpeg decode frames frames of the test pattern
// from the HLS at url: colours right, numbers consecutive.
func checkHLSFrames(t *testing.T, url string, frames, w, h int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-i", url,
		"-frames:v", fmt.Sprint(frames), "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg %s: %v: %s", url, err, stderr.String())
	}
	if len(out) != frames*w*h*3 {
		t.Fatalf("ffmpeg %s decoded %d bytes, want %d frames of %dx%d bgr24", url, len(out), frames, w, h)
	}
	var last uint32
	for i := range frames {
		frame := out[i*w*h*3 : (i+1)*w*h*3]
		checkBars(t, frame, w, h, fmt.Sprintf("frame %d of %s", i, url))
		n := frameNumber(frame, w, h)
		if i > 0 && n != last+1 {
			t.Errorf("%s: decoded frame %d is number %d, after %d: want consecutive numbers", url, i, n, last)
		}
		last = n
	}
}

// TestFFmpegPlaysHLSWithSilentAudio: the HLS of a path whose stream has
// the silent audio track is H.264 and AAC (48 kHz stereo) to ffprobe, and
// ffmpeg decodes two seconds of silence from it, and video frames of the
// test pattern.
func TestFFmpegPlaysHLSWithSilentAudio(t *testing.T) {
	testkit.Need(t, "ffprobe", "ffmpeg")
	const w, h = 320, 240
	srv := newFramecast(t, framecast.Config{PathAudio: map[string]framecast.Audio{"/cam/sound": framecast.AudioSilent}})
	servePattern(t, srv, "/cam/sound", w, h, 30)
	_, base := newWeb(t, srv)
	url := base + "/cam/sound/index.m3u8"

	streams := ffprobeStreams(t, url)
	var video, audio []probedStream
	for _, s := range streams {
		switch s.CodecType {
		case "video":
			video = append(video, s)
		case "audio":
			audio = append(audio, s)
		}
	}
	if len(streams) != 2 || len(video) != 1 || len(audio) != 1 ||
		video[0].CodecName != "h264" || video[0].Width != w || video[0].Height != h ||
		audio[0].CodecName != "aac" || audio[0].SampleRate != "48000" || audio[0].Channels != 2 {
		t.Fatalf("ffprobe %s: streams %+v, want h264 %dx%d and aac 48000 Hz stereo", url, streams, w, h)
	}

	const seconds = 2
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-i", url,
		"-map", "0:a", "-t", fmt.Sprint(seconds), "-f", "s16le", "-c:a", "pcm_s16le", "pipe:1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pcm, err := cmd.Output()
	if err != nil || stderr.Len() != 0 {
		t.Fatalf("ffmpeg %s: decode the audio: %v: %s", url, err, stderr.String())
	}
	if want := seconds * 48000 * 2 * 2; len(pcm) < want*9/10 {
		t.Fatalf("ffmpeg decoded %d bytes of audio, want %d: %d s of 48 kHz stereo s16", len(pcm), want, seconds)
	}
	if i := bytes.IndexFunc(pcm, func(r rune) bool { return r != 0 }); i >= 0 {
		t.Fatalf("the decoded audio is not silent: byte %d of %d is %#x", i, len(pcm), pcm[i])
	}

	const frames = 30
	cmd = exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-i", url,
		"-map", "0:v", "-frames:v", fmt.Sprint(frames), "-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1")
	stderr.Reset()
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg %s: decode the video: %v: %s", url, err, stderr.String())
	}
	if len(out) != frames*w*h*3 {
		t.Fatalf("ffmpeg decoded %d bytes of video, want %d frames of %dx%d bgr24", len(out), frames, w, h)
	}
	checkBars(t, out[:w*h*3], w, h, "the first frame")
}

// TestHLSPlaylistIsLowLatencyAndPlain: the media playlist has Low-Latency
// HLS parts and blocking reloads, and whole segments (#EXTINF) for players
// without LL-HLS; every file it names is served, and a name it never made
// is 404.
func TestHLSPlaylistIsLowLatencyAndPlain(t *testing.T) {
	const w, h = 160, 120
	srv := newFramecast(t, framecast.Config{})
	servePattern(t, srv, "/cam", w, h, 30)
	_, base := newWeb(t, srv)

	res, body := get(t, base+"/cam/index.m3u8")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/vnd.apple.mpegurl" {
		t.Fatalf("GET /cam/index.m3u8: %s %s: %.300s", res.Status, res.Header.Get("Content-Type"), body)
	}
	multi := string(body)
	for _, want := range []string{"#EXT-X-STREAM-INF:", `CODECS="avc1.`, fmt.Sprintf("RESOLUTION=%dx%d", w, h)} {
		if !strings.Contains(multi, want) {
			t.Errorf("index.m3u8 has no %q:\n%s", want, multi)
		}
	}
	media := lastLine(multi)
	res, body = get(t, base+"/cam/"+media)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /cam/%s: %s: %.300s", media, res.Status, body)
	}
	pl := string(body)
	for _, want := range []string{"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES", "#EXT-X-PART-INF:PART-TARGET=", "#EXT-X-PART:",
		"INDEPENDENT=YES", "#EXT-X-PRELOAD-HINT:", "#EXT-X-MAP:URI=", "#EXTINF:"} {
		if !strings.Contains(pl, want) {
			t.Errorf("%s has no %s:\n%s", media, want, pl)
		}
	}
	// Every URI: the init file, segments and parts (gaps excepted).
	uris := regexp.MustCompile(`URI="([^"]+)"`).FindAllStringSubmatch(pl, -1)
	var names []string
	for _, m := range uris {
		if !strings.HasPrefix(m[0], "URI=") || strings.Contains(pl, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""+m[1]) {
			continue
		}
		names = append(names, m[1])
	}
	sc := bufio.NewScanner(strings.NewReader(pl))
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") && l != "gap.mp4" {
			names = append(names, l)
		}
	}
	segments := 0
	for _, name := range names {
		res, body := get(t, base+"/cam/"+name)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "video/mp4" || len(body) == 0 {
			t.Errorf("GET /cam/%s: %s %s, %d bytes; want 200 video/mp4", name, res.Status, res.Header.Get("Content-Type"), len(body))
		}
		if strings.Contains(name, "_seg") {
			segments++
		}
	}
	if segments == 0 {
		t.Errorf("the playlist names no segment:\n%s", pl)
	}
	for _, name := range []string{"/cam/nothing.mp4", "/elsewhere/index.m3u8", "/elsewhere/x_seg1.mp4"} {
		if res, body := get(t, base+name); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s %.200q, want 404", name, res.Status, body)
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// TestVLCRecordsHLS: Debian's VLC, which cannot open rtsp:// URLs (built
// without live555), plays /PATH/index.m3u8: it records the stream to an
// MPEG-TS file that ffprobe reads as H.264 of the stream's size. VLC will
// not run as root, so it runs as nobody, recording into a directory made
// writable for it.
func TestVLCRecordsHLS(t *testing.T) {
	testkit.Need(t, "cvlc", "ffprobe")
	const w, h = 320, 240
	srv := newFramecast(t, framecast.Config{})
	servePattern(t, srv, "/vlc", w, h, 30)
	_, base := newWeb(t, srv)

	dir, err := os.MkdirTemp("", "framecast-vlc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.ts")
	var args []string
	if os.Geteuid() == 0 {
		testkit.Need(t, "runuser")
		args = []string{"runuser", "-u", "nobody", "--"}
	}
	args = append(args, "cvlc", "-q", "--no-interact", "--play-and-exit", "--run-time=8",
		base+"/vlc/index.m3u8", "--sout", "#std{access=file,mux=ts,dst="+out+"}")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	cmd.WaitDelay = 5 * time.Second
	logs, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("cvlc did not end within 60 s: %s", logs)
	}
	if err != nil {
		t.Logf("cvlc: %v: %s", err, logs)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Size() == 0 {
		t.Fatalf("VLC recorded nothing (%v); its output: %s", err, logs)
	}
	streams := ffprobeStreams(t, out)
	var video []probedStream
	for _, s := range streams {
		if s.CodecType == "video" {
			video = append(video, s)
		}
	}
	if len(video) != 1 || video[0].CodecName != "h264" || video[0].Width != w || video[0].Height != h {
		t.Fatalf("ffprobe of VLC's recording (%d bytes): streams %+v, want one h264 %dx%d", fi.Size(), streams, w, h)
	}
	t.Logf("VLC recorded %d bytes in 8 s", fi.Size())
}

// TestHLSNeedsReadCredentialsAndRefusesAliases: a protected path's
// playlist is 401 without its read credentials and 200 with them; other
// spellings of the path are 400, with or without, as the API answers.
func TestHLSNeedsReadCredentialsAndRefusesAliases(t *testing.T) {
	srv := newFramecast(t, framecast.Config{Auth: []framecast.PathAuth{
		{Path: "/cam", Read: []framecast.Credentials{{User: "viewer", Pass: "pw"}}},
	}})
	servePattern(t, srv, "/cam", 64, 48, 30)
	_, base := newWebWith(t, srv, web.Options{Authorize: func(r *http.Request, path string) bool {
		u, p, _ := r.BasicAuth()
		return srv.CheckRead(path, u, p)
	}})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(path string, creds bool) (int, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if creds {
			req.SetBasicAuth("viewer", "pw")
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := do("/cam/index.m3u8", false); code != http.StatusUnauthorized {
		t.Errorf("GET /cam/index.m3u8 without credentials: %d %q, want 401", code, body)
	}
	code, body := do("/cam/index.m3u8", true)
	if code != http.StatusOK || !strings.Contains(body, "#EXTM3U") {
		t.Fatalf("GET /cam/index.m3u8 with credentials: %d %q, want 200 and a playlist", code, body)
	}
	media := lastLine(body)
	if code, _ := do("/cam/"+media, false); code != http.StatusUnauthorized {
		t.Errorf("GET /cam/%s without credentials: %d, want 401", media, code)
	}
	if code, _ := do("/cam/"+media, true); code != http.StatusOK {
		t.Errorf("GET /cam/%s with credentials: %d, want 200", media, code)
	}
	for _, alias := range []string{"//cam/index.m3u8", "/cam//index.m3u8", "/%63am/index.m3u8", "/cam/./index.m3u8", "/x/../cam/index.m3u8"} {
		for _, creds := range []bool{false, true} {
			if code, body := do(alias, creds); code != http.StatusBadRequest {
				t.Errorf("GET %s (credentials: %v): %d %q, want 400", alias, creds, code, body)
			}
		}
	}
}

// TestIdleHLSSessionsCloseAndTheLimitRefuses: beyond MaxMuxers a new
// path's playlist is 503 and counted; a session without requests closes
// after IdleTimeout (its goroutine and sink go: the leak check of TestMain
// sees the rest), and the refused path then plays.
func TestIdleHLSSessionsCloseAndTheLimitRefuses(t *testing.T) {
	srv := newFramecast(t, framecast.Config{})
	servePattern(t, srv, "/a", 64, 48, 30)
	servePattern(t, srv, "/b", 64, 48, 30)
	_, base := newWebWith(t, srv, web.Options{HLS: hls.Config{IdleTimeout: 500 * time.Millisecond, MaxMuxers: 1}})

	if res, body := get(t, base+"/a/index.m3u8"); res.StatusCode != http.StatusOK {
		t.Fatalf("GET /a/index.m3u8: %s %.200q", res.Status, body)
	}
	res, body := get(t, base+"/b/index.m3u8")
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("GET /b/index.m3u8 with /a's session open and MaxMuxers 1: %s %.200q, want 503 with Retry-After", res.Status, body)
	}
	if m := hlsMetric(t, base, "framecast_hls_refused_total"); m != 1 {
		t.Errorf("framecast_hls_refused_total = %v, want 1", m)
	}
	if m := hlsMetric(t, base, "framecast_hls_sessions_open"); m != 1 {
		t.Errorf("framecast_hls_sessions_open = %v, want 1", m)
	}
	deadline := time.Now().Add(20 * time.Second)
	for hlsMetric(t, base, "framecast_hls_sessions_open") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle HLS session of /a did not close within 20 s (IdleTimeout 500 ms)")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if res, body := get(t, base+"/b/index.m3u8"); res.StatusCode != http.StatusOK {
		t.Fatalf("GET /b/index.m3u8 after /a's session closed: %s %.200q", res.Status, body)
	}
	if m := hlsMetric(t, base, "framecast_hls_sessions_opened_total"); m != 2 {
		t.Errorf("framecast_hls_sessions_opened_total = %v, want 2", m)
	}
}

// hlsMetric is the value of an unlabelled series in /metrics.
func hlsMetric(t *testing.T, base, name string) float64 {
	t.Helper()
	v, ok := metric(scrape(t, base), name)
	if !ok {
		t.Fatalf("/metrics has no %s", name)
	}
	return v
}
