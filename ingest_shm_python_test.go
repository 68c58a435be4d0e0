package framecast_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/publisher"
)

// These tests run the Python client with shared_memory (clients/python,
// docs/ingest-protocol.md "Shared memory") against a real server.

// shmStamped draws frame n of a stamped 320x240 bgr24 sequence into f, a
// numpy array of (H, W, 3): mid-grey, its number in blocks at the bottom.
const shmStamped = `
import numpy as np
W, H = 320, 240
def draw(f, n):
    f[:] = 100
    b = max(2, W // 32)
    for i in range(16):
        f[H - b:, i * b:(i + 1) * b] = 255 if n >> (15 - i) & 1 else 0
`

// shmPublishScript publishes stamped frames at 30 fps through shared memory
// until the file argv[3] exists: with "frame", drawn straight into the slot
// pub.frame() returns; with "write", drawn into an array of its own and
// copied by write. argv: address, mode, stop file.
const shmPublishScript = shmStamped + `
import os, sys, framecast
with framecast.Publisher("/cam", sys.argv[1], width=W, height=H, fps=30, realtime=True,
                         shared_memory="require", reconnect=True, timeout=20) as pub:
    own = np.empty((H, W, 3), np.uint8)
    n = 0
    while not os.path.exists(sys.argv[3]):
        if sys.argv[2] == "frame":
            view = pub.frame()
            draw(view, n)
            pub.commit()
        else:
            draw(own, n)
            pub.write(own)
        if n == 0:
            print("publishing shared_memory=%s" % pub.shared_memory, flush=True)
        n += 1
    print("sent", n, "lost", pub.frames_lost, "reconnects", pub.reconnects,
          "shared_memory", pub.shared_memory, flush=True)
`

// TestPythonSharedMemoryFramesDecodeInOrder publishes stamped frames from
// Python through shared memory, drawn into the slot (frame/commit: no copy)
// and copied by write: ffmpeg decodes them in order.
func TestPythonSharedMemoryFramesDecodeInOrder(t *testing.T) {
	testkit.Need(t, "ffmpeg")
	const w, h = 320, 240
	for _, mode := range []string{"frame", "write"} {
		t.Run(mode, func(t *testing.T) {
			srv := newServer(t, framecast.Config{})
			addr := listenIngestUnix(t, srv)
			stop := filepath.Join(t.TempDir(), "stop")
			py := startPython(t, "-c", shmPublishScript, addr, mode, stop)
			py.waitOutput(t, "publishing shared_memory=True", 15*time.Second)
			if st := srv.IngestStats(); st.FrameMemory < 4*w*h*3 {
				t.Errorf("FrameMemory = %d, want the ring of 4 frames of %d bytes mapped", st.FrameMemory, w*h*3)
			}
			checkRisingFrames(t, srv, testkit.FFmpeg(t, url(srv, "/cam"), "tcp", "bgr24", w, h), w, h, bgrNumber)
			os.WriteFile(stop, nil, 0o600)
			out := py.wait(t, 20*time.Second)
			if !strings.Contains(out, "shared_memory True") {
				t.Errorf("the script did not end on shared memory:\n%s", out)
			}
		})
	}
}

// shmKilledScript writes 10 frames through shared memory, then takes a
// slot with frame() and is killed while drawing into it. argv: address.
const shmKilledScript = shmStamped + `
import sys, time, framecast
pub = framecast.Publisher("/cam", sys.argv[1], width=W, height=H, fps=30, shared_memory="require")
own = np.empty((H, W, 3), np.uint8)
for n in range(10):
    draw(own, n)
    pub.write(own)
view = pub.frame()
view[: H // 2] = 255  # half a frame, never committed
print("mid-write", flush=True)
time.sleep(120)
`

// TestPythonSharedMemoryProducerKilledMidWrite: a producer killed with
// SIGKILL between frame() and commit() leaves nothing: the slot it drew
// into was never marked ready, so it is never encoded; the connection and
// the ring go, and the stream lingers for the next producer, as any other.
func TestPythonSharedMemoryProducerKilledMidWrite(t *testing.T) {
	srv := newServer(t, framecast.Config{Linger: time.Hour})
	addr := listenIngestUnix(t, srv)
	py := startPython(t, "-c", shmKilledScript, addr)
	py.waitOutput(t, "mid-write", 15*time.Second)
	waitFor(t, 10*time.Second, "the 10 frames written", func() bool {
		st := srv.Streams()
		return len(st) == 1 && st[0].Stats.FramesIn == 10
	})
	if err := py.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the killed producer's connection and ring gone", func() bool {
		st := srv.IngestStats()
		return st.Connections == 0 && st.FrameMemory == 0
	})
	st := srv.Streams()
	if len(st) != 1 || st[0].Producer != "" || st[0].Stats.FramesIn != 10 {
		t.Fatalf("after the kill: %+v; want /cam lingering without a producer, 10 frames in", st)
	}
	// The path is free for the next producer, over shared memory again.
	f := framecast.Format{PixelFormat: framecast.BGR24, Width: 320, Height: 240, FPS: 30}
	pub := dialShared(t, addr, "/cam", f, publisher.SharedMemory{Required: true})
	if err := pub.WriteFrame(make([]byte, 320*240*3)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the next producer's frame", func() bool {
		st := srv.Streams()
		return len(st) == 1 && st[0].Producer != "" && st[0].Stats.FramesIn >= 1 // a new stream's counters
	})
}

// TestPythonSharedMemoryReconnectsAcrossAServerRestart: with
// reconnect=True, a producer on shared memory outlives its server; on the
// new server (same socket) it maps a new ring and its frames decode in
// order.
func TestPythonSharedMemoryReconnectsAcrossAServerRestart(t *testing.T) {
	testkit.Need(t, "ffmpeg")
	const w, h = 320, 240
	first := newServer(t, framecast.Config{})
	addr := listenIngestUnix(t, first)
	stop := filepath.Join(t.TempDir(), "stop")
	py := startPython(t, "-c", shmPublishScript, addr, "frame", stop)
	py.waitOutput(t, "publishing shared_memory=True", 15*time.Second)
	waitFor(t, 10*time.Second, "frames on the first server", func() bool {
		st := first.Streams()
		return len(st) == 1 && st[0].Stats.FramesIn > 10
	})
	first.Close()
	time.Sleep(300 * time.Millisecond) // frames now go nowhere: the producer counts them lost

	second := newServer(t, framecast.Config{})
	if _, err := second.ListenIngest(addr); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the producer back, with a new ring", func() bool {
		st := second.Streams()
		return len(st) == 1 && st[0].Producer != "" && second.IngestStats().FrameMemory >= 4*w*h*3
	})
	checkRisingFrames(t, second, testkit.FFmpeg(t, url(second, "/cam"), "tcp", "bgr24", w, h), w, h, bgrNumber)
	os.WriteFile(stop, nil, 0o600)
	out := py.wait(t, 20*time.Second)
	m := regexp.MustCompile(`sent (\d+) lost (\d+) reconnects (\d+) shared_memory (\w+)`).FindStringSubmatch(out)
	if m == nil || m[3] != "1" || m[4] != "True" {
		t.Fatalf("want 1 reconnect and shared memory at the end; output:\n%s", out)
	}
	t.Logf("across the restart: %s frames sent, %s lost, %s reconnect", m[1], m[2], m[3])
}

// TestPythonSharedMemoryFallsBackOrRefuses: shared_memory=True over TCP
// sends frames over the socket; "require" says why it cannot.
func TestPythonSharedMemoryFallsBackOrRefuses(t *testing.T) {
	srv := newServer(t, framecast.Config{Linger: time.Hour})
	tcp := listenIngestTCP(t, srv)
	script := shmStamped + `
import sys, framecast
with framecast.Publisher("/cam", sys.argv[1], width=W, height=H, shared_memory=True) as pub:
    f = pub.frame()
    draw(f, 7)
    pub.commit()
    print("shared_memory", pub.shared_memory, flush=True)
try:
    framecast.Publisher("/other", sys.argv[1], width=W, height=H, shared_memory="require")
except ValueError as e:
    print("refused:", e, flush=True)
`
	out := startPython(t, "-c", script, tcp).wait(t, 20*time.Second)
	if !strings.Contains(out, "shared_memory False") || !strings.Contains(out, "refused: shared_memory='require' needs a unix:// address") {
		t.Errorf("output:\n%s", out)
	}
	if st := srv.Streams(); len(st) != 1 || st[0].Stats.FramesIn != 1 {
		t.Errorf("streams %+v, want /cam with the one frame sent over TCP", st)
	}
}

// TestPythonSharedMemoryDocsExampleRuns runs docs/python.md's
// shared-memory example as written, against a real server: its 90 frames
// arrive through a ring.
func TestPythonSharedMemoryDocsExampleRuns(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("docs", "python.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := string(doc[strings.Index(string(doc), "## Shared memory"):])
	code := section[strings.Index(section, "```python\n")+len("```python\n"):]
	code = code[:strings.Index(code, "```")]
	srv := newServer(t, framecast.Config{Linger: time.Hour})
	addr := listenIngestUnix(t, srv)
	if !strings.Contains(code, "unix:///tmp/framecast.sock") {
		t.Fatalf("the example does not publish to unix:///tmp/framecast.sock:\n%s", code)
	}
	code = strings.ReplaceAll(code, "unix:///tmp/framecast.sock", addr)
	code = strings.Replace(code, "pub.close()", "print('shared_memory', pub.shared_memory)\npub.close()", 1)
	out := startPython(t, "-c", code).wait(t, 30*time.Second)
	if !strings.Contains(out, "shared_memory True") {
		t.Errorf("the example did not publish through shared memory:\n%s", out)
	}
	if st := srv.Streams(); len(st) != 1 || st[0].Stats.FramesIn != 90 {
		t.Errorf("streams %+v, want /cam with the example's 90 frames", st)
	}
}
