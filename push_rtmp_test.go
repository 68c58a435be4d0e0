package framecast_test

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/testsrc"
)

// nginxRTMPConf is the configuration the tests run nginx with, and the
// one docs/push.md shows: one application, live, that relays what a
// publisher sends to every RTMP player of the same stream name (starting
// each on a key frame) and cuts it into HLS segments, which nginx's HTTP
// server serves. Its arguments: the RTMP address, the directory, the HTTP
// address, the directory again.
const nginxRTMPConf = `events { worker_connections 256; }
rtmp {
    server {
        listen %s;
        chunk_size 4096;
        application live {
            live on;
            record off;
            wait_key on;
            wait_video on;
            hls on;
            hls_path %s/hls;
            hls_fragment 1s;
            hls_playlist_length 6s;
        }
    }
}
http {
    access_log off;
    server {
        listen %s;
        location /hls {
            types {
                application/vnd.apple.mpegurl m3u8;
                video/mp2t ts;
            }
            root %s;
            add_header Cache-Control no-cache;
        }
    }
}
`

// startNginxRTMP starts nginx listening for RTMP on addr and HTTP (HLS)
// on httpAddr, and waits until it accepts connections. It is killed when
// the test ends.
func startNginxRTMP(t *testing.T, dir, addr, httpAddr string) *testkit.Nginx {
	t.Helper()
	testkit.Need(t, "ffmpeg", "ffprobe")
	conf := fmt.Sprintf(nginxRTMPConf, addr, dir, httpAddr, dir)
	return testkit.StartNginx(t, dir, conf, addr, map[string]string{"ngx_rtmp_module.so": "libnginx-mod-rtmp"})
}

// recordRTMP plays url with ffmpeg, copying frames H.264 frames to file
// (MPEG-TS) without decoding.
func recordRTMP(t *testing.T, url, file string, frames int) {
	t.Helper()
	out, err := testkit.Run(t, 60*time.Second, "ffmpeg", "-nostdin", "-v", "error", "-rw_timeout", "20000000",
		"-i", url, "-an", "-frames:v", fmt.Sprint(frames), "-c", "copy", "-f", "mpegts", "-y", file)
	if err != nil {
		t.Fatalf("ffmpeg reading %s: %v: %s", url, err, out)
	}
}

// checkBarColours decodes file as bgr24 and checks the colour bars of the
// test pattern in its last frame.
func checkBarColours(t *testing.T, file string, w, h int) {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", file,
		"-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1").Output()
	if err != nil || len(out) < w*h*3 {
		t.Fatalf("decode %s: %v (%d bytes)", file, err, len(out))
	}
	out = out[len(out)/(w*h*3)*(w*h*3)-w*h*3:]
	p := testsrc.New(w, h)
	for i, bar := range testsrc.Bars {
		x, y := p.BarCenter(i)
		px := out[(y*w+x)*3:]
		want := []byte{bar.B, bar.G, bar.R}
		for c := range 3 {
			if d := int(px[c]) - int(want[c]); d < -16 || d > 16 {
				t.Errorf("%s: bar %s at (%d,%d): decoded B,G,R = %v, want %v ±16", filepath.Base(file), bar.Name, x, y, px[:3], want)
				break
			}
		}
	}
}

// TestPushToNginxRTMPPlaysBackInOrderAndSurvivesARestart pushes the test
// pattern to nginx-rtmp (Debian's libnginx-mod-rtmp) and plays it back
// from nginx with ffmpeg: H.264 at the stream's size, frame numbers in
// order with none missing, colour bars right. nginx is then killed and
// started again on the same port: the push reconnects after its back-off
// with a fresh IDR, and a new player gets the frames that follow.
func TestPushToNginxRTMPPlaysBackInOrderAndSurvivesARestart(t *testing.T) {
	const w, h = 320, 240
	dir := t.TempDir()
	addr, httpAddr := freeTCPAddr(t), freeTCPAddr(t)
	n1 := startNginxRTMP(t, dir, addr, httpAddr)
	srv, logs := newLoggedServer(t, framecast.Config{})
	url := "rtmp://" + addr + "/live/cam"
	pt, err := srv.PushWith("/cam", url, framecast.PushConfig{MinBackoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	servePattern(t, srv, "/cam", w, h, 30)
	waitFor(t, 20*time.Second, "the push connected", func() bool { return pt.Stats().Connected })
	if got := logs.lines("push connected", "path=/cam", "url=rtmp://"+addr+"/live/xxxxx", "transport=tcp"); len(got) != 1 {
		t.Errorf("want one 'push connected' line with the stream key redacted; log:\n%s", logs.String())
	}

	first := filepath.Join(dir, "first.ts")
	recordRTMP(t, url, first, 75)
	if st := pt.Stats(); st.Dropped != 0 || st.Reconnects != 0 || !st.Connected {
		t.Errorf("stats %+v: want connected, nothing dropped, no reconnect", st)
	}
	if n := probeRecording(t, first, w, h); n != 75 {
		t.Errorf("first recording: %d frames, want 75", n)
	}
	ns1 := frameNumbers(t, first, w, h)
	ss := streamStats(t, srv, "/cam")
	checkSequence(t, "played back from nginx", ns1, ss.Dropped, ss.Repeated)
	checkBarColours(t, first, w, h)

	// nginx's HLS of the same stream, as an HTTP viewer (or a cache in
	// front of nginx) reads it: the segments of the live playlist, one
	// after the other.
	segs := hlsSegments(t, "http://"+httpAddr+"/hls/cam.m3u8", 2)
	var nsh []uint32
	for _, seg := range segs {
		probeRecording(t, seg, w, h)
		nsh = append(nsh, frameNumbers(t, seg, w, h)...)
	}
	ss = streamStats(t, srv, "/cam")
	checkSequence(t, "nginx's HLS segments", nsh, ss.Dropped, ss.Repeated)
	if len(nsh) < 30 {
		t.Errorf("nginx's HLS: %d frames in %d segments, want at least 30", len(nsh), len(segs))
	}

	n1.Kill()
	waitFor(t, 10*time.Second, "the push to notice", func() bool { return !pt.Stats().Connected })
	startNginxRTMP(t, dir, addr, httpAddr)
	waitFor(t, 20*time.Second, "the push reconnected", func() bool {
		st := pt.Stats()
		return st.Connected && st.Reconnects >= 1
	})
	second := filepath.Join(dir, "second.ts")
	recordRTMP(t, url, second, 45)
	ns2 := frameNumbers(t, second, w, h)
	ss = streamStats(t, srv, "/cam")
	checkSequence(t, "played back after the restart", ns2, ss.Dropped, ss.Repeated)
	checkBarColours(t, second, w, h)
	if len(ns2) != 45 || ns2[0] <= ns1[len(ns1)-1] {
		t.Errorf("after the restart: %d frames from %d, want 45 after the first recording's last, %d", len(ns2), ns2[0], ns1[len(ns1)-1])
	}
	st := pt.Stats()
	if st.Failures < 1 || st.Reconnects < 1 {
		t.Errorf("stats %+v: want at least one failure and one reconnect", st)
	}
	if lost := logs.lines("push disconnected", "path=/cam"); len(lost) == 0 {
		t.Errorf("no 'push disconnected' line; log:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "/live/cam") {
		t.Errorf("the stream key is in the log:\n%s", logs.String())
	}
	t.Logf("first playback: frames %d to %d; after the restart: %d to %d; push %+v", ns1[0], ns1[len(ns1)-1], ns2[0], ns2[len(ns2)-1], st)
}

// hlsSegments waits until the live playlist at url lists at least n
// segments and returns their URLs, oldest first.
func hlsSegments(t *testing.T, url string, n int) []string {
	t.Helper()
	var segs []string
	waitFor(t, 20*time.Second, fmt.Sprintf("%d segments in %s", n, url), func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			return false
		}
		segs = segs[:0]
		base := url[:strings.LastIndex(url, "/")+1]
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				segs = append(segs, base+line)
			}
		}
		return len(segs) >= n
	})
	return segs
}
