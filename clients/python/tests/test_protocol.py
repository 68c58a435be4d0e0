"""Message encoding against the byte layouts of docs/ingest-protocol.md."""

import os
import re
import struct
import unittest
from fractions import Fraction

from framecast import ProtocolError, ServerError, protocol

# The spec's "Example" section, byte for byte: 640x480 bgr24 at 30 fps on /cam.
SPEC_HELLO = "01 00 0000 0e000000  46435354 0100 0400 2f63616d 0000"
SPEC_READY = "81 00 0000 06000000  0100 00000010"
SPEC_FORMAT = (
    "02 00 0000 1a000000  01 00 80020000 e0010000 00000000 1e000000 01000000 0000 0000"
)
SPEC_FRAME_HEADER = "03 01 0000 08100e00"
SPEC_BYE = "04 00 0000 00000000"
# The spec's example of HELLO's flags: takeover and info, and the long READY
# (its URL, "rtsp://127.0.0.1:8554/cam", follows as text).
SPEC_HELLO_FLAGS = "01 03 0000 0e000000  46435354 0100 0400 2f63616d 0000"
SPEC_READY_URL = "81 00 0000 21000000  0100 00000010 1900"
# The spec's shared-memory example: HELLO with info and shared memory, the
# READY that takes it, a RING of 4 slots of 921600 bytes, SLOT 0 at
# 33333333 ns, and its FREE.
SPEC_HELLO_SHM = "01 06 0000 0e000000  46435354 0100 0400 2f63616d 0000"
SPEC_READY_SHM = "81 01 0000 21000000  0100 00000010 1900"
SPEC_RING = "05 00 0000 08000000  04000000 00100e00"
SPEC_SLOT = "06 01 0000 10000000  00000000 00100e00 55a0fc0100000000"
SPEC_FREE = "83 00 0000 04000000  00000000"

SPEC_PATH = os.path.join(
    os.path.dirname(__file__), os.pardir, os.pardir, os.pardir, "docs", "ingest-protocol.md"
)


def unhex(s):
    return bytes.fromhex(s.replace(" ", ""))


class SpecExampleTest(unittest.TestCase):
    def test_hello(self):
        self.assertEqual(protocol.encode_hello("/cam"), unhex(SPEC_HELLO))
        self.assertEqual(protocol.encode_hello("/cam", ""), unhex(SPEC_HELLO))

    def test_ready(self):
        self.assertEqual(protocol.encode_ready(), unhex(SPEC_READY))
        self.assertEqual(protocol.decode_ready(unhex(SPEC_READY)[8:]), protocol.Ready(1, 268435456, None))

    def test_hello_with_flags_and_long_ready(self):
        self.assertEqual(protocol.encode_hello("/cam", flags=protocol.FLAG_TAKEOVER | protocol.FLAG_INFO),
                         unhex(SPEC_HELLO_FLAGS))
        url = "rtsp://127.0.0.1:8554/cam"
        self.assertEqual(protocol.encode_ready(rtsp_url=url), unhex(SPEC_READY_URL) + url.encode())
        self.assertEqual(protocol.decode_ready(protocol.encode_ready(rtsp_url=url)[8:]),
                         protocol.Ready(1, 268435456, url))
        for bad in [b"\x01\x00\x00\x00\x00\x10\x00", b"\x01\x00\x00\x00\x00\x10\x00\x00\x00",
                    b"\x01\x00\x00\x00\x00\x10\x05\x00rt"]:
            with self.subTest(bad=bad), self.assertRaises(ProtocolError):
                protocol.decode_ready(bad)

    def test_format(self):
        self.assertEqual(protocol.encode_format("bgr24", 640, 480, 0, 30), unhex(SPEC_FORMAT))
        f = protocol.decode_format(unhex(SPEC_FORMAT)[8:])
        self.assertEqual(f, protocol.FormatMessage(1, 640, 480, 0, 30, 1, ""))

    def test_frame_header(self):
        ts = 1234567890123
        h = protocol.encode_frame_header(921600, ts)
        self.assertEqual(h[:8], unhex(SPEC_FRAME_HEADER))
        self.assertEqual(struct.unpack("<q", h[8:]), (ts,))

    def test_bye(self):
        self.assertEqual(protocol.encode_bye(), unhex(SPEC_BYE))

    def test_shared_memory(self):
        url = "rtsp://127.0.0.1:8554/cam"
        self.assertEqual(protocol.encode_hello("/cam", flags=protocol.FLAG_INFO | protocol.FLAG_SHARED_MEMORY),
                         unhex(SPEC_HELLO_SHM))
        ready = protocol.encode_ready(rtsp_url=url, shared_memory=True)
        self.assertEqual(ready, unhex(SPEC_READY_SHM) + url.encode())
        h = protocol.decode_header(ready)
        self.assertEqual(protocol.decode_ready(ready[8:], h.flags), protocol.Ready(1, 268435456, url, True))
        self.assertFalse(protocol.decode_ready(ready[8:]).shared_memory)
        self.assertEqual(protocol.encode_ring(4, 921600), unhex(SPEC_RING))
        self.assertEqual(protocol.decode_ring(unhex(SPEC_RING)[8:]), protocol.Ring(4, 921600))
        self.assertEqual(protocol.encode_slot(0, 921600, 33333333), unhex(SPEC_SLOT))
        self.assertEqual(protocol.decode_slot(1, unhex(SPEC_SLOT)[8:]), protocol.Slot(0, 921600, 33333333))
        self.assertEqual(protocol.decode_slot(0, unhex(SPEC_SLOT)[8:]).timestamp_ns, None)
        self.assertEqual(protocol.encode_slot(3, 10)[:2], bytes([protocol.SLOT, 0]))
        self.assertEqual(protocol.encode_free(0), unhex(SPEC_FREE))
        self.assertEqual(protocol.decode_free(unhex(SPEC_FREE)[8:]), 0)
        for bad in [lambda: protocol.decode_ring(b"\0" * 7), lambda: protocol.decode_slot(0, b"\0" * 15),
                    lambda: protocol.decode_free(b"\0" * 5)]:
            with self.assertRaises(ProtocolError):
                bad()
        for slots, size, want in [(1, 10, "ring of 1 slots: want 2 to 64"), (65, 10, "ring of 65 slots"),
                                  (4, 0, "ring slots of 0 bytes"), (5, 268435448, "more than 1 GiB")]:
            with self.subTest(slots=slots, size=size), self.assertRaisesRegex(ValueError, want):
                protocol.encode_ring(slots, size)

    def test_spec_document_still_shows_these_bytes(self):
        """The hex above is the spec's: fail if one of them changes alone."""
        if not os.path.exists(SPEC_PATH):
            self.skipTest("docs/ingest-protocol.md is not beside this checkout")
        with open(SPEC_PATH, encoding="utf-8") as f:
            doc = f.read()
        example = doc[doc.index("## Example") :]
        lines = set()  # the hex bytes each of the spec's lines starts with
        for line in example.splitlines():
            if not line.startswith(("→ ", "← ")):
                continue
            words = []
            for word in line.split()[1:]:
                if not re.fullmatch(r"(?:[0-9a-f]{2})+", word):
                    break
                words.append(word)
            lines.add(" ".join(words))
        for want in [SPEC_HELLO, SPEC_READY, SPEC_FORMAT, SPEC_FRAME_HEADER, SPEC_BYE,
                     SPEC_HELLO_FLAGS, SPEC_READY_URL, SPEC_HELLO_SHM, SPEC_READY_SHM, SPEC_RING,
                     SPEC_SLOT, SPEC_FREE]:
            self.assertIn(" ".join(want.split()), lines)


class EncodeTest(unittest.TestCase):
    def test_header_is_little_endian_with_zero_reserved(self):
        self.assertEqual(
            protocol.encode_header(0x03, 0x01020304, flags=1), bytes([3, 1, 0, 0, 4, 3, 2, 1])
        )
        self.assertEqual(protocol.decode_header(bytes([0x82, 0, 0, 0, 5, 0, 0, 0])), (0x82, 0, 5))

    def test_hello_carries_token(self):
        msg = protocol.encode_hello("/a/b", "sécret")
        token = "sécret".encode("utf-8")
        want = b"FCST" + struct.pack("<HH", 1, 4) + b"/a/b" + struct.pack("<H", len(token)) + token
        self.assertEqual(msg, protocol.encode_header(protocol.HELLO, len(want)) + want)
        self.assertEqual(protocol.decode_hello(msg[8:]), (1, "/a/b", token))

    def test_hello_refuses_malformed_paths(self):
        for path in ["cam", "", "/a b", "/a?x", "/a#x", "/a\x00", "/a\tb", "/a\x7f", "/" + "x" * 255,
                     "/", "/pub/", "//pub", "/pub/../pub", "/pu%62", "/./pub", "/caméra"]:
            with self.subTest(path=path), self.assertRaises(ValueError):
                protocol.encode_hello(path)
        protocol.encode_hello("/" + "x" * 254)  # 255 bytes: allowed

    def test_format_carries_stride_rate_and_options(self):
        msg = protocol.encode_format(
            "nv12", 1920, 1080, 2048, Fraction(30000, 1001), {"bitrate": 2000, "gop": 60}
        )
        opts = b"bitrate=2000 gop=60"
        want = struct.pack("<BBIIIIIH", 7, 0, 1920, 1080, 2048, 30000, 1001, len(opts)) + opts + b"\0\0"
        self.assertEqual(msg, protocol.encode_header(protocol.FORMAT, len(want)) + want)
        self.assertEqual(
            protocol.decode_format(msg[8:]),
            (7, 1920, 1080, 2048, 30000, 1001, "bitrate=2000 gop=60"),
        )

    def test_format_codes(self):
        for name, code in [("bgr24", 1), ("rgb24", 2), ("bgra", 3), ("rgba", 4), ("gray", 5),
                           ("yuv420p", 6), ("nv12", 7), ("yuyv422", 8)]:
            with self.subTest(name=name):
                self.assertEqual(protocol.encode_format(name, 64, 48)[8], code)
        with self.assertRaisesRegex(ValueError, "unknown pixel format 'bgr'.*bgr24, rgb24"):
            protocol.encode_format("bgr", 64, 48)

    def test_format_refuses_sizes_the_server_refuses(self):
        for w, h in [(641, 480), (640, 481), (0, 480), (8194, 480), (640, 8200)]:
            with self.subTest(size=(w, h)), self.assertRaisesRegex(ValueError, "must be even"):
                protocol.encode_format("bgr24", w, h)
        protocol.encode_format("gray", 8192, 2)
        with self.assertRaisesRegex(ValueError, "stride 100 is less than a bgr24 row"):
            protocol.encode_format("bgr24", 64, 48, stride=100)

    def test_frame_header_without_timestamp_clears_flag(self):
        h = protocol.encode_frame_header(10)
        self.assertEqual(h, protocol.encode_header(protocol.FRAME, 18) + bytes(8))
        h = protocol.encode_frame_header(10, -5)
        self.assertEqual(h[1], protocol.FLAG_TIMESTAMP)
        self.assertEqual(protocol.decode_frame(h[1], h[8:] + b"0123456789"), (-5, b"0123456789"))
        self.assertEqual(protocol.decode_frame(0, bytes(8) + b"x"), (None, b"x"))

    def test_options(self):
        self.assertEqual(protocol.format_options(None), "")
        self.assertEqual(protocol.format_options({}), "")
        self.assertEqual(
            protocol.format_options({"crf": 23.5, "preset": "veryfast", "threads": 2}),
            "crf=23.5 preset=veryfast threads=2",
        )
        self.assertEqual(protocol.format_options("gop=30"), "gop=30")
        for bad in [{"tune": "zero latency"}, {"a=b": 1}, {"profile": ""}, {"x": "é"}]:
            with self.subTest(options=bad), self.assertRaises(ValueError):
                protocol.format_options(bad)

    def test_fps_fraction(self):
        for fps, want in [(30, (30, 1)), (60.0, (60, 1)), (12.5, (25, 2)), (30000 / 1001, (30000, 1001)),
                          (Fraction(24000, 1001), (24000, 1001)), ((15, 2), (15, 2)), (0.5, (1, 2))]:
            with self.subTest(fps=fps):
                self.assertEqual(protocol.fps_fraction(fps), want)
        for fps, want in [(1000, (1000, 1)), (0.001, (1, 1000)), ((1, 1000), (1, 1000))]:
            with self.subTest(fps=fps):  # the limits
                self.assertEqual(protocol.fps_fraction(fps), want)
        for bad in [0, -1, 0.0, float("nan"), float("inf"), (1, 0), 1001, (1, 1001), 0.0009]:
            with self.subTest(fps=bad), self.assertRaises(ValueError):
                protocol.fps_fraction(bad)


class FrameSizeTest(unittest.TestCase):
    def test_tight_sizes_follow_the_spec_table(self):
        w, h = 640, 480
        cw, ch = 320, 240
        for name, want in [("bgr24", w * h * 3), ("rgb24", w * h * 3), ("bgra", w * h * 4),
                           ("rgba", w * h * 4), ("gray", w * h), ("yuv420p", w * h + 2 * cw * ch),
                           ("nv12", w * h + 2 * cw * ch), ("yuyv422", cw * 4 * h)]:
            with self.subTest(name=name):
                self.assertEqual(protocol.frame_size(name, w, h), want)
        self.assertEqual(protocol.frame_size("bgr24", 640, 480), 921600)

    def test_strided_sizes(self):
        # Packed: stride*(height-1) + tight row.
        self.assertEqual(protocol.frame_size("bgr24", 320, 240, 1920), 1920 * 239 + 960)
        self.assertEqual(protocol.frame_size("gray", 10, 4, 16), 16 * 3 + 10)
        # yuv420p: whole planes, chroma stride (stride+1)/2.
        self.assertEqual(protocol.frame_size("yuv420p", 10, 4, 17), 17 * 4 + 2 * 9 * 2)
        # nv12: UV stride is stride rounded up to even.
        self.assertEqual(protocol.frame_size("nv12", 10, 4, 17), 17 * 4 + 18 * 2)


class DecodeTest(unittest.TestCase):
    def test_error_names_codes_and_fatality(self):
        msg = protocol.encode_error(9, "frame is 1000 bytes, want 921600 for bgr24 640x480")
        self.assertEqual(msg[:8], bytes([0x82, 0, 0, 0, len(msg) - 8, 0, 0, 0]))
        self.assertEqual(msg[8:12], bytes([9, 0, 0, 0]))
        err = protocol.decode_error(msg[8:])
        self.assertIsInstance(err, ServerError)
        self.assertEqual((err.code, err.name, err.fatal), (9, "frame-size", False))
        self.assertEqual(str(err), "frame is 1000 bytes, want 921600 for bgr24 640x480")
        names = ["bad-hello", "unsupported-version", "malformed", "message-too-large",
                 "path-in-use", "unauthorized", "bad-format", "no-format", "frame-size",
                 "shutting-down", "internal", "too-many-producers", "server-busy", "replaced",
                 "bad-ring"]
        for code, name in enumerate(names, 1):
            with self.subTest(code=code):
                err = protocol.decode_error(protocol.encode_error(code, "x")[8:])
                self.assertEqual(err.name, name)
                self.assertEqual(err.fatal, code not in (7, 8, 9))
        self.assertEqual(protocol.decode_error(bytes([99, 0, 1, 0]) + b"new").name, "error-99")

    def test_decoder_splits_a_stream_anywhere(self):
        stream = (protocol.encode_ready() + protocol.encode_error(7, "bad option gopp")
                  + protocol.encode_bye())
        for chunk in [1, 3, 8, 100]:
            with self.subTest(chunk=chunk):
                dec = protocol.Decoder()
                got = []
                for i in range(0, len(stream), chunk):
                    got += dec.feed(stream[i : i + chunk])
                self.assertEqual([m.type for m in got], [0x81, 0x82, 0x04])
                self.assertEqual(got[1].payload[4:], b"bad option gopp")
                self.assertEqual(dec.buffered, 0)

    def test_decoder_refuses_oversized_and_reserved_bits(self):
        with self.assertRaisesRegex(ProtocolError, "limit 65536"):
            protocol.Decoder().feed(protocol.encode_header(protocol.ERROR, 65537))
        protocol.Decoder().feed(protocol.encode_header(protocol.FRAME, 1 << 20))  # FRAME may be large
        with self.assertRaisesRegex(ProtocolError, "reserved"):
            protocol.Decoder().feed(bytes([0x81, 0, 1, 0, 0, 0, 0, 0]))


if __name__ == "__main__":
    unittest.main()
