package shm

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// Supported reports whether this system has memfds and descriptor passing.
const Supported = true

// Create returns a new memfd of size bytes, close-on-exec, sealed against
// shrinking and growing (F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SEAL), so that
// whoever maps it can never fault on a page cut off under it. It has no
// name in any file system: when every descriptor and mapping is gone, so is
// the memory, whatever killed its owner.
func Create(size int64) (*os.File, error) {
	fd, err := unix.MemfdCreate("framecast-ring", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "memfd:framecast-ring")
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, fmt.Errorf("size memfd to %d bytes: %w", size, err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal memfd: %w", err)
	}
	return f, nil
}

// Check reports whether fd can back a ring of size bytes: a regular file
// (a memfd) of at least size bytes, sealed against shrinking. Without the
// seal the producer could truncate it under the server's mapping, and the
// server's next read of a cut-off page would kill it with SIGBUS.
func Check(fd int, size int64) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("fstat: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("the descriptor is not a memfd (file mode %#o)", st.Mode)
	}
	if st.Size < size {
		return fmt.Errorf("the memfd is %d bytes, want at least %d for the ring", st.Size, size)
	}
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		return fmt.Errorf("the descriptor is not a sealable memfd (F_GET_SEALS: %v); create it with MFD_ALLOW_SEALING", err)
	}
	if seals&unix.F_SEAL_SHRINK == 0 {
		return fmt.Errorf("the memfd is not sealed against shrinking: add F_SEAL_SHRINK (fcntl F_ADD_SEALS)")
	}
	return nil
}

// Map maps size bytes of fd from offset 0, shared, read-only unless
// writable. The slice is valid until Unmap; reading it after is a fault.
func Map(fd int, size int, writable bool) ([]byte, error) {
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	b, err := unix.Mmap(fd, 0, size, prot, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %d bytes: %w", size, err)
	}
	return b, nil
}

// Unmap undoes Map. Nothing may hold a slice of b after.
func Unmap(b []byte) error {
	if b == nil {
		return nil
	}
	return unix.Munmap(b)
}

// SendWithFD writes msg on c with fd attached (SCM_RIGHTS) to its first
// byte, the rest after it if the socket took only part.
func SendWithFD(c *net.UnixConn, msg []byte, fd int) error {
	n, _, err := c.WriteMsgUnix(msg, unix.UnixRights(fd), nil)
	if err != nil {
		return err
	}
	if n < len(msg) {
		_, err = c.Write(msg[n:])
	}
	return err
}

// Reader reads a Unix socket's bytes with recvmsg, keeping the descriptors
// that come with them (at most 4 waiting; more are closed at once) for Take.
// A Reader is not safe for concurrent use.
type Reader struct {
	c      *net.UnixConn
	oob    []byte
	fds    []int
	Closed int // descriptors closed for want of room, or by Close
}

// NewReader returns a Reader of c.
func NewReader(c *net.UnixConn) *Reader {
	return &Reader{c: c, oob: make([]byte, unix.CmsgSpace(maxQueued*4))}
}

// Read reads into p like c.Read, and queues the descriptors that came with
// the bytes.
func (r *Reader) Read(p []byte) (int, error) {
	n, oobn, _, _, err := r.c.ReadMsgUnix(p, r.oob)
	if oobn > 0 {
		r.collect(r.oob[:oobn])
	}
	// ReadMsgUnix may say -1 with an error; io.Reader may not.
	return max(n, 0), err
}

func (r *Reader) collect(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for i := range msgs {
		fds, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if len(r.fds) >= maxQueued {
				unix.Close(fd)
				r.Closed++
				continue
			}
			r.fds = append(r.fds, fd)
		}
	}
}

// Take returns the oldest descriptor received and not yet taken; the caller
// owns it. ErrNoDescriptor when none is waiting.
func (r *Reader) Take() (int, error) {
	if len(r.fds) == 0 {
		return -1, ErrNoDescriptor
	}
	fd := r.fds[0]
	r.fds = r.fds[1:]
	return fd, nil
}

// Close closes the descriptors not taken. The connection is the caller's.
func (r *Reader) Close() {
	for _, fd := range r.fds {
		unix.Close(fd)
		r.Closed++
	}
	r.fds = nil
}

// CloseFD closes a descriptor returned by Take.
func CloseFD(fd int) error { return unix.Close(fd) }
