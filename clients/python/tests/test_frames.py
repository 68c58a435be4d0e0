"""How frames map to formats and bytes: shapes, dtypes, crops, views."""

import array
import unittest

import framecast
from framecast.frames import Format, describe

try:
    import numpy as np
except ImportError:  # the client works without numpy; these tests need it
    np = None

needs_numpy = unittest.skipIf(np is None, "numpy is not installed")


def pattern(shape):
    """A uint8 array of shape whose every byte differs from its neighbours."""
    n = 1
    for s in shape:
        n *= s
    return (np.arange(n, dtype=np.uint32) * 7 % 251).astype(np.uint8).reshape(shape)


def unstride(buf, fmt, bpp):
    """Rebuild the tight bytes of a frame sent with fmt.stride."""
    raw = bytes(buf)
    row = fmt.width * bpp
    if fmt.stride == 0:
        return raw
    return b"".join(raw[y * fmt.stride : y * fmt.stride + row] for y in range(fmt.height))


@needs_numpy
class ShapeTest(unittest.TestCase):
    def test_shape_sets_format(self):
        for shape, pix, want in [
            ((480, 640), None, Format("gray", 640, 480, 0)),
            ((480, 640, 1), None, Format("gray", 640, 480, 0)),
            ((480, 640, 3), None, Format("bgr24", 640, 480, 0)),
            ((480, 640, 4), None, Format("bgra", 640, 480, 0)),
            ((480, 640, 3), "rgb24", Format("rgb24", 640, 480, 0)),
            ((480, 640, 4), "rgba", Format("rgba", 640, 480, 0)),
            ((480, 640, 2), "yuyv422", Format("yuyv422", 640, 480, 0)),
            ((720, 640), "yuv420p", Format("yuv420p", 640, 480, 0)),
            ((720, 640), "nv12", Format("nv12", 640, 480, 0)),
            ((480, 640), "gray", Format("gray", 640, 480, 0)),
        ]:
            with self.subTest(shape=shape, pixel_format=pix):
                frame = pattern(shape)
                fmt, buf = describe(frame, pix)
                self.assertEqual(fmt, want)
                self.assertEqual(bytes(buf), frame.tobytes())
                self.assertEqual((buf.ndim, buf.format), (1, "B"))

    def test_pixel_format_must_fit_shape(self):
        for shape, pix, msg in [
            ((480, 640, 4), "rgb24", r"shape \(480, 640, 4\) does not fit pixel_format rgb24: "
                                     r"want \(height, width, 3\)"),
            ((480, 640, 3), "gray", r"does not fit pixel_format gray: want \(height, width\)"),
            ((480, 640, 3), "yuv420p", r"want \(height\*3/2, width\)"),
            ((481, 640), "nv12", r"want \(height\*3/2, width\)"),
            ((480, 640, 2), None, r"pixel_format='yuyv422'"),
            ((480, 640, 5), None, r"want 1, 3 or 4 channels"),
            ((2, 480, 640, 3), None, r"want \(height, width\) or \(height, width, channels\)"),
            ((480, 640, 3), "bgr", r"unknown pixel format 'bgr'"),
        ]:
            with self.subTest(shape=shape, pixel_format=pix):
                with self.assertRaisesRegex(ValueError, msg):
                    describe(np.zeros(shape, np.uint8), pix)

    def test_dtype_must_be_uint8_and_the_error_says_how(self):
        for dtype, hint in [
            (np.float64, r"from floats in 0\.\.1: \(frame \* 255\)\.clip\(0, 255\)\.astype\(np\.uint8\)"),
            (np.float32, r"from floats in 0\.\.255: frame\.clip\(0, 255\)\.astype\(np\.uint8\)"),
            (np.uint16, r"from a 16-bit image: \(frame >> 8\)\.astype\(np\.uint8\)"),
            (np.int8, r"frame\.clip\(0, 255\)\.astype\(np\.uint8\)"),
            (np.int64, r"frame\.clip\(0, 255\)\.astype\(np\.uint8\)"),
            (np.bool_, r"from a mask: frame\.astype\(np\.uint8\) \* 255"),
        ]:
            with self.subTest(dtype=dtype):
                name = np.dtype(dtype).name
                with self.assertRaisesRegex(TypeError, r"^frame dtype %s: want uint8.*%s" % (name, hint)) as cm:
                    describe(np.zeros((480, 640, 3), dtype))
                self.assertIsInstance(cm.exception, framecast.FrameError)
                self.assertFalse(cm.exception.retryable)

    def test_channels_first_and_batched_arrays_say_how_to_fix_them(self):
        for shape, msg in [
            ((3, 480, 640), r"looks channels-first .* pass frame\.transpose\(1, 2, 0\)"),
            ((1, 480, 640), r"looks channels-first"),
            ((4, 240, 320), r"looks channels-first"),
            ((1, 480, 640, 3), r"batch of one frame; .* pass frame\[0\]"),
        ]:
            with self.subTest(shape=shape), self.assertRaisesRegex(framecast.FrameError, msg):
                describe(np.zeros(shape, np.uint8))
        # A 3-row, 4-column image is no channels-first one.
        self.assertEqual(describe(np.zeros((4, 6, 3), np.uint8))[0], Format("bgr24", 6, 4, 0))

    def test_odd_sizes_say_what_to_crop_to(self):
        with self.assertRaisesRegex(framecast.FrameError,
                                    r"frame shape \(481, 641, 3\): .*must be even.*crop to 640x480, "
                                    r"e\.g\. frame\[:480, :640\]"):
            describe(np.zeros((481, 641, 3), np.uint8))


@needs_numpy
class LayoutTest(unittest.TestCase):
    def test_contiguous_frame_is_not_copied(self):
        frame = pattern((240, 320, 3))
        _, buf = describe(frame)
        self.assertTrue(np.shares_memory(np.frombuffer(buf, np.uint8), frame))

    def test_crop_with_contiguous_rows_goes_with_a_stride(self):
        big = pattern((480, 640, 3))
        crop = big[100:340, 160:640]  # 480 of 640 columns: rows 1920 bytes apart
        fmt, buf = describe(crop)
        self.assertEqual(fmt, Format("bgr24", 480, 240, 1920))
        self.assertEqual(buf.nbytes, 1920 * 239 + 480 * 3)  # ends at the crop's last pixel
        self.assertTrue(np.shares_memory(np.frombuffer(buf, np.uint8), big))
        self.assertEqual(unstride(buf, fmt, 3), crop.tobytes())

    def test_every_other_row_goes_with_a_stride(self):
        big = pattern((480, 320, 3))
        fmt, buf = describe(big[::2])
        self.assertEqual(fmt, Format("bgr24", 320, 240, 1920))
        self.assertEqual(unstride(buf, fmt, 3), big[::2].tobytes())

    def test_gray_crop_goes_with_a_stride(self):
        big = pattern((100, 64))
        crop = big[10:50, 2:50]
        fmt, buf = describe(crop)
        self.assertEqual(fmt, Format("gray", 48, 40, 64))
        self.assertEqual(unstride(buf, fmt, 1), crop.tobytes())

    def test_small_crop_of_a_large_frame_is_copied(self):
        # Rows 1920 bytes apart for 240 bytes of pixels: copying the crop
        # is cheaper than sending the gaps.
        big = pattern((480, 640, 3))
        crop = big[8:88, 16:96]
        fmt, buf = describe(crop)
        self.assertEqual(fmt, Format("bgr24", 80, 80, 0))
        self.assertEqual(bytes(buf), crop.tobytes())

    def test_non_contiguous_views_are_sent_tight(self):
        base = pattern((240, 320, 3))
        for name, view in [
            ("mirrored", base[:, ::-1]),
            ("upside down", base[::-1]),
            ("channels swapped", base[:, :, ::-1]),
            ("every other column", pattern((240, 640, 3))[:, ::2]),
            ("every third row", pattern((720, 320, 3))[::3]),
            ("fortran order", np.asfortranarray(base)),
            ("transposed", pattern((320, 240, 3)).transpose(1, 0, 2)),
            ("channel of bgra", pattern((240, 320, 4))[:, :, :3]),
        ]:
            with self.subTest(view=name):
                fmt, buf = describe(view)
                self.assertEqual(fmt, Format("bgr24", 320, 240, 0))
                self.assertEqual(bytes(buf), view.tobytes())

    def test_planar_views_are_copied(self):
        i420 = pattern((720, 1280))[:, 320:960]
        fmt, buf = describe(i420, "yuv420p")
        self.assertEqual(fmt, Format("yuv420p", 640, 480, 0))
        self.assertEqual(bytes(buf), i420.tobytes())

    def test_readonly_arrays(self):
        frame = pattern((240, 320, 3))
        frame.flags.writeable = False
        self.assertEqual(bytes(describe(frame)[1]), frame.tobytes())
        crop = frame[:, 40:]
        self.assertEqual(unstride(describe(crop)[1], describe(crop)[0], 3), crop.tobytes())


class BytesTest(unittest.TestCase):
    def test_bytes_like_frames_need_an_explicit_format(self):
        with self.assertRaisesRegex(ValueError, "needs width, height and pixel_format"):
            describe(bytes(12))
        with self.assertRaisesRegex(ValueError, "needs width, height and pixel_format"):
            describe(bytes(12), "gray", 4)

    def test_bytes_like_frames_are_sent_as_they_are(self):
        for frame in [bytes(range(24)), bytearray(range(24)), memoryview(bytes(range(24))),
                      array.array("B", range(24)), array.array("H", range(12))]:
            with self.subTest(type=type(frame).__name__):
                fmt, buf = describe(frame, "gray", 6, 4)
                self.assertEqual(fmt, Format("gray", 6, 4, 0))
                self.assertEqual(bytes(buf), bytes(frame))
                self.assertEqual((buf.ndim, buf.format), (1, "B"))
        # Any size: the server, which knows the format it accepted, checks it.
        self.assertEqual(describe(bytes(5), "bgr24", 640, 480, 2048)[0].stride, 2048)

    def test_other_objects_are_refused(self):
        with self.assertRaisesRegex(TypeError, "frame of type list: want a numpy array"):
            describe([1, 2, 3], "gray", 2, 2)

    @needs_numpy
    def test_one_dimensional_array_is_bytes_like(self):
        fmt, buf = describe(np.arange(24, dtype=np.uint8), "gray", 6, 4)
        self.assertEqual((fmt, bytes(buf)), (Format("gray", 6, 4, 0), bytes(range(24))))
        with self.assertRaisesRegex(TypeError, "frame dtype float32: want uint8"):
            describe(np.zeros(24, np.float32), "gray", 6, 4)


if __name__ == "__main__":
    unittest.main()
