"""The shared-memory ring on its own: slot views, copies and closing."""

import mmap
import os
import unittest

from framecast import shm
from framecast.frames import Format

try:
    import numpy as np
except ImportError:  # the views need numpy; the rest does not
    np = None


@unittest.skipUnless(shm.supported(), "no memfd_create or send_fds here")
class RingTest(unittest.TestCase):
    def test_slots_are_sized_for_the_largest_frame(self):
        for fmt, size in [(Format("bgr24", 64, 48, 0), 64 * 48 * 3), (Format("yuv420p", 64, 48, 0), 64 * 48 * 3 // 2),
                          (Format("bgr24", 64, 48, 200), 200 * 48), (Format("gray", 64, 48, 0), 64 * 48)]:
            with self.subTest(fmt=fmt):
                r = shm.Ring(fmt, 3)
                self.assertEqual(r.slot_size, size)
                self.assertEqual(r.message[8:], (3).to_bytes(4, "little") + size.to_bytes(4, "little"))
                r.close()

    def test_the_memfd_is_sealed(self):
        import fcntl
        r = shm.Ring(Format("gray", 64, 48, 0), 2)
        seals = fcntl.fcntl(r._fd, fcntl.F_GET_SEALS)
        self.assertTrue(seals & fcntl.F_SEAL_SHRINK and seals & fcntl.F_SEAL_GROW)
        with self.assertRaises(OSError):
            os.ftruncate(r._fd, 10)
        r.close()

    def test_write_copies_into_the_slot(self):
        r = shm.Ring(Format("gray", 4, 2, 0), 3)
        r.write(1, memoryview(b"abcdefgh"))
        self.assertEqual(bytes(r._mm[8:16]), b"abcdefgh")
        self.assertEqual(bytes(r._mm[0:8]), bytes(8))
        r.close()

    @unittest.skipIf(np is None, "numpy is not installed")
    def test_views_have_the_formats_shape_and_write_the_slot(self):
        for fmt, shape in [(Format("bgr24", 8, 4, 0), (4, 8, 3)), (Format("gray", 8, 4, 0), (4, 8)),
                           (Format("bgra", 8, 4, 0), (4, 8, 4)), (Format("nv12", 8, 4, 0), (6, 8)),
                           (Format("bgr24", 8, 4, 32), (4, 8, 3))]:
            with self.subTest(fmt=fmt):
                r = shm.Ring(fmt, 2)
                v = r.view(1)
                self.assertEqual(v.shape, shape)
                self.assertTrue(v.flags.writeable)
                self.assertIs(r.view(1), v)  # made once per slot
                v[:] = 7
                raw = bytes(r._mm[r.slot_size : 2 * r.slot_size])
                if fmt.stride:
                    rows = [raw[y * fmt.stride : y * fmt.stride + 24] for y in range(4)]
                    self.assertEqual(rows, [bytes([7]) * 24] * 4)
                    self.assertEqual(raw[24:32], bytes(8))  # the padding is not the frame's
                else:
                    self.assertEqual(raw, bytes([7]) * r.slot_size)
                self.assertEqual(bytes(r._mm[: r.slot_size]), bytes(r.slot_size))
                del v
                r.close()

    @unittest.skipIf(np is None, "numpy is not installed")
    def test_close_with_a_view_held_leaves_the_view_valid(self):
        r = shm.Ring(Format("gray", 8, 4, 0), 2)
        v = r.view(0)
        r.close()
        v[:] = 3  # still mapped: the memory goes with the last view
        self.assertEqual(int(v.sum()), 3 * 32)


if __name__ == "__main__":
    unittest.main()
