package framecast_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testkit"
)

// These tests run Python programs that use the client's VideoWriter,
// reconnect, takeover and realtime options against the real server: the
// framecast binary, which VideoWriter starts as its child, or a server in
// this process.

// buildFramecast builds cmd/framecast into a temporary directory and
// returns its path.
func buildFramecast(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "framecast")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/framecast").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/framecast: %v\n%s", err, out)
	}
	return bin
}

// startPythonWith is startPython with more environment variables.
func startPythonWith(t *testing.T, env []string, args ...string) *pyProc {
	t.Helper()
	py := pythonExe(t)
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &pyProc{cmd: exec.CommandContext(ctx, py, args...), out: &testkit.Buffer{}, done: make(chan struct{})}
	p.cmd.Env = append(append(os.Environ(), "PYTHONPATH="+filepath.Join(root, "clients", "python"),
		"PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1"), env...)
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

// freeTCPPort returns a TCP port on 127.0.0.1 nobody listens on now.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// serverPID finds the framecast process run from bin that serves RTSP on
// rtsp, by the command lines in /proc.
func serverPID(t *testing.T, bin, rtsp string) int {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		args := strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00")
		if len(args) < 2 || args[0] != bin {
			continue
		}
		for i := range args[:len(args)-1] {
			if args[i] == "--rtsp" && args[i+1] == rtsp {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
				return pid
			}
		}
	}
	t.Fatalf("no framecast process of %s serves %s", bin, rtsp)
	return 0
}

// waitProcessGone waits until pid has exited and nothing listens on addr.
func waitProcessGone(t *testing.T, pid int, addr string, timeout time.Duration, after string) {
	t.Helper()
	testkit.WaitProcessGone(t, pid, timeout, after)
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("something still listens on %s after the server (pid %d) exited", addr, pid)
	}
}

func needLinuxProc(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("finds the server's process in /proc")
	}
}

// stampedColours defines frame(n): a 320x240 bgr24 frame, solid blue, green
// or red by n // 60, with n stamped on it as testsrc.StampNumber does.
const stampedColours = `
import numpy as np
W, H = 320, 240
def frame(n):
    f = np.empty((H, W, 3), np.uint8)
    f[:] = [(255, 0, 0), (0, 255, 0), (0, 0, 255)][n // 60 % 3]  # B, G, R
    b = max(2, W // 32)
    for i in range(16):
        f[H - b:, i * b:(i + 1) * b] = 255 if n >> (15 - i) & 1 else 0
    return f
`

// videoWriterScript is the four lines of docs/python.md's OpenCV port,
// with frame(n) standing for the camera. argv: URL, frames.
const videoWriterScript = stampedColours + `
import sys, framecast
out = framecast.VideoWriter(sys.argv[1], fps=30, frame_size=(W, H), realtime=True)
for n in range(int(sys.argv[2])):
    out.write(frame(n))
`

// TestPythonVideoWriterStartsTheServerAndItsColoursArrive: a VideoWriter on
// a port nobody serves starts the framecast binary, prints the URL to
// watch, and ffmpeg decodes blue, green and red frames as drawn; when the
// script ends, the server it started ends too.
func TestPythonVideoWriterStartsTheServerAndItsColoursArrive(t *testing.T) {
	needLinuxProc(t)
	const w, h = 320, 240
	bin := buildFramecast(t)
	rtsp := "127.0.0.1:" + strconv.Itoa(freeTCPPort(t))
	u := "rtsp://" + rtsp + "/cam"
	py := startPythonWith(t, []string{"FRAMECAST_BINARY=" + bin}, "-c", videoWriterScript, u, "420")
	py.waitOutput(t, "framecast: publishing 320x240 at "+u+"; watch it with: ffplay -rtsp_transport tcp "+u, 20*time.Second)
	pid := serverPID(t, bin, rtsp)
	checkSolidColours(t, testkit.FFmpeg(t, u, "tcp", "bgr24", w, h), w, h)
	py.wait(t, 30*time.Second)
	waitProcessGone(t, pid, rtsp, 15*time.Second, "the script exited")
}

// TestPythonVideoWriterServerDiesWhenTheScriptIsKilled: SIGKILL leaves the
// script no chance to stop its server; the server stops by itself (the end
// of its standard input, and on Linux PR_SET_PDEATHSIG).
func TestPythonVideoWriterServerDiesWhenTheScriptIsKilled(t *testing.T) {
	needLinuxProc(t)
	bin := buildFramecast(t)
	rtsp := "127.0.0.1:" + strconv.Itoa(freeTCPPort(t))
	py := startPythonWith(t, []string{"FRAMECAST_BINARY=" + bin}, "-c", videoWriterScript, "rtsp://"+rtsp+"/cam", "100000")
	py.waitOutput(t, "framecast: publishing", 20*time.Second)
	pid := serverPID(t, bin, rtsp)
	py.cmd.Process.Kill()
	<-py.done
	waitProcessGone(t, pid, rtsp, 15*time.Second, "the script was killed with SIGKILL")
}

// reconnectScript publishes frame(n) on /cam at 30 fps with reconnect=True
// until a file appears, then says what it lost. argv: address, stop file.
const reconnectScript = stampedColours + `
import os, sys, framecast
with framecast.Publisher("/cam", sys.argv[1], width=W, height=H, fps=30, reconnect=True,
                         realtime=True, timeout=20) as pub:
    n = 0
    while not os.path.exists(sys.argv[2]):
        pub.write(frame(n))
        if n == 0:
            print("publishing", flush=True)
        n += 1
    print("sent", n, "lost", pub.frames_lost, "reconnects", pub.reconnects, flush=True)
`

// TestPythonPublisherReconnectsAcrossAServerRestart: the server goes away
// and comes back on the same ingest address; the producer goes on by
// itself, and the new server's viewers get its frames, numbered after
// those the old one showed and in order; the frames in between were
// counted as lost.
func TestPythonPublisherReconnectsAcrossAServerRestart(t *testing.T) {
	const w, h = 320, 240
	first := newServer(t, framecast.Config{})
	ingest := listenIngestTCP(t, first)
	stop := filepath.Join(t.TempDir(), "stop")
	py := startPython(t, "-c", reconnectScript, ingest, stop)
	py.waitOutput(t, "publishing", 15*time.Second)
	dec := testkit.FFmpeg(t, url(first, "/cam"), "tcp", "bgr24", w, h)
	var before uint32
	for range 30 {
		before = max(before, bgrNumber(dec.Next(t, 10*time.Second), w, h))
	}
	dec.Stop()
	first.Close()
	time.Sleep(500 * time.Millisecond) // frames now go nowhere: the producer counts them lost

	second := newServer(t, framecast.Config{})
	if _, err := second.ListenIngest(ingest); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for st := second.Streams(); len(st) == 0 || st[0].Producer == ""; st = second.Streams() {
		if time.Now().After(deadline) {
			t.Fatalf("the producer did not reconnect within 15 s; output:\n%s", py.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	dec2 := testkit.FFmpeg(t, url(second, "/cam"), "tcp", "bgr24", w, h)
	prev := bgrNumber(dec2.Next(t, 10*time.Second), w, h)
	if prev <= before+1 {
		t.Fatalf("after the restart came frame %d, the old server showed up to %d", prev, before)
	}
	for range 30 {
		n := bgrNumber(dec2.Next(t, 5*time.Second), w, h)
		if n < prev || n > prev+10 {
			t.Fatalf("frame %d after %d: out of order", n, prev)
		}
		prev = n
	}
	dec2.Stop()
	if err := os.WriteFile(stop, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out := py.wait(t, 20*time.Second)
	m := regexp.MustCompile(`sent (\d+) lost (\d+) reconnects (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the script did not say what it lost; output:\n%s", out)
	}
	if lost, _ := strconv.Atoi(m[2]); lost == 0 || m[3] != "1" {
		t.Fatalf("lost %s frames with %s reconnects, want some lost and 1 reconnect; output:\n%s", m[2], m[3], out)
	}
	t.Logf("across the restart: %s frames sent, %s lost, %s reconnect", m[1], m[2], m[3])
}

// takeoverScript publishes frame(first + n) on /cam at 30 fps, with
// takeover=True when told, and reconnect=True (which must not fight back
// after being replaced). It prints the error that ends it. argv: address,
// first frame number, "takeover" or "".
const takeoverScript = stampedColours + `
import sys, framecast
first, takeover = int(sys.argv[2]), sys.argv[3] == "takeover"
try:
    with framecast.Publisher("/cam", sys.argv[1], width=W, height=H, fps=30, realtime=True,
                             reconnect=True, takeover=takeover) as pub:
        for n in range(100000):
            pub.write(frame(first + n))
            if n == 0:
                print("publishing", flush=True)
except framecast.Error as e:
    print("ended: %s %s retryable=%s: %s" % (type(e).__name__, getattr(e, "name", ""), e.retryable, e), flush=True)
`

// TestPythonTakeoverReplacesTheOldProducer: a second Python producer with
// takeover=True gets the path; the first is told it was replaced and stops
// (its reconnect does not take the path back), and the viewer that stayed
// sees the second's frames.
func TestPythonTakeoverReplacesTheOldProducer(t *testing.T) {
	const w, h = 320, 240
	srv := newServer(t, framecast.Config{})
	ingest := listenIngestTCP(t, srv)
	a := startPython(t, "-c", takeoverScript, ingest, "0", "")
	a.waitOutput(t, "publishing", 15*time.Second)
	dec := testkit.FFmpeg(t, url(srv, "/cam"), "tcp", "bgr24", w, h)
	for n := uint32(0); n < 10 || n >= 5000; {
		n = bgrNumber(dec.Next(t, 10*time.Second), w, h)
	}
	b := startPython(t, "-c", takeoverScript, ingest, "5000", "takeover")
	b.waitOutput(t, "publishing", 15*time.Second)
	out := a.wait(t, 15*time.Second)
	if !regexp.MustCompile(`ended: ServerError replaced retryable=False: another producer \(from 127\.0\.0\.1:\d+\) took over /cam`).MatchString(out) {
		t.Fatalf("the replaced producer did not end with a replaced ServerError; output:\n%s", out)
	}
	for n := uint32(0); n < 5000; {
		n = bgrNumber(dec.Next(t, 10*time.Second), w, h)
	}
	prev := uint32(5000)
	for range 20 {
		n := bgrNumber(dec.Next(t, 5*time.Second), w, h)
		if n < prev || n > prev+10 {
			t.Fatalf("frame %d after %d of the new producer", n, prev)
		}
		prev = n
	}
}

// realtimeScript writes 151 frames as fast as it can, paced by
// realtime=True at 30 fps, and prints the rate it achieved. argv: address.
const realtimeScript = `
import sys, time, framecast
with framecast.Publisher("/cam", sys.argv[1], width=64, height=48, pixel_format="gray", fps=30,
                         realtime=True) as pub:
    frame = bytes(64 * 48)
    pub.write(frame)
    t0 = time.monotonic()
    for _ in range(150):
        pub.write(frame)
    print("rate %.3f" % (150 / (time.monotonic() - t0)), flush=True)
`

// TestPythonRealtimePacesFramesToTheirRate: realtime=True sends at the
// nominal rate, as ffmpeg -re does. The bound is generous for a loaded
// machine; the figure is logged.
func TestPythonRealtimePacesFramesToTheirRate(t *testing.T) {
	srv := newServer(t, framecast.Config{})
	py := startPython(t, "-c", realtimeScript, listenIngestTCP(t, srv))
	out := py.wait(t, 30*time.Second)
	m := regexp.MustCompile(`rate ([0-9.]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no rate printed; output:\n%s", out)
	}
	rate, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("realtime=True at 30 fps sent %.2f frames/s (%+.1f %%)", rate, (rate/30-1)*100)
	if rate < 30*0.8 || rate > 30*1.05 {
		t.Fatalf("realtime=True at 30 fps sent %.2f frames/s", rate)
	}
}
