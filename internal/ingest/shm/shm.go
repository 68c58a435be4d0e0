// Package shm is the transport half of the ingest protocol's shared memory
// (docs/ingest-protocol.md, "Shared memory"): the sealed memfd a producer
// creates and maps read-write, the descriptor passed with SCM_RIGHTS over
// the Unix socket beside a RING message, and the read-only mapping the
// server converts frames from. The messages themselves are package
// ingest's. It is pure Go (golang.org/x/sys/unix), Linux only: elsewhere
// Supported is false and every call fails with errors.ErrUnsupported.
package shm

import "errors"

// ErrNoDescriptor is what Reader.Take says when no descriptor came with
// the bytes read so far.
var ErrNoDescriptor = errors.New("no descriptor came with the RING (send it with SCM_RIGHTS in the same sendmsg)")

// maxQueued is the most descriptors a Reader keeps waiting for a RING;
// more are closed at once.
const maxQueued = 4
