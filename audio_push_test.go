package framecast_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testkit"
)

// TestSilentAudioTrackInEveryPush pushes a path with the silent track to
// a real receiver of each protocol and checks what it recorded: H.264 and
// AAC (48 kHz stereo), in step, the audio silent. RTMP goes to nginx-rtmp
// and is read back from it by ffmpeg; SRT to ffmpeg listening; RTSP to
// ffmpeg listening for an ANNOUNCE (-rtsp_flags listen).
func TestSilentAudioTrackInEveryPush(t *testing.T) {
	const w, h = 320, 240
	newSilentServer := func(t *testing.T) *framecast.Server {
		return newServer(t, framecast.Config{PathAudio: map[string]framecast.Audio{"/cam": framecast.AudioSilent}})
	}
	push := func(t *testing.T, srv *framecast.Server, url string) *framecast.PushTarget {
		pt, err := srv.PushWith("/cam", url, framecast.PushConfig{MinBackoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pt.Close() })
		return pt
	}
	check := func(t *testing.T, name, file string) {
		t.Helper()
		if got, want := fileCodecs(t, file), "h264,aac 48000 2"; got != want {
			t.Fatalf("%s: streams %q, want %q", name, got, want)
		}
		checkSilentTrack(t, name, file)
	}

	t.Run("rtmp", func(t *testing.T) {
		dir := t.TempDir()
		addr := freeTCPAddr(t)
		startNginxRTMP(t, dir, addr, freeTCPAddr(t))
		srv := newSilentServer(t)
		url := "rtmp://" + addr + "/live/cam"
		pt := push(t, srv, url)
		servePattern(t, srv, "/cam", w, h, 30)
		waitFor(t, 20*time.Second, "the push connected", func() bool { return pt.Stats().Connected })
		file := filepath.Join(dir, "back.mkv")
		if out, err := testkit.Run(t, 60*time.Second, "ffmpeg", "-nostdin", "-v", "error", "-rw_timeout", "20000000",
			"-i", url, "-t", "3", "-c", "copy", "-y", file); err != nil {
			t.Fatalf("ffmpeg reading %s: %v: %s", url, err, out)
		}
		check(t, "read back from nginx-rtmp", file)
	})

	t.Run("srt", func(t *testing.T) {
		addr := freeUDPAddr(t)
		file := filepath.Join(t.TempDir(), "srt.ts")
		r := startSRTListener(t, addr, "", file)
		srv := newSilentServer(t)
		pt := push(t, srv, "srt://"+addr)
		servePattern(t, srv, "/cam", w, h, 30)
		waitFor(t, 30*time.Second, "100 frames pushed", func() bool { return pt.Stats().FramesSent >= 100 })
		pt.Close()
		r.ended(t, 10*time.Second)
		check(t, "recorded by ffmpeg's SRT listener", file)
	})

	t.Run("rtsp", func(t *testing.T) {
		testkit.Need(t, "ffmpeg", "ffprobe")
		addr := freeTCPAddr(t)
		file := filepath.Join(t.TempDir(), "rtsp.mkv")
		type result struct {
			out string
			err error
		}
		rec := make(chan result, 1)
		go func() {
			out, err := testkit.Run(t, 60*time.Second, "ffmpeg", "-nostdin", "-v", "error", "-rtsp_flags", "listen",
				"-i", "rtsp://"+addr+"/live", "-t", "3", "-c", "copy", "-y", file)
			rec <- result{out, err}
		}()
		srv := newSilentServer(t)
		// The push retries until ffmpeg listens.
		push(t, srv, "rtsp://"+addr+"/live")
		servePattern(t, srv, "/cam", w, h, 30)
		if r := <-rec; r.err != nil {
			t.Fatalf("ffmpeg listening for the RTSP push: %v: %s", r.err, r.out)
		}
		check(t, "recorded by ffmpeg's RTSP listener", file)
	})
}
