"""What the Python producers of framecast's benchmarks share.

The frames are the harness's ring file (bench.WriteRing: RingLen bgr24 frames
of the synthetic picture, drawn by Go so that every system gets identical
frames), loaded once with numpy so that no frame is made in the measured
path. stamp() draws the same two block rows as bench.Stamp: the frame number
in the bottom row and the send time (ms modulo 2^16) in the row above.
"""

import time

import numpy as np

STAMP_BITS = 16
_SHIFTS = np.arange(STAMP_BITS - 1, -1, -1, dtype=np.uint32)


def load_ring(path, width, height, mmap=False):
    """Return the ring as an array (n, height, width, 3) of uint8, in memory.

    With mmap the file is mapped copy-on-write instead of read: a 4K ring
    (750 MB) is there at once, its pages faulted in on first use, and the
    stamps change this process's copy only.
    """
    if mmap:
        ring = np.memmap(path, dtype=np.uint8, mode="c")
    else:
        ring = np.fromfile(path, dtype=np.uint8)
    return ring.reshape(-1, height, width, 3)


def _row(frame, row, value):
    height, width = frame.shape[:2]
    block = max(2, width // (2 * STAMP_BITS))
    bits = ((np.uint32(value) >> _SHIFTS) & 1).astype(np.uint8) * 255
    y0 = height - (row + 1) * block
    # One row of the stamp's pixels, copied to each of its rows: a source
    # contiguous along the row is an order of magnitude faster for numpy
    # than broadcasting along the channels too (0.08 ms rather than 1.2 ms
    # a frame at 1080p), and the pixels are the same.
    line = np.repeat(bits, block * 3).reshape(STAMP_BITS * block, 3)
    frame[y0 : y0 + block, : STAMP_BITS * block, :] = line


def stamp(frame, number):
    """Stamp frame (height, width, 3) with number and the time now; return the time."""
    now = time.time_ns()
    _row(frame, 0, number & 0xFFFF)
    _row(frame, 1, (now // 1_000_000) & 0xFFFF)
    return now


class Pacer:
    """Sleeps until frame n's deadline at fps frames per second (fps 0: never)."""

    def __init__(self, fps):
        self.period = 1.0 / fps if fps > 0 else 0.0
        self.start = None

    def wait(self, n):
        if self.period == 0:
            return
        if self.start is None:
            self.start = time.monotonic()
        delay = self.start + n * self.period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
