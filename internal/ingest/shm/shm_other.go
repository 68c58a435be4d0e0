//go:build !linux

package shm

import (
	"errors"
	"net"
	"os"
)

// Supported reports whether this system has memfds and descriptor passing.
const Supported = false

// Create fails: memfds are Linux's.
func Create(size int64) (*os.File, error) { return nil, errors.ErrUnsupported }

// Check fails: memfds are Linux's.
func Check(fd int, size int64) error { return errors.ErrUnsupported }

// Map fails: this package maps memfds only.
func Map(fd int, size int, writable bool) ([]byte, error) { return nil, errors.ErrUnsupported }

// Unmap fails unless b is nil.
func Unmap(b []byte) error {
	if b == nil {
		return nil
	}
	return errors.ErrUnsupported
}

// SendWithFD fails.
func SendWithFD(c *net.UnixConn, msg []byte, fd int) error { return errors.ErrUnsupported }

// Reader reads c; it never receives a descriptor.
type Reader struct {
	c      *net.UnixConn
	Closed int
}

// NewReader returns a Reader of c.
func NewReader(c *net.UnixConn) *Reader { return &Reader{c: c} }

// Read reads c.
func (r *Reader) Read(p []byte) (int, error) { return r.c.Read(p) }

// Take returns ErrNoDescriptor.
func (r *Reader) Take() (int, error) { return -1, ErrNoDescriptor }

// Close does nothing.
func (r *Reader) Close() {}

// CloseFD fails.
func CloseFD(fd int) error { return errors.ErrUnsupported }
