package framecast_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/testsrc"
)

// These tests run the Python client (clients/python) as a child process
// against a real server, and decode what it publishes with ffmpeg.

// pythonExe is the interpreter with numpy: $PYTHON, else Debian's
// /usr/bin/python3 (make deps installs python3-numpy for it), else python3 on
// PATH.
func pythonExe(t *testing.T) string {
	t.Helper()
	py := os.Getenv("PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
		if _, err := os.Stat(py); err != nil {
			py = "python3"
		}
	}
	testkit.Need(t, py)
	if out, err := exec.Command(py, "-c", "import numpy").CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s has no numpy (make deps installs python3-numpy): %s", py, out)
		}
		t.Skipf("%s has no numpy; run make deps: %s", py, out)
	}
	return py
}

// pyProc is a Python child process whose output the test can watch.
type pyProc struct {
	cmd  *exec.Cmd
	out  *testkit.Buffer // stdout and stderr
	done chan struct{}   // closed when the process has exited
	err  error           // its exit status, once done
}

// startPython runs python with args (a script and its arguments, or -c CODE)
// from the repository root with the client on PYTHONPATH. The process is
// killed when the test ends.
func startPython(t *testing.T, args ...string) *pyProc {
	t.Helper()
	py := pythonExe(t)
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &pyProc{cmd: exec.CommandContext(ctx, py, args...), out: &testkit.Buffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(root, "clients", "python"),
		"PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", py, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	return p
}

// waitOutput waits until the child has printed text, failing the test if it
// exits first or timeout passes.
func (p *pyProc) waitOutput(t *testing.T, text string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(p.out.String(), text) {
		select {
		case <-p.done:
			if strings.Contains(p.out.String(), text) {
				return
			}
			t.Fatalf("python exited (%v) before printing %q; output:\n%s", p.err, text, p.out)
		case <-deadline:
			t.Fatalf("python did not print %q within %v; output:\n%s", text, timeout, p.out)
		case <-tick.C:
		}
	}
}

// wait waits for the child to exit and fails the test unless it exits 0.
func (p *pyProc) wait(t *testing.T, timeout time.Duration) string {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("python still running after %v; output:\n%s", timeout, p.out)
	}
	if p.err != nil {
		t.Fatalf("python: %v; output:\n%s", p.err, p.out)
	}
	return p.out.String()
}

// ingestURLs starts an ingest listener of each kind on srv and returns their
// URLs by kind: "tcp" and "unix".
func ingestURLs(t *testing.T, srv *framecast.Server) map[string]string {
	t.Helper()
	addr, err := srv.ListenIngest("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A short directory: a Unix socket path has at most 107 bytes.
	dir, err := os.MkdirTemp("", "fc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := "unix://" + filepath.Join(dir, "ingest.sock")
	if _, err := srv.ListenIngest(sock); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"tcp": "tcp://" + addr.String(), "unix": sock}
}

// bgrNumber reads the frame number stamped (testsrc.StampNumber's blocks) on a
// decoded bgr24 frame, from its green channel.
func bgrNumber(frame []byte, w, h int) uint32 {
	g := make([]byte, w*h)
	for i := range g {
		g[i] = frame[3*i+1]
	}
	return testsrc.ReadNumber(g, w, h, w)
}

// meanBGR is the mean B, G, R of the size x size square centred at (x, y).
func meanBGR(frame []byte, w, x, y, size int) [3]int {
	var sum [3]int
	for yy := y - size/2; yy < y+size/2; yy++ {
		for xx := x - size/2; xx < x+size/2; xx++ {
			for c := range 3 {
				sum[c] += int(frame[(yy*w+xx)*3+c])
			}
		}
	}
	for c := range sum {
		sum[c] /= size * size
	}
	return sum
}

// solidColours publishes 320x240 bgr24 frames at 30 fps, 60 of solid blue,
// then 60 green, then 60 red, and again, each stamped with its number.
// argv: address, path, frames.
const solidColours = `
import sys, time
import numpy as np
from framecast import Publisher

w, h = 320, 240
colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]  # blue, green, red as B, G, R
block = max(2, w // 32)
with Publisher(sys.argv[2], sys.argv[1], fps=30, options={"bitrate": 1000}) as pub:
    start = time.monotonic()
    for n in range(int(sys.argv[3])):
        frame = np.empty((h, w, 3), np.uint8)
        frame[:] = colours[n // 60 % 3]
        for i in range(16):
            frame[h - block:, i * block:(i + 1) * block] = 255 if n >> (15 - i) & 1 else 0
        pub.write(frame)
        if n == 0:
            print("publishing", flush=True)
        time.sleep(max(0, start + (n + 1) / 30 - time.monotonic()))
`

// TestPythonBGRFramesKeepTheirColours publishes solid blue, green and red
// bgr24 frames from Python over each socket kind and checks the decoded
// colours: a BGR/RGB swap anywhere turns blue into red.
func TestPythonBGRFramesKeepTheirColours(t *testing.T) {
	const w, h = 320, 240
	srv := newServer(t, framecast.Config{})
	urls := ingestURLs(t, srv)
	for _, kind := range []string{"tcp", "unix"} {
		t.Run(kind, func(t *testing.T) {
			path := "/py-" + kind
			py := startPython(t, "-c", solidColours, urls[kind], path, "600")
			py.waitOutput(t, "publishing", 15*time.Second)
			checkSolidColours(t, testkit.FFmpeg(t, url(srv, path), "tcp", "bgr24", w, h), w, h)
		})
	}
}

// wrongSize publishes 150 black 320x240 bgr24 frames stamped with their
// numbers on /py at 30 fps, but sends 1000 bytes in place of frame 60. It
// prints what write raised. argv: address.
const wrongSize = `
import sys, time
import numpy as np
from framecast import Publisher, ServerError

w, h = 320, 240
block = max(2, w // 32)
raised = 0
with Publisher("/py", sys.argv[1], width=w, height=h, pixel_format="bgr24") as pub:
    start = time.monotonic()
    for n in range(150):
        frame = np.zeros((h, w, 3), np.uint8)
        for i in range(16):
            frame[h - block:, i * block:(i + 1) * block] = 255 if n >> (15 - i) & 1 else 0
        try:
            pub.write(bytes(1000) if n == 60 else frame)
        except ServerError as e:
            raised += 1
            print("ServerError code=%d name=%s fatal=%s: %s" % (e.code, e.name, e.fatal, e), flush=True)
        if n == 0:
            print("publishing", flush=True)
        time.sleep(max(0, start + (n + 1) / 30 - time.monotonic()))
print("raised", raised, flush=True)
`

// TestPythonWrongSizeFrameRaisesServerErrorAndStreamGoesOn: the server
// refuses a frame of the wrong size with a message naming both sizes, the
// Python client raises it as ServerError, and the stream goes on.
func TestPythonWrongSizeFrameRaisesServerErrorAndStreamGoesOn(t *testing.T) {
	const w, h = 320, 240
	srv := newServer(t, framecast.Config{})
	py := startPython(t, "-c", wrongSize, ingestURLs(t, srv)["tcp"])
	py.waitOutput(t, "publishing", 15*time.Second)
	dec := testkit.FFmpeg(t, url(srv, "/py"), "tcp", "bgr24", w, h)
	for n := uint32(0); n < 120; {
		n = bgrNumber(dec.Next(t, 10*time.Second), w, h)
	}
	out := py.wait(t, 20*time.Second)
	m := regexp.MustCompile(`ServerError code=9 name=frame-size fatal=False: (.*)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("python did not print a non-fatal frame-size ServerError; output:\n%s", out)
	}
	for _, size := range []string{"1000", strconv.Itoa(w * h * 3)} {
		if !strings.Contains(m[1], size) {
			t.Errorf("error message %q does not name the size %s", m[1], size)
		}
	}
	if !strings.Contains(out, "raised 1\n") {
		t.Errorf("want exactly one error raised; output:\n%s", out)
	}
}

// TestPythonSyntheticExampleFramesArriveInOrder runs examples/python/synthetic.py
// as the README shows it and decodes its colour bars and frame numbers.
func TestPythonSyntheticExampleFramesArriveInOrder(t *testing.T) {
	const w, h = 640, 360
	srv := newServer(t, framecast.Config{})
	py := startPython(t, "examples/python/synthetic.py", "--address", ingestURLs(t, srv)["tcp"],
		"--path", "/cam", "--size", fmt.Sprintf("%dx%d", w, h), "--fps", "30", "--frames", "90")
	py.waitOutput(t, "rtsp://127.0.0.1:8554/cam", 15*time.Second)
	dec := testkit.FFmpeg(t, url(srv, "/cam"), "tcp", "bgr24", w, h)
	frame := dec.Next(t, 10*time.Second)
	first := bgrNumber(frame, w, h)
	p := testsrc.New(w, h) // synthetic.py draws testsrc's bars
	for i, bar := range testsrc.Bars {
		x, y := p.BarCenter(i)
		got := meanBGR(frame, w, x, y, 8)
		want := [3]int{int(bar.B), int(bar.G), int(bar.R)}
		for c := range 3 {
			if d := got[c] - want[c]; d < -20 || d > 20 {
				t.Errorf("bar %s: decoded B,G,R = %v, want %v ±20", bar.Name, got, want)
				break
			}
		}
	}
	if first > 75 {
		t.Fatalf("first decoded frame is %d: the viewer came too late to check order", first)
	}
	// In order; a frame may be missing only if the server counted it as
	// dropped (its encoder behind, on a loaded machine).
	missing := 0
	for prev := first; prev < 89; {
		n := bgrNumber(dec.Next(t, 5*time.Second), w, h)
		if n == prev {
			continue // the last picture again, as an IDR for a joining viewer
		}
		if n < prev {
			t.Fatalf("decoded frame %d after %d: out of order", n, prev)
		}
		missing += int(n - prev - 1)
		prev = n
	}
	py.wait(t, 15*time.Second)
	var dropped uint64
	for _, in := range srv.Streams() {
		dropped += in.Stats.Dropped
	}
	if uint64(missing) > dropped {
		t.Fatalf("%d frames missing, but the server dropped only %d", missing, dropped)
	}
}

// TestPythonPublishes1080pOverUnixSocket measures how many 1920x1080 bgr24
// frames per second Python sends over a Unix socket while a viewer watches,
// so the server converts and encodes them. It logs the rate and the
// server's count of frames encoded and dropped, and asserts nothing about
// speed.
func TestPythonPublishes1080pOverUnixSocket(t *testing.T) {
	if testing.Short() {
		t.Skip("an 8 s measurement")
	}
	testkit.Need(t, "ffmpeg")
	// The server's log says, when the producer leaves, what it did with the frames.
	logs := &testkit.Buffer{}
	cfg := framecast.Config{RTSPAddress: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(logs, nil))}
	cfg.UDPRTPAddress, cfg.UDPRTCPAddress = testkit.UDPPair(t)
	srv, err := framecast.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	py := startPython(t, "examples/python/bench_publish.py", "--address", ingestURLs(t, srv)["unix"],
		"--path", "/bench", "--size", "1920x1080", "--warmup", "3", "--seconds", "5")
	py.waitOutput(t, "publishing", 15*time.Second)
	// A viewer that receives the stream without decoding it, so that the
	// server encodes while it costs little CPU itself.
	ctx, cancel := context.WithCancel(context.Background())
	viewer := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp",
		"-i", url(srv, "/bench"), "-c", "copy", "-f", "null", "-")
	if err := viewer.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	defer func() {
		cancel()
		viewer.Wait()
	}()

	out := py.wait(t, 60*time.Second)
	m := regexp.MustCompile(`[0-9.]+ frames/s.*`).FindString(out)
	if m == "" {
		t.Fatalf("bench_publish.py printed no rate:\n%s", out)
	}
	t.Logf("Python publisher, 1920x1080 bgr24 over a Unix socket, with a viewer: %s", m)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(logs.String(), "producer left") {
		time.Sleep(20 * time.Millisecond)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "producer left") {
			t.Logf("server: %s", line[strings.Index(line, "msg="):])
		}
	}
}

// checkSolidColours reads dec until it has seen ten frames of each colour of
// a solid-colour producer (blue, green, red, 60 frames each, numbered):
// each decoded within ±20 of the colour drawn.
func checkSolidColours(t *testing.T, dec *testkit.Frames, w, h int) {
	t.Helper()
	names := [3]string{"blue", "green", "red"}
	wants := [3][3]int{{255, 0, 0}, {0, 255, 0}, {0, 0, 255}}
	var seen [3]int
	for frames := 0; seen[0] < 10 || seen[1] < 10 || seen[2] < 10; frames++ {
		if frames > 400 {
			t.Fatalf("decoded %d frames but saw blue, green, red only %v times", frames, seen)
		}
		frame := dec.Next(t, 10*time.Second)
		n := bgrNumber(frame, w, h)
		if n%60 < 5 {
			continue // the encoder may need a few frames after a change of colour
		}
		i := n / 60 % 3
		got := meanBGR(frame, w, w/2, h/3, 16)
		for c := range 3 {
			if d := got[c] - wants[i][c]; d < -20 || d > 20 {
				t.Fatalf("frame %d, drawn %s: decoded B,G,R = %v, want %v ±20 (a BGR/RGB swap turns blue into red)",
					n, names[i], got, wants[i])
			}
		}
		seen[i]++
	}
	dec.Stop()
}

// TestPythonClientUnitTests runs the client's own unittest suite
// (clients/python/tests), which checks it against a fake server.
func TestPythonClientUnitTests(t *testing.T) {
	py := startPython(t, "-m", "unittest", "discover", "-s", "clients/python/tests")
	out := py.wait(t, 2*time.Minute)
	t.Log(strings.TrimSpace(out[strings.LastIndex(out, "\nRan ")+1:]))
}
