"""The producer's ring of shared memory (docs/ingest-protocol.md, "Shared memory").

A Ring is a sealed memfd of slots, each large enough for one frame of a
format, mapped read-write here and passed to the server with RING over the
Unix socket (SCM_RIGHTS). The server maps it read-only and converts frames
straight from it. Linux only (os.memfd_create and socket.send_fds, Python
3.9+); numpy is imported only by Ring.view.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import socket
import sys
from typing import Any, List, Optional, Tuple

from . import protocol
from .frames import Format

DEFAULT_SLOTS = 4


def supported() -> bool:
    """True when this system can make a ring: Linux memfds and descriptor passing."""
    return (
        hasattr(os, "memfd_create")
        and hasattr(socket, "send_fds")
        and hasattr(fcntl, "F_ADD_SEALS")
    )


def largest_frame(fmt: Format) -> int:
    """The largest frame of fmt in bytes: what a slot must hold."""
    size = protocol.frame_size(fmt.pixel_format, fmt.width, fmt.height, fmt.stride)
    if fmt.stride and fmt.pixel_format not in ("yuv420p", "nv12"):
        size = fmt.stride * fmt.height  # the last row may be padded too
    return size


def shape_of(fmt: Format) -> Tuple[int, ...]:
    """The numpy shape of a tight frame of fmt, as frames.describe takes it."""
    w, h = fmt.width, fmt.height
    channels = {"bgr24": 3, "rgb24": 3, "bgra": 4, "rgba": 4, "yuyv422": 2}
    if fmt.pixel_format == "gray":
        return (h, w)
    if fmt.pixel_format in ("yuv420p", "nv12"):
        return (h * 3 // 2, w)
    return (h, w, channels[fmt.pixel_format])


class Ring:
    """A memfd of slots slots for frames of fmt, mapped read-write.

    send() passes it to the server on sock; view(i) is a numpy array of
    slot i, write(i, buf) copies a frame into it. close() unmaps it once no
    view of it is left (the memory goes when the last view does).
    """

    def __init__(self, fmt: Format, slots: int = DEFAULT_SLOTS) -> None:
        self.format = fmt
        self.slots = slots
        self.frame_size = protocol.frame_size(fmt.pixel_format, fmt.width, fmt.height, fmt.stride)
        self.slot_size = largest_frame(fmt)
        self.message = protocol.encode_ring(slots, self.slot_size)  # checks the limits
        size = slots * self.slot_size
        fd = os.memfd_create("framecast-ring", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.ftruncate(fd, size)
            # Sealed so that the server's mapping can never lose a page.
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
            self._mm: Optional[mmap.mmap] = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            raise
        self._fd: Optional[int] = fd
        self._mv = memoryview(self._mm)
        self._views: List[Any] = [None] * slots

    def send(self, sock: socket.socket) -> None:
        """Send RING with the memfd, then close this side's descriptor (the mapping stays)."""
        assert self._fd is not None
        n = socket.send_fds(sock, [self.message], [self._fd])
        if n < len(self.message):
            sock.sendall(self.message[n:])
        os.close(self._fd)
        self._fd = None

    def view(self, i: int) -> Any:
        """A writable numpy array over slot i, of the format's shape (made once per slot)."""
        v = self._views[i]
        if v is None:
            np = sys.modules.get("numpy")
            if np is None:
                import numpy as np  # frame() is numpy's API: import it when asked
            fmt = self.format
            off = i * self.slot_size
            if fmt.stride and fmt.pixel_format not in ("yuv420p", "nv12"):
                # Rows stride bytes apart, as the FORMAT declares them.
                shape = shape_of(fmt)
                base = np.frombuffer(self._mm, dtype=np.uint8, count=fmt.stride * fmt.height, offset=off)
                strides = (fmt.stride,) if len(shape) == 2 else (fmt.stride, shape[2])
                v = np.lib.stride_tricks.as_strided(base, shape=shape, strides=strides + (1,), writeable=True)
            else:
                v = np.frombuffer(self._mm, dtype=np.uint8, count=self.frame_size, offset=off)
                v = v.reshape(shape_of(fmt))
            self._views[i] = v
        return v

    def write(self, i: int, buf: memoryview) -> None:
        """Copy a frame (a 1-D byte view, at most a slot) into slot i: one memcpy."""
        off = i * self.slot_size
        self._mv[off : off + buf.nbytes] = buf

    def close(self) -> None:
        """Unmap the ring, unless views of it are still held: then they keep it alive."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._views = [None] * self.slots
        if self._mm is None:
            return
        mm, self._mm = self._mm, None
        self._mv.release()
        try:
            mm.close()
        except BufferError:
            pass  # a view from frame() is still held: the memory goes with it
