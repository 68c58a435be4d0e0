//go:build linux

package shm

import (
	"bytes"
	"net"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// unixPair returns both ends of a connected Unix stream socket.
func unixPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}

// TestRingCrossesTheSocketAndIsSharedReadOnly is the ring's whole path: the
// producer's memfd goes with a message, the receiver takes it, checks it,
// maps it read-only and sees what the producer writes afterwards.
func TestRingCrossesTheSocketAndIsSharedReadOnly(t *testing.T) {
	const size = 3 * 4096
	f, err := Create(size)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := Map(int(f.Fd()), size, true)
	if err != nil {
		t.Fatal(err)
	}
	defer Unmap(w)
	a, b := unixPair(t)
	if err := SendWithFD(a, []byte("RING"), int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	r := NewReader(b)
	buf := make([]byte, 16)
	n, err := r.Read(buf)
	if err != nil || string(buf[:n]) != "RING" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	fd, err := r.Take()
	if err != nil {
		t.Fatal(err)
	}
	defer CloseFD(fd)
	if _, err := r.Take(); err != ErrNoDescriptor {
		t.Errorf("second Take = %v, want ErrNoDescriptor", err)
	}
	if err := Check(fd, size); err != nil {
		t.Fatalf("Check of the producer's memfd: %v", err)
	}
	if err := Check(fd, size+1); err == nil || !strings.Contains(err.Error(), "the memfd is 12288 bytes, want at least 12289") {
		t.Errorf("Check of a ring larger than the memfd = %v", err)
	}
	ro, err := Map(fd, size, false)
	if err != nil {
		t.Fatal(err)
	}
	defer Unmap(ro)
	copy(w[4096:], "frame")
	if !bytes.Equal(ro[4096:4101], []byte("frame")) {
		t.Errorf("the receiver's mapping has % x, want what the producer wrote", ro[4096:4101])
	}
	// The seal holds: the producer cannot cut the memory under a mapping.
	if err := f.Truncate(4096); err == nil {
		t.Error("a sealed memfd was shrunk")
	}
}

func TestCheckRefusesWhatCouldBeCutUnderTheMapping(t *testing.T) {
	fd, err := unix.MemfdCreate("unsealed", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	unix.Ftruncate(fd, 4096)
	if err := Check(fd, 4096); err == nil || !strings.Contains(err.Error(), "not sealed against shrinking") {
		t.Errorf("Check of a memfd without MFD_ALLOW_SEALING = %v", err)
	}
	fd2, err := unix.MemfdCreate("sealable", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd2)
	unix.Ftruncate(fd2, 4096)
	if err := Check(fd2, 4096); err == nil || !strings.Contains(err.Error(), "not sealed against shrinking") {
		t.Errorf("Check of an unsealed memfd = %v", err)
	}
	file, err := os.CreateTemp(t.TempDir(), "ring")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	file.Truncate(4096)
	if err := Check(int(file.Fd()), 4096); err == nil || !strings.Contains(err.Error(), "not a sealable memfd") {
		t.Errorf("Check of a regular file = %v", err)
	}
	a, b := unixPair(t)
	if err := Check(int(fdOf(t, a)), 1); err == nil || !strings.Contains(err.Error(), "not a memfd") {
		t.Errorf("Check of a socket = %v", err)
	}
	_ = b
}

func fdOf(t *testing.T, c *net.UnixConn) uintptr {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd uintptr
	rc.Control(func(f uintptr) { fd = f })
	return fd
}

// TestReaderClosesDescriptorsBeyondItsQueue: a peer sending descriptors
// with every message cannot make the receiver hold more than four.
func TestReaderClosesDescriptorsBeyondItsQueue(t *testing.T) {
	a, b := unixPair(t)
	f, err := Create(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range 6 {
		if err := SendWithFD(a, []byte("x"), int(f.Fd())); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(b)
	buf := make([]byte, 1)
	for range 6 {
		if _, err := r.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	if len(r.fds) != maxQueued || r.Closed != 2 {
		t.Errorf("queued %d, closed %d; want %d and 2", len(r.fds), r.Closed, maxQueued)
	}
	r.Close()
	if len(r.fds) != 0 || r.Closed != 6 {
		t.Errorf("after Close: queued %d, closed %d; want 0 and 6", len(r.fds), r.Closed)
	}
}
