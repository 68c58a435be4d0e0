//go:build unix

package main

import (
	"io"
	"os"
	"syscall"
)

// interruptible returns standard input as a file whose Read ends when it
// is closed, when it is a pipe or FIFO (ffmpeg … | framecast serve
// --stdin): Go polls a descriptor in non-blocking mode, so the stdin
// source's Close at shutdown wakes a Read still waiting for the producer,
// instead of waiting for its next byte. A terminal (whose mode the shell
// shares) and a regular file are returned as they are.
func interruptible(r io.Reader) io.Reader {
	f, ok := r.(*os.File)
	if !ok {
		return r
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return r
	}
	fd := f.Fd()
	if err := syscall.SetNonblock(int(fd), true); err != nil {
		return r
	}
	return os.NewFile(fd, f.Name())
}
