package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/testkit"
)

// TestExitWithParentStopsAtTheEndOfStdin: with --exit-with-parent, the end
// of the standard input pipe (its writer gone) shuts the server down
// cleanly, exit status 0.
func TestExitWithParentStopsAtTheEndOfStdin(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := startServe(t, r, "--exit-with-parent")
	time.Sleep(300 * time.Millisecond) // still running while the pipe is open
	select {
	case err := <-p.done:
		t.Fatalf("framecast exited with its stdin open: %v; stderr: %s", err, p.stderr)
	default:
	}
	w.Close()
	select {
	case err := <-p.done:
		p.done <- err // for startServe's cleanup
		if err != nil {
			t.Fatalf("framecast exited with %v at the end of stdin; stderr: %s", err, p.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("framecast still runs 15 s after its stdin closed; stderr: %s", p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "standard input closed") {
		t.Errorf("no log line says why it stopped; stderr: %s", p.stderr)
	}
}

// TestExitWithParentStopsWhenTheParentIsKilled: a framecast whose stdin is
// not a pipe stops when its parent, a shell, is killed with SIGKILL.
func TestExitWithParentStopsWhenTheParentIsKilled(t *testing.T) {
	testkit.Need(t, "sh")
	dir, err := os.MkdirTemp("", "fcp")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "ingest.sock")
	rtp, rtcp := testkit.UDPPair(t)
	// The shell starts framecast in the background, says its pid, and waits.
	sh := exec.Command("sh", "-c", `"$@" </dev/null >/dev/null 2>&1 & echo $!; exec sleep 60`, "sh",
		binary, "serve", "--exit-with-parent", "--rtsp", "127.0.0.1:0", "--udp-rtp", rtp, "--udp-rtcp", rtcp,
		"--ingest", "unix://"+sock, "--http", "none")
	out, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer sh.Wait()
	defer sh.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		t.Fatalf("the shell said %q (%v, %v), want framecast's pid", line, err, perr)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("framecast made no socket %s in 15 s", sock)
		}
	}
	sh.Process.Kill()
	testkit.WaitProcessGone(t, pid, 15*time.Second, "its parent was killed")
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file after framecast stopped: %v, want it removed by a clean shutdown", err)
	}
}
