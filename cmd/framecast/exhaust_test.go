package main

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/testkit"
)

// waitLog waits until framecast's stderr holds a line with every one of
// words.
func waitLog(t *testing.T, p *proc, timeout time.Duration, words ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			found := true
			for _, w := range words {
				found = found && strings.Contains(line, w)
			}
			if found {
				return
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("framecast exited (%v) before logging %q; stderr:\n%s", err, words, p.stderr)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q within %v; stderr:\n%s", words, timeout, p.stderr)
		}
	}
}

// TestServesViewersAgainAfterRunningOutOfDescriptors is the regression test
// of one accept error (EMFILE) stopping RTSP for good: with 64 descriptors,
// idle producer connections use them all up, a viewer then knocks on the
// RTSP port, and once the producers leave a new viewer gets pictures on the
// same port.
func TestServesViewersAgainAfterRunningOutOfDescriptors(t *testing.T) {
	testkit.Need(t, "prlimit", "ffmpeg")
	const w, h = 160, 120
	// The caps on connections before HELLO would refuse the idle producers
	// before the descriptors ran out (that protection has tests of its
	// own): off here, to reach EMFILE.
	p := startServe(t, nil, "--testsrc", "/test", "--size", "160x120", "--fps", "10",
		"--max-ingest-pending", "-1", "--max-ingest-pending-per-ip", "-1", "--ingest-hello-timeout", "-1s")
	// The limit is lowered once framecast runs, so that starting it (and
	// the race detector's) needs no guess of how many it takes.
	if out, err := testkit.Run(t, 10*time.Second, "prlimit", "--pid", strconv.Itoa(p.cmd.Process.Pid), "--nofile=64:64"); err != nil {
		t.Fatalf("prlimit: %v: %s", err, out)
	}

	// More idle producers than descriptors: the last ones wait in the
	// backlog while accept fails with EMFILE.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	dial := func(addr string) {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		conns = append(conns, c)
	}
	for range 100 {
		dial(strings.TrimPrefix(p.ingest, "tcp://"))
	}
	waitLog(t, p, 30*time.Second, "level=WARN", `msg="accept failed, retrying"`, "listener=ingest", "too many open files")
	// A viewer's connection while no descriptor is left: the accept that
	// stopped gortsplib's server for good.
	dial(p.addr)
	waitLog(t, p, 30*time.Second, "level=WARN", `msg="accept failed, retrying"`, "listener=rtsp", "too many open files")

	for _, c := range conns {
		c.Close()
	}
	conns = nil
	waitLog(t, p, 30*time.Second, `msg="accepting again"`, "listener=rtsp")
	viewer := testkit.FFmpeg(t, "rtsp://"+p.addr+"/test", "tcp", "gray", w, h)
	viewer.Next(t, 30*time.Second)
	select {
	case err := <-p.done:
		p.done <- err
		t.Fatalf("framecast exited (%v); stderr:\n%s", err, p.stderr)
	default:
	}
	if n := strings.Count(p.stderr.String(), `msg="accept failed, retrying" listener=rtsp`); n > 3 {
		t.Errorf("%d warnings for the RTSP listener in one exhaustion, want them rate-limited:\n%s", n, p.stderr)
	}
}
