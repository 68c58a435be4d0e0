package framecast_test

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/testkit"
)

// TestWheelInstallsAServerThatNeedsOnlyGlibc builds the wheel as a user does
// (make wheel), installs it offline into a fresh venv without the system's
// site packages, and runs what it installed: the bundled binary links
// libx264 and libyuv statically, `framecast` and `python -m framecast` run it,
// and it serves a stream ffprobe reads.
func TestWheelInstallsAServerThatNeedsOnlyGlibc(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server and a wheel")
	}
	const python = "/usr/bin/python3" // Debian's: make wheel-deps installs setuptools and wheel for it
	testkit.Need(t, "make", "ldd", "ffprobe", python)
	tmp := t.TempDir()
	dist := filepath.Join(tmp, "dist")
	runWheelTool(t, 5*time.Minute, ".", "make", "-s", "wheel", "DIST="+dist)
	wheels, _ := filepath.Glob(filepath.Join(dist, "framecast-*-py3-none-*.whl"))
	if len(wheels) != 1 {
		t.Fatalf("make wheel made %q in %s, want one framecast-VERSION-py3-none-PLATFORM.whl", wheels, dist)
	}
	name := filepath.Base(wheels[0])
	version := strings.Split(name, "-")[1]
	if !strings.HasSuffix(name, "_x86_64.whl") {
		t.Errorf("wheel %s: want a platform tag for this machine (manylinux_2_N_x86_64 or linux_x86_64)", name)
	}

	venv := filepath.Join(tmp, "venv")
	runWheelTool(t, 2*time.Minute, tmp, python, "-m", "venv", venv)
	runWheelTool(t, 2*time.Minute, tmp, filepath.Join(venv, "bin", "pip"), "install", "--no-index", "--no-deps",
		"--disable-pip-version-check", "--no-input", "--quiet", wheels[0])

	py := filepath.Join(venv, "bin", "python")
	bundled := strings.TrimSpace(runWheelTool(t, time.Minute, tmp, py, "-c",
		"from framecast._binary import server_binary; print(server_binary())"))
	if !strings.HasPrefix(bundled, venv+"/") || !strings.HasSuffix(bundled, "/framecast/bin/framecast") {
		t.Fatalf("server_binary() = %q, want the binary the wheel installed in %s", bundled, venv)
	}
	ldd := runWheelTool(t, time.Minute, tmp, "ldd", bundled)
	t.Logf("ldd %s:\n%s", bundled, ldd)
	for _, lib := range []string{"libx264", "libyuv", "libstdc++", "libjpeg"} {
		if strings.Contains(ldd, lib) {
			t.Errorf("the bundled server links %s dynamically; want it static:\n%s", lib, ldd)
		}
	}

	want := "framecast " + version + "\n"
	for _, args := range [][]string{
		{filepath.Join(venv, "bin", "framecast"), "--version"},
		{py, "-m", "framecast", "--version"},
	} {
		if got := runWheelTool(t, time.Minute, tmp, args[0], args[1:]...); got != want {
			t.Errorf("%s = %q, want %q (the wheel's version)", strings.Join(args, " "), got, want)
		}
	}

	addr := startWheelServer(t, filepath.Join(venv, "bin", "framecast"), tmp)
	out, err := testkit.Run(t, 20*time.Second, "ffprobe", "-v", "error", "-rtsp_transport", "tcp",
		"-show_entries", "stream=codec_type,codec_name,width,height", "-of", "csv=p=0", "rtsp://"+addr+"/t")
	if err != nil {
		t.Fatalf("ffprobe: %v: %s", err, out)
	}
	if got := strings.TrimSpace(out); got != "h264,video,320,240" {
		t.Fatalf("ffprobe streams = %q, want one h264 video stream 320x240", got)
	}
}

// runWheelTool runs name in dir with a clean Python environment and returns its
// stdout; it fails the test when the command fails.
func runWheelTool(t *testing.T, timeout time.Duration, dir, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PYTHONPATH=", "PYTHONNOUSERSITE=1", "PIP_NO_INDEX=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// startWheelServer runs "framecast serve --testsrc /t" (the console script
// the wheel installed) on free loopback ports and returns its RTSP address.
func startWheelServer(t *testing.T, framecastCmd, dir string) string {
	t.Helper()
	rtp, rtcp := testkit.UDPPair(t)
	cmd := exec.Command(framecastCmd, "serve", "--testsrc", "/t", "--size", "320x240", "--fps", "15",
		"--rtsp", "127.0.0.1:0", "--udp-rtp", rtp, "--udp-rtcp", rtcp, "--ingest", "none", "--http", "none")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PYTHONPATH=", "PYTHONNOUSERSITE=1")
	stderr := &testkit.Buffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	sc := bufio.NewScanner(stdout)
	addr := ""
	for addr == "" && sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "framecast: RTSP server on "); ok {
			addr = a
		}
	}
	go func() {
		defer close(done)
		io.Copy(io.Discard, stdout)
		cmd.Wait()
	}()
	if addr == "" {
		t.Fatalf("framecast serve did not say where it listens; stderr: %s", stderr)
	}
	return addr
}
