// Package testkit holds what framecast's end-to-end tests share: free ports,
// real clients (ffmpeg, ffprobe, gst-launch-1.0) run as child processes, and
// readers of the pixels they decode. It is used by tests only.
package testkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Need skips the test when tool is not on PATH, except in CI (CI set), where
// every tool is installed by the Makefile and a missing one is a failure.
func Need(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed (CI must install it: make deps)", tool)
			}
			t.Skipf("%s is not installed; run make deps", tool)
		}
	}
}

// UDPPair returns two free UDP addresses on 127.0.0.1: an even port for RTP
// and the next one for RTCP, as gortsplib requires.
func UDPPair(t testing.TB) (rtp, rtcp string) {
	t.Helper()
	for range 100 {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if port%2 == 1 {
			port--
		}
		a, errA := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		b, errB := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port+1))
		if errA == nil {
			a.Close()
		}
		if errB == nil {
			b.Close()
		}
		if errA == nil && errB == nil {
			return fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", port+1)
		}
	}
	t.Fatal("no free UDP port pair")
	return "", ""
}

// Frames decodes frames of an RTSP stream with ffmpeg into raw pixels.
type Frames struct {
	cmd    *exec.Cmd
	out    io.ReadCloser
	stderr *Buffer
	size   int
}

// Buffer is a bytes.Buffer safe for a child process to write while a test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// FFmpeg starts ffmpeg reading url over transport ("tcp" or "udp") and
// writing decoded frames as rawvideo in pixFmt ("gray", "bgr24") of w x h.
// The process is killed when the test ends.
func FFmpeg(t testing.TB, url, transport, pixFmt string, w, h int, extra ...string) *Frames {
	t.Helper()
	Need(t, "ffmpeg")
	bpp := map[string]int{"gray": 1, "bgr24": 3, "rgb24": 3}[pixFmt]
	if bpp == 0 {
		t.Fatalf("testkit: pixel format %s not supported", pixFmt)
	}
	args := []string{"-nostdin", "-v", "error", "-rtsp_transport", transport, "-timeout", "5000000"}
	args = append(args, extra...)
	// passthrough: one output frame per decoded frame, never duplicated
	// or dropped to fit a constant rate.
	args = append(args, "-i", url, "-an", "-fps_mode", "passthrough", "-enc_time_base", "-1", "-f", "rawvideo", "-pix_fmt", pixFmt, "pipe:1")
	return start(t, exec.Command("ffmpeg", args...), w*h*bpp)
}

// Gst starts gst-launch-1.0 rtspsrc → rtph264depay → avdec_h264 writing
// decoded GRAY8 frames of w x h to stdout. rtspsrc has latency=0 and
// protocols=tcp, and then the properties in extra ("protocols=udp").
func Gst(t testing.TB, url string, w, h int, extra ...string) *Frames {
	t.Helper()
	Need(t, "gst-launch-1.0")
	args := append([]string{"-q", "rtspsrc", "location=" + url, "latency=0", "protocols=tcp"}, extra...)
	args = append(args, "!", "rtph264depay", "!", "avdec_h264", "!", "videoconvert", "!",
		"video/x-raw,format=GRAY8", "!", "fdsink", "fd=1")
	return start(t, exec.Command("gst-launch-1.0", args...), w*h)
}

func start(t testing.TB, cmd *exec.Cmd, size int) *Frames {
	t.Helper()
	f := &Frames{cmd: cmd, stderr: &Buffer{}, size: size}
	cmd.Stderr = f.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	f.out = out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	t.Cleanup(f.Stop)
	return f
}

// Next reads the next decoded frame, failing the test after timeout.
func (f *Frames) Next(t testing.TB, timeout time.Duration) []byte {
	t.Helper()
	buf, err := f.TryNext(timeout)
	if err != nil {
		t.Fatal(err)
	}
	return buf
}

// TryNext is Next returning what went wrong instead of failing the test;
// after a timeout the client is stopped.
func (f *Frames) TryNext(timeout time.Duration) ([]byte, error) {
	buf := make([]byte, f.size)
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(f.out, buf)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return nil, fmt.Errorf("%s: reading a frame: %w; stderr: %s", f.cmd.Args[0], err, f.Stderr())
		}
	case <-time.After(timeout):
		f.Stop()
		<-done
		return nil, fmt.Errorf("%s: no frame within %v; stderr: %s", f.cmd.Args[0], timeout, f.Stderr())
	}
	return buf, nil
}

// Stderr is what the client has written to standard error so far.
func (f *Frames) Stderr() string { return strings.TrimSpace(f.stderr.String()) }

// Ended reports whether the client exits by itself (its stream ended)
// within timeout, reading what it still writes.
func (f *Frames) Ended(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, f.out)
		close(done)
	}()
	select {
	case <-done:
		f.cmd.Wait()
		return true
	case <-time.After(timeout):
		f.Stop()
		<-done
		return false
	}
}

// Stop kills the client and waits for it.
func (f *Frames) Stop() {
	if f.cmd.ProcessState == nil && f.cmd.Process != nil {
		f.cmd.Process.Kill()
		f.cmd.Wait()
	}
}

// ErrStop, returned by Every's f, ends the calls without failing the test
// (for example, a producer whose server the test closed).
var ErrStop = errors.New("testkit: stop")

// Every calls f now and then every period, from a goroutine of its own,
// until f returns an error (reported with t.Error, except ErrStop) or the
// test ends; the test's cleanup waits for the goroutine.
func Every(t testing.TB, period time.Duration, f func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			if err := f(); err != nil {
				if !errors.Is(err, ErrStop) {
					t.Error(err)
				}
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// Command is exec.CommandContext for a tool the test needs.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, name, args...)
}

// Run runs a command with a timeout and returns its combined output.
func Run(t testing.TB, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	Need(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}
