package framecast_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testkit"
)

// freeUDPAddr returns a loopback address with a free UDP port.
func freeUDPAddr(t *testing.T) string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// srtListener is ffmpeg (libsrt) as an SRT listener: it waits for one
// caller on addr and copies its MPEG-TS to a file without decoding, until
// the caller shuts the connection down.
type srtListener struct {
	cmd    *exec.Cmd
	stderr *testkit.Buffer
	file   string
	exited chan error
}

func startSRTListener(t *testing.T, addr, params, file string) *srtListener {
	t.Helper()
	testkit.Need(t, "ffmpeg", "ffprobe")
	if out, err := exec.Command("ffmpeg", "-hide_banner", "-protocols").Output(); err != nil || !strings.Contains(string(out), "srt") {
		t.Fatalf("ffmpeg has no SRT protocol (libsrt): %v", err)
	}
	r := &srtListener{stderr: &testkit.Buffer{}, file: file, exited: make(chan error, 1)}
	r.cmd = exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", "srt://"+addr+"?mode=listener"+params,
		"-c", "copy", "-flush_packets", "1", "-f", "mpegts", "-y", file)
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.exited <- r.cmd.Wait() }()
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		err := <-r.exited
		r.exited <- err
	})
	// ffmpeg listens once its UDP socket is bound: a caller before that
	// would wait out SRT's connection timeout.
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	bound := fmt.Sprintf(":%04X ", p)
	waitFor(t, 10*time.Second, "ffmpeg's SRT socket bound", func() bool {
		b, err := os.ReadFile("/proc/net/udp")
		return err != nil || strings.Contains(string(b), bound)
	})
	return r
}

// checkSequence checks that frame numbers go up one at a time, except
// where the stream dropped frames before encoding them (at most drops)
// or encoded its last frame again (at most repeats: the encoder answers
// a new consumer with the last picture as an IDR when the producer's next
// frame is late).
func checkSequence(t *testing.T, name string, ns []uint32, drops, repeats uint64) {
	t.Helper()
	var missing, repeated uint64
	for i := 1; i < len(ns); i++ {
		switch {
		case ns[i] == ns[i-1]:
			repeated++
		case ns[i] < ns[i-1]:
			t.Fatalf("%s: frame %d has number %d after %d: out of order; numbers: %v", name, i, ns[i], ns[i-1], ns)
		default:
			missing += uint64(ns[i] - ns[i-1] - 1)
		}
	}
	if missing > drops || repeated > repeats {
		t.Fatalf("%s: %d frame numbers missing and %d repeated, but the stream dropped %d before encoding and repeated %d; numbers: %v",
			name, missing, repeated, drops, repeats, ns)
	}
}

// streamStats returns the stats of path's stream.
func streamStats(t *testing.T, srv *framecast.Server, path string) framecast.StreamStats {
	t.Helper()
	for _, info := range srv.Streams() {
		if info.Path == path {
			return info.Stats
		}
	}
	t.Fatalf("no stream on %s", path)
	return framecast.StreamStats{}
}

// ended waits for ffmpeg to exit by itself (its caller left).
func (r *srtListener) ended(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case err := <-r.exited:
		r.exited <- err
		if err != nil {
			t.Errorf("ffmpeg SRT listener: %v: %s", err, r.stderr.String())
		}
	case <-time.After(timeout):
		t.Fatalf("ffmpeg SRT listener still running %v after the push closed: %s", timeout, r.stderr.String())
	}
}

// TestPushToFFmpegOverSRTRecordsEveryFrameInOrder pushes the test pattern
// over SRT (caller) to ffmpeg listening, in clear and encrypted with a
// passphrase: the recording is H.264 in MPEG-TS at the stream's size,
// with every frame pushed, in order, none lost between the first and the
// last; the log shows neither the streamid nor the passphrase.
func TestPushToFFmpegOverSRTRecordsEveryFrameInOrder(t *testing.T) {
	const w, h = 320, 240
	for _, tc := range []struct{ name, listener, push string }{
		{"streamid", "", "?streamid=cam-secret-id&latency=200"},
		{"passphrase", "&passphrase=framecast-secret&pbkeylen=16", "?passphrase=framecast-secret&pbkeylen=16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, logs := newLoggedServer(t, framecast.Config{})
			servePattern(t, srv, "/cam", w, h, 30)
			addr := freeUDPAddr(t)
			rec := startSRTListener(t, addr, tc.listener, filepath.Join(t.TempDir(), "cam.ts"))
			pt, err := srv.PushWith("/cam", "srt://"+addr+tc.push,
				framecast.PushConfig{MinBackoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, 20*time.Second, "the push connected", func() bool { return pt.Stats().Connected })
			waitFor(t, 20*time.Second, "90 frames pushed", func() bool { return pt.Stats().FramesSent >= 90 })
			pt.Close()
			rec.ended(t, 10*time.Second) // SRT shutdown ends ffmpeg's input
			st := pt.Stats()
			if st.Dropped != 0 || st.Connected {
				t.Errorf("stats %+v: want nothing dropped, not connected after Close", st)
			}

			n := probeRecording(t, rec.file, w, h)
			ns := frameNumbers(t, rec.file, w, h)
			if len(ns) != n {
				t.Errorf("decoded %d frames, ffprobe counted %d", len(ns), n)
			}
			ss := streamStats(t, srv, "/cam")
			checkSequence(t, "SRT recording", ns, ss.Dropped, ss.Repeated)
			checkBarColours(t, rec.file, w, h)
			// The frames sent are in the file: SRT retransmits what is
			// lost, and Close waits for the listener to play the last ones
			// before the shutdown. A listener far behind (a loaded
			// machine) may still drop the last few at shutdown.
			if st.Reconnects == 0 && (uint64(n) > st.FramesSent || uint64(n)+3 < st.FramesSent) {
				t.Errorf("recording has %d frames, pushed %d on one connection", n, st.FramesSent)
			}
			for _, secret := range []string{"cam-secret-id", "framecast-secret"} {
				if strings.Contains(logs.String(), secret) {
					t.Errorf("log shows %q:\n%s", secret, logs.String())
				}
			}
			if got := logs.lines("push connected", "path=/cam", "transport=udp"); len(got) == 0 {
				t.Errorf("no 'push connected' line; log:\n%s", logs.String())
			}
			t.Logf("pushed %d frames (%d reconnects), recorded %d, numbers %d to %d in order", st.FramesSent, st.Reconnects, n, ns[0], ns[len(ns)-1])
		})
	}
}
