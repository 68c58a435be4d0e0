package framecast_test

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/testsrc"
)

// ffmpegReceiver is ffmpeg as the remote server of a push: it waits for one
// publisher (ANNOUNCE, RECORD) on addr and copies its H.264 to an MPEG-TS
// file, without decoding, until the publisher leaves or it is killed. It
// writes each packet out at once, so that a killed receiver leaves a file
// that holds what it received.
type ffmpegReceiver struct {
	cmd    *exec.Cmd
	stderr *testkit.Buffer
	file   string
	exited chan error
}

func startFFmpegReceiver(t *testing.T, addr, file string) *ffmpegReceiver {
	t.Helper()
	testkit.Need(t, "ffmpeg", "ffprobe")
	r := &ffmpegReceiver{stderr: &testkit.Buffer{}, file: file, exited: make(chan error, 1)}
	r.cmd = exec.Command("ffmpeg", "-nostdin", "-v", "error", "-rtsp_flags", "listen",
		"-i", "rtsp://"+addr+"/cam", "-c", "copy", "-flush_packets", "1", "-f", "mpegts", "-y", file)
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.exited <- r.cmd.Wait() }()
	t.Cleanup(func() { r.kill() })
	return r
}

// kill ends the receiver at once, as a crash or a restart would.
func (r *ffmpegReceiver) kill() {
	r.cmd.Process.Kill()
	err := <-r.exited
	r.exited <- err
}

// ended waits for the receiver to exit by itself (its publisher left).
func (r *ffmpegReceiver) ended(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case err := <-r.exited:
		r.exited <- err
		if err != nil {
			t.Errorf("ffmpeg receiver: %v: %s", err, r.stderr.String())
		}
	case <-time.After(timeout):
		t.Fatalf("ffmpeg receiver still running %v after the push closed: %s", timeout, r.stderr.String())
	}
}

// freeTCPAddr returns a loopback address with a free TCP port.
func freeTCPAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitFor polls cond every 10 ms until it holds.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// probeRecording checks with ffprobe that file holds one H.264 stream of
// w x h and returns its frame count.
func probeRecording(t *testing.T, file string, w, h int) int {
	t.Helper()
	out, err := testkit.Run(t, 30*time.Second, "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v",
		"-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0", file)
	if err != nil {
		t.Fatalf("ffprobe %s: %v: %s", file, err, out)
	}
	// MPEG-TS: the stream is listed in its program too; one line is enough.
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	f := strings.Split(line, ",")
	if len(f) != 4 || f[0] != "h264" || f[1] != strconv.Itoa(w) || f[2] != strconv.Itoa(h) {
		t.Fatalf("ffprobe %s: %q, want one h264 stream %dx%d", file, out, w, h)
	}
	n, err := strconv.Atoi(f[3])
	if err != nil {
		t.Fatalf("ffprobe %s: frame count %q", file, f[3])
	}
	return n
}

// frameNumbers decodes file and reads the frame number stamped in each
// frame by the test pattern.
func frameNumbers(t *testing.T, file string, w, h int) []uint32 {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", file, "-fps_mode", "passthrough",
		"-f", "rawvideo", "-pix_fmt", "gray", "pipe:1").Output()
	if err != nil {
		t.Fatalf("decode %s: %v", file, err)
	}
	var ns []uint32
	for len(out) >= w*h {
		ns = append(ns, testsrc.ReadNumber(out[:w*h], w, h, w))
		out = out[w*h:]
	}
	return ns
}

// checkInOrder checks that numbers go up, one at a time except where the
// stream itself dropped frames before encoding them (its drop-oldest queue)
// or repeated its last picture (after a join, for players that probe),
// counted in c: no frame lost, repeated or out of order between
// framecast's encoder and the file but those. lost adds losses counted
// elsewhere (a push's own drops).
func checkInOrder(t *testing.T, name string, ns []uint32, c framecast.StreamStats, lost uint64) {
	t.Helper()
	var missing, repeated uint64
	for i := 1; i < len(ns); i++ {
		if ns[i] == ns[i-1] {
			repeated++
			continue
		}
		if ns[i] < ns[i-1] {
			t.Fatalf("%s: frame %d has number %d after %d: out of order; numbers: %v", name, i, ns[i], ns[i-1], ns)
		}
		missing += uint64(ns[i] - ns[i-1] - 1)
	}
	if missing > c.Dropped+lost {
		t.Fatalf("%s: %d frame numbers missing, but only %d were dropped and counted; numbers: %v",
			name, missing, c.Dropped+lost, ns)
	}
	if repeated > c.Repeated {
		t.Fatalf("%s: %d frames repeated, but the stream counted %d repeats; numbers: %v", name, repeated, c.Repeated, ns)
	}
}

// TestPushToFFmpegRecordsPlayableH264InOrder pushes to ffmpeg listening as
// an RTSP server, configured before the producer publishes the path: the
// recording is H.264 at the stream's size with every frame sent, in order,
// over TCP (the default) and UDP.
func TestPushToFFmpegRecordsPlayableH264InOrder(t *testing.T) {
	const w, h = 320, 240
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			srv, logs := newLoggedServer(t, framecast.Config{})
			addr := freeTCPAddr(t)
			rec := startFFmpegReceiver(t, addr, filepath.Join(t.TempDir(), "cam.ts"))
			url := "rtsp://" + addr + "/cam"
			if transport == "udp" {
				url += "?transport=udp"
			}
			pt, err := srv.Push("/cam", url)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, "the push waiting for /cam", func() bool {
				return len(logs.lines("push waiting for the stream", "path=/cam")) > 0
			})
			servePattern(t, srv, "/cam", w, h, 30)
			waitFor(t, 20*time.Second, "90 frames pushed", func() bool { return pt.Stats().FramesSent >= 90 })
			pt.Close()
			rec.ended(t, 10*time.Second) // TEARDOWN ends ffmpeg's input
			st := pt.Stats()
			if st.Dropped != 0 || st.Reconnects != 0 || st.Connected {
				t.Errorf("stats %+v: want nothing dropped, no reconnect, not connected after Close", st)
			}

			n := probeRecording(t, rec.file, w, h)
			if n < int(st.FramesSent)-1 || n > int(st.FramesSent) {
				t.Errorf("recording has %d frames, pushed %d", n, st.FramesSent)
			}
			ns := frameNumbers(t, rec.file, w, h)
			if len(ns) != n {
				t.Errorf("decoded %d frames, ffprobe counted %d", len(ns), n)
			}
			checkInOrder(t, "recording", ns, streamStats(t, srv, "/cam"), 0)
			t.Logf("pushed %d frames, recorded %d, numbers %d to %d in order", st.FramesSent, n, ns[0], ns[len(ns)-1])
		})
	}
}

// TestPushReconnectsAfterReceiverRestart kills the receiving ffmpeg in the
// middle and starts a new one on the same port: the push reconnects after
// its back-off, and both recordings are valid, in order, the second after
// the first.
func TestPushReconnectsAfterReceiverRestart(t *testing.T) {
	const w, h = 320, 240
	srv := newServer(t, framecast.Config{})
	servePattern(t, srv, "/cam", w, h, 30)
	addr, dir := freeTCPAddr(t), t.TempDir()
	rec1 := startFFmpegReceiver(t, addr, filepath.Join(dir, "first.ts"))
	pt, err := srv.Push("/cam", "rtsp://"+addr+"/cam")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "60 frames pushed", func() bool { return pt.Stats().FramesSent >= 60 })

	rec1.kill()
	killed := time.Now()
	rec2 := startFFmpegReceiver(t, addr, filepath.Join(dir, "second.ts"))
	waitFor(t, 20*time.Second, "reconnection", func() bool { return pt.Stats().Reconnects == 1 && pt.Stats().Connected })
	t.Logf("reconnected %v after the receiver was killed", time.Since(killed).Round(time.Millisecond))
	sent := pt.Stats().FramesSent
	waitFor(t, 20*time.Second, "60 more frames pushed", func() bool { return pt.Stats().FramesSent >= sent+60 })
	pt.Close()
	rec2.ended(t, 10*time.Second)
	t.Logf("push stats %+v", pt.Stats())

	n1, n2 := probeRecording(t, rec1.file, w, h), probeRecording(t, rec2.file, w, h)
	if n1 < 30 {
		t.Errorf("first recording has %d frames, want the 60 or so pushed before the kill", n1)
	}
	if n2 < 60 {
		t.Errorf("second recording has %d frames, want at least 60", n2)
	}
	first, second := frameNumbers(t, rec1.file, w, h), frameNumbers(t, rec2.file, w, h)
	// Access units the push dropped while its connection was behind (a
	// loaded machine) are counted losses too.
	c := streamStats(t, srv, "/cam")
	checkInOrder(t, "first recording", first, c, pt.Stats().Dropped)
	checkInOrder(t, "second recording", second, c, pt.Stats().Dropped)
	if len(first) == 0 || len(second) == 0 {
		t.Fatalf("decoded %d and %d frames", len(first), len(second))
	}
	if second[0] <= first[len(first)-1] {
		t.Errorf("second recording starts at frame %d, not after the first's last, %d", second[0], first[len(first)-1])
	}
	t.Logf("first recording: %d frames, %d to %d; second: %d frames, %d to %d",
		n1, first[0], first[len(first)-1], n2, second[0], second[len(second)-1])
}

func TestServerCloseStopsPushes(t *testing.T) {
	const w, h = 320, 240
	srv := newServer(t, framecast.Config{})
	servePattern(t, srv, "/cam", w, h, 30)
	addr := freeTCPAddr(t)
	rec := startFFmpegReceiver(t, addr, filepath.Join(t.TempDir(), "cam.ts"))
	pt, err := srv.Push("/cam", "rtsp://"+addr+"/cam")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "30 frames pushed", func() bool { return pt.Stats().FramesSent >= 30 })
	srv.Close()
	rec.ended(t, 10*time.Second)
	waitFor(t, 5*time.Second, "push stopped", func() bool { return len(srv.Pushes()) == 0 && !pt.Stats().Connected })
	if _, err := srv.Push("/cam", "rtsp://"+addr+"/cam"); !errors.Is(err, framecast.ErrServerClosed) {
		t.Errorf("Push after Close: %v, want ErrServerClosed", err)
	}
}

func TestPushRefusesMalformedPathOrURL(t *testing.T) {
	srv := newServer(t, framecast.Config{})
	for _, tc := range []struct{ path, url, want string }{
		{"cam", "rtsp://127.0.0.1:1/cam", `path "cam" must start with /`},
		{"/cam", "http://127.0.0.1:1/cam", "unsupported scheme"},
		{"/cam", "rtsp://127.0.0.1:1", "no path"},
		{"/cam", "rtsp://u:hunter2@127.0.0.1:1/cam?transport=sctp", "unknown push transport"},
		{"/cam", "rtmp://127.0.0.1:1/live", "no stream key (want rtmp://[user:pass@]host[:port]/app/key"},
		{"/cam", "rtmp://u:hunter2@127.0.0.1:1/live/cam#x", "a fragment"},
		{"/cam", "srt://127.0.0.1?streamid=hunter2", "no port (SRT has no default port)"},
		{"/cam", "srt://127.0.0.1:1?mode=listener&passphrase=hunter2hunter2", "framecast pushes as the caller"},
	} {
		pt, err := srv.Push(tc.path, tc.url)
		if err == nil {
			pt.Close()
			t.Errorf("Push(%q, %q) accepted", tc.path, tc.url)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Push(%q, %q): %v; want an error saying %q, without the password", tc.path, tc.url, err, tc.want)
		}
	}
	if n := len(srv.Pushes()); n != 0 {
		t.Errorf("%d pushes registered after refusals", n)
	}
}

func TestParsePushSpec(t *testing.T) {
	for _, tc := range []struct{ spec, path, url, err string }{
		{spec: "/cam=rtsp://mediamtx:8554/cam", path: "/cam", url: "rtsp://mediamtx:8554/cam"},
		{spec: "/a/b=rtsp://h/x?token=a=b", path: "/a/b", url: "rtsp://h/x?token=a=b"},
		{spec: "/cam", err: "want PATH=URL"},
		{spec: "=rtsp://h/cam", err: "want PATH=URL"},
		{spec: "cam=rtsp://h/cam", err: `path "cam" must start with /`},
		{spec: "/cam=ftp://h/cam", err: "unsupported scheme"},
		{spec: "/cam=rtmp://nginx/live/cam", path: "/cam", url: "rtmp://nginx/live/cam"},
		{spec: "/cam=srt://h:9000?streamid=#!::r=live/cam,m=publish", path: "/cam", url: "srt://h:9000?streamid=#!::r=live/cam,m=publish"},
		{spec: "/cam=srt://h:9000?mode=listener", err: "mode=listener"},
		{spec: "=rtmp://nginx/live/hunter2", err: `"=rtmp://nginx/live/xxxxx": want PATH=URL`},
	} {
		path, url, err := framecast.ParsePushSpec(tc.spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParsePushSpec(%q): %v, want an error saying %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil || path != tc.path || url != tc.url {
			t.Errorf("ParsePushSpec(%q) = %q, %q, %v; want %q, %q", tc.spec, path, url, err, tc.path, tc.url)
		}
	}
}

func ExampleServer_Push() {
	srv, err := framecast.NewServer(framecast.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	// Viewers read rtsp://mediamtx:8554/cam from mediamtx; framecast
	// encodes once and publishes there, reconnecting if mediamtx restarts.
	pt, err := srv.Push("/cam", "rtsp://mediamtx:8554/cam")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pt.Close()
	st, err := srv.Publish("/cam", framecast.Format{PixelFormat: framecast.BGR24, Width: 640, Height: 480, FPS: 30})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	// for { st.WriteFrame(pixels) }
}
