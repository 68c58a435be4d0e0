"""Publisher against a fake server thread: bytes on the wire, formats, errors."""

import os
import socket
import subprocess
import sys
import time
import unittest

import framecast
from framecast import Format, Publisher, ServerError, protocol, publisher

from fakeserver import FakeServer
from test_protocol import SPEC_BYE, SPEC_FORMAT, SPEC_FRAME_HEADER, SPEC_HELLO, unhex

try:
    import numpy as np
except ImportError:
    np = None

needs_numpy = unittest.skipIf(np is None, "numpy is not installed")


def types(server):
    return [m.type for m in server.messages]


def write_until_raises(pub, frame, timeout=5.0):
    """Write frame until write raises (errors come back asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pub.write(frame)
        time.sleep(0.01)
    raise AssertionError("write raised nothing within %g s" % timeout)


class WireTest(unittest.TestCase):
    """What the Publisher sends, byte for byte."""

    def test_sends_the_spec_example(self):
        ts = 1700000000123456789
        pixels = bytes(640 * 480 * 3)
        with FakeServer() as srv:
            with Publisher("/cam", srv.address, width=640, height=480, pixel_format="bgr24") as pub:
                self.assertEqual((pub.server_version, pub.max_frame_payload), (1, 268435456))
                pub.write(pixels, timestamp_ns=ts)
            self.assertTrue(srv.wait("closed"))
            hello = bytearray(unhex(SPEC_HELLO))
            hello[1] = protocol.FLAG_INFO  # the client asks for the RTSP URL
            want = (bytes(hello) + unhex(SPEC_FORMAT) + unhex(SPEC_FRAME_HEADER)
                    + ts.to_bytes(8, "little") + pixels + unhex(SPEC_BYE))
            self.assertEqual(len(srv.raw), len(want))
            self.assertTrue(srv.raw == want, "bytes on the wire differ from the spec's example")

    @needs_numpy
    def test_numpy_frame_declares_its_format_before_the_first_frame(self):
        frame = np.full((480, 640, 3), 7, np.uint8)
        with FakeServer() as srv:
            with Publisher("/cam", srv.address) as pub:
                self.assertIsNone(pub.format)
                pub.write(frame)
                pub.write(frame)
                self.assertEqual(pub.format, Format("bgr24", 640, 480, 0))
            self.assertTrue(srv.wait("closed"))
            self.assertEqual(types(srv), [0x01, 0x02, 0x03, 0x03, 0x04])
            self.assertEqual(srv.messages[1], (0x02, 0, unhex(SPEC_FORMAT)[8:]))
            frame_msg = srv.messages[2]
            self.assertEqual(frame_msg.flags, 0)  # no timestamp: the server uses arrival time
            self.assertEqual(frame_msg.payload[8:], frame.tobytes())

    def test_unix_socket(self):
        with FakeServer("unix") as srv:
            with Publisher("/cam", srv.address, width=4, height=2, pixel_format="gray") as pub:
                pub.write(b"abcdefgh")
            self.assertTrue(srv.wait("closed"))
            self.assertEqual(srv.frames[0][2], b"abcdefgh")

    def test_hello_and_format_carry_token_rate_and_options(self):
        with FakeServer() as srv:
            with Publisher("/a/b", srv.address, width=64, height=48, pixel_format="nv12",
                           fps=12.5, options={"bitrate": 500, "gop": 25}, token="s3cret"):
                pass
            self.assertTrue(srv.wait("closed"))
            self.assertEqual(protocol.decode_hello(srv.messages[0].payload), (1, "/a/b", b"s3cret"))
            self.assertEqual(protocol.decode_format(srv.messages[1].payload),
                             (7, 64, 48, 0, 25, 2, "bitrate=500 gop=25"))

    @needs_numpy
    def test_a_new_shape_declares_a_new_format(self):
        with FakeServer() as srv:
            with Publisher("/cam", srv.address) as pub:
                pub.write(np.zeros((480, 640, 3), np.uint8))
                pub.write(np.zeros((240, 320, 3), np.uint8))
                pub.write(np.zeros((240, 320, 3), np.uint8))
                pub.write(np.zeros((240, 320), np.uint8))
            self.assertTrue(srv.wait("closed"))
            self.assertEqual(types(srv), [1, 2, 3, 2, 3, 3, 2, 3, 4])
            fmts = [protocol.decode_format(m.payload)[:3] for m in srv.messages if m.type == 2]
            self.assertEqual(fmts, [(1, 640, 480), (1, 320, 240), (5, 320, 240)])

    @needs_numpy
    def test_pixel_format_overrides_the_shape(self):
        with FakeServer() as srv:
            with Publisher("/cam", srv.address, pixel_format="rgb24") as pub:
                pub.write(np.zeros((240, 320, 3), np.uint8))
            self.assertTrue(srv.wait("closed"))
            self.assertEqual(protocol.decode_format(srv.messages[1].payload)[0], 2)

    @needs_numpy
    def test_crop_and_views_arrive_as_the_pixels_they_show(self):
        big = (np.arange(480 * 640 * 3, dtype=np.uint32) % 253).astype(np.uint8).reshape(480, 640, 3)
        crop = big[40:280, 200:520]  # contiguous rows: sent with a stride
        with FakeServer() as srv:
            with Publisher("/cam", srv.address) as pub:
                pub.write(crop)
                pub.write(big[:, ::-1])
            self.assertTrue(srv.wait("closed"))
        (f1, _, p1), (f2, _, p2) = srv.frames
        self.assertEqual((f1.width, f1.height, f1.stride), (320, 240, 1920))
        got = b"".join(p1[y * 1920 : y * 1920 + 960] for y in range(240))
        self.assertEqual(got, crop.tobytes())
        self.assertEqual((f2.width, f2.height, f2.stride), (640, 480, 0))
        self.assertEqual(p2, big[:, ::-1].tobytes())

    @needs_numpy
    def test_contiguous_frame_goes_to_the_socket_uncopied(self):
        sent = []
        real = publisher._send_all

        def spy(sock, bufs):
            sent.append(list(bufs))
            real(sock, bufs)

        frame = np.zeros((240, 320, 3), np.uint8)
        publisher._send_all = spy
        try:
            with FakeServer() as srv, Publisher("/cam", srv.address) as pub:
                pub.write(frame)
        finally:
            publisher._send_all = real
        header, pixels = sent[-2]  # then BYE
        self.assertEqual(len(header), 16)
        self.assertTrue(np.shares_memory(np.frombuffer(pixels, np.uint8), frame))

    def test_partial_sends_resume_where_they_stopped(self):
        class Trickle:
            """A socket that takes at most 7 bytes per sendmsg."""

            def __init__(self):
                self.got = bytearray()
                self.calls = 0

            def sendmsg(self, bufs):
                self.calls += 1
                data = b"".join(bytes(b) for b in bufs)[:7]
                self.got += data
                return len(data)

        sock = Trickle()
        parts = [b"header--", memoryview(bytes(range(50))), b"", b"tail"]
        publisher._send_all(sock, parts)
        self.assertEqual(bytes(sock.got), b"header--" + bytes(range(50)) + b"tail")
        self.assertEqual(sock.calls, 9)  # 62 bytes, 7 at a time

    def test_numpy_is_not_imported(self):
        out = subprocess.run(
            [sys.executable, "-c", "import sys, framecast; print('numpy' in sys.modules)"],
            env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(framecast.__file__))),
            capture_output=True, text=True, timeout=30, check=True,
        )
        self.assertEqual(out.stdout.strip(), "False")


class ErrorTest(unittest.TestCase):
    """How server errors reach the producer."""

    def test_frame_size_error_is_raised_by_a_later_write_and_the_stream_goes_on(self):
        good = bytes(640 * 480 * 3)
        with FakeServer() as srv:
            with Publisher("/cam", srv.address, width=640, height=480, pixel_format="bgr24") as pub:
                pub.write(good)
                pub.write(bytes(1000))
                sent = 1
                deadline = time.monotonic() + 5
                with self.assertRaises(ServerError) as cm:
                    while time.monotonic() < deadline:
                        pub.write(good)
                        sent += 1
                        time.sleep(0.01)
                err = cm.exception
                self.assertEqual((err.code, err.name, err.fatal), (9, "frame-size", False))
                self.assertEqual(str(err), "frame is 1000 bytes, want 921600 for bgr24 640x480")
                self.assertEqual(err.others, [])
                self.assertFalse(pub.closed)
                pub.write(good)
                pub.write(good)
            self.assertTrue(srv.wait("closed"))
            self.assertEqual(len(srv.frames), sent + 2)  # all but the refused one

    def test_errors_sent_together_are_raised_once(self):
        with FakeServer() as srv:
            with Publisher("/cam", srv.address, width=4, height=2, pixel_format="gray") as pub:
                srv.send(b"".join(
                    protocol.encode_error(9, "frame is %d bytes, want 8 for gray 4x2" % n)
                    for n in (1, 2, 3)
                ))
                with self.assertRaises(ServerError) as cm:
                    write_until_raises(pub, bytes(8))
                self.assertEqual(str(cm.exception), "frame is 1 bytes, want 8 for gray 4x2")
                self.assertEqual([str(e) for e in cm.exception.others],
                                 ["frame is 2 bytes, want 8 for gray 4x2",
                                  "frame is 3 bytes, want 8 for gray 4x2"])
                pub.write(bytes(8))  # nothing left to raise

    def test_close_raises_errors_about_the_last_frames(self):
        with FakeServer() as srv:
            pub = Publisher("/cam", srv.address, width=4, height=2, pixel_format="gray")
            pub.write(bytes(3))
            with self.assertRaisesRegex(ServerError, "frame is 3 bytes, want 8"):
                pub.close()
            self.assertTrue(pub.closed)
            pub.close()  # again: nothing
            with self.assertRaisesRegex(ValueError, "closed Publisher"):
                pub.write(bytes(8))

    @needs_numpy
    def test_refused_format_raises_and_the_previous_one_stays(self):
        def refuse_small(f):
            if f.width < 640:
                return 7, "size %dx%d is below this server's 640x480" % (f.width, f.height)
            return None

        with FakeServer(format_error=refuse_small) as srv:
            with Publisher("/cam", srv.address) as pub:
                pub.write(np.zeros((480, 640, 3), np.uint8))
                with self.assertRaises(ServerError) as cm:
                    pub.write(np.zeros((240, 320, 3), np.uint8))
                self.assertEqual((cm.exception.name, cm.exception.fatal), ("bad-format", False))
                self.assertEqual(str(cm.exception), "size 320x240 is below this server's 640x480")
                self.assertEqual(pub.format, Format("bgr24", 640, 480, 0))
                pub.write(np.zeros((480, 640, 3), np.uint8))
            self.assertTrue(srv.wait("closed"))
            self.assertEqual(len(srv.frames), 2)

    def test_refused_format_at_construction_raises(self):
        with FakeServer(format_error=lambda f: (7, "unknown option gopp")) as srv:
            with self.assertRaisesRegex(ServerError, "unknown option gopp"):
                Publisher("/cam", srv.address, width=4, height=2, pixel_format="gray",
                          options={"gopp": 1})

    def test_refused_hello_raises_fatal_error(self):
        msg = "path /cam already has a producer (from 127.0.0.1:53210)"
        with FakeServer(hello_error=(5, msg)) as srv:
            with self.assertRaises(ServerError) as cm:
                Publisher("/cam", srv.address)
            err = cm.exception
            self.assertEqual((err.code, err.name, err.fatal, str(err)), (5, "path-in-use", True, msg))

    def test_fatal_error_ends_the_publisher(self):
        with FakeServer() as srv:
            pub = Publisher("/cam", srv.address, width=4, height=2, pixel_format="gray")
            pub.write(bytes(8))
            srv.send(protocol.encode_error(11, "encoder failed"))
            srv.conn.shutdown(socket.SHUT_WR)
            with self.assertRaises(ServerError) as cm:
                write_until_raises(pub, bytes(8))
            self.assertEqual((cm.exception.name, cm.exception.fatal), ("internal", True))
            self.assertTrue(pub.closed)
            with self.assertRaisesRegex(ServerError, "encoder failed"):
                pub.write(bytes(8))  # again, and again
            pub.close()  # already raised: close says nothing more

    def test_fatal_error_sent_mid_frame_is_what_write_raises(self):
        # The server refuses while a 48 MB frame is still being sent and
        # closes: the write fails on a broken pipe but raises the reason.
        for family in ["tcp", "unix"]:
            with self.subTest(family=family):
                with FakeServer(family, keep_raw=False,
                                fatal_after=(100, 10, "server is shutting down")) as srv:
                    pub = Publisher("/cam", srv.address, width=4096, height=4096,
                                    pixel_format="bgr24")
                    big = bytes(4096 * 4096 * 3)
                    with self.assertRaises(ServerError) as cm:
                        pub.write(big)
                        pub.write(big)
                    self.assertEqual((cm.exception.name, str(cm.exception)),
                                     ("shutting-down", "server is shutting down"))
                    pub.close()

    def test_garbage_from_the_server_is_a_protocol_error(self):
        for garbage in [protocol.encode_header(0x99, 0),
                        protocol.encode_header(protocol.ERROR, 2) + b"\x09\x00",
                        protocol.encode_ready()]:
            with self.subTest(garbage=garbage.hex()), FakeServer() as srv:
                pub = Publisher("/cam", srv.address, width=4, height=2, pixel_format="gray")
                srv.send(garbage)
                with self.assertRaises(framecast.ProtocolError):
                    write_until_raises(pub, bytes(8))
                self.assertTrue(pub.closed)
                pub.close()

    def test_server_gone_raises_connection_error(self):
        with FakeServer() as srv:
            pub = Publisher("/cam", srv.address, width=4, height=2, pixel_format="gray")
            srv.conn.shutdown(socket.SHUT_RDWR)
            with self.assertRaisesRegex(ConnectionError, "closed the connection|connection lost"):
                write_until_raises(pub, bytes(8))
            pub.close()

    def test_connect_errors_name_the_address(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nobody listens there now
        addr = "tcp://127.0.0.1:%d" % port
        with self.assertRaisesRegex(ConnectionError, "cannot connect to framecast at " + addr):
            Publisher("/cam", addr)
        with self.assertRaisesRegex(ConnectionError, "unix:///nonexistent/framecast.sock"):
            Publisher("/cam", "unix:///nonexistent/framecast.sock")

    def test_bad_arguments_raise_before_connecting(self):
        for kwargs, exc, msg in [
            (dict(address="http://x"), ValueError, "want tcp://HOST:PORT or unix:///PATH"),
            (dict(address="127.0.0.1:8555"), ValueError, "want tcp://HOST:PORT"),
            (dict(address="tcp://127.0.0.1:99999"), ValueError, "want tcp://HOST:PORT"),
            (dict(pixel_format="bgr"), ValueError, "unknown pixel format 'bgr'"),
            (dict(fps=0), ValueError, "frame rate 0: want 1/1000 to 1000"),
            (dict(options={"tune": "a b"}), ValueError, "encoder option tune=a b"),
        ]:
            with self.subTest(**kwargs), self.assertRaisesRegex(exc, msg):
                Publisher("/cam", **kwargs)
        with self.assertRaisesRegex(ValueError, "path 'cam'"):
            Publisher("cam")

    @needs_numpy
    def test_wrong_dtype_raises_and_sends_nothing(self):
        with FakeServer() as srv:
            with Publisher("/cam", srv.address) as pub:
                with self.assertRaisesRegex(TypeError, "^frame dtype float64: want uint8 .*astype"):
                    pub.write(np.zeros((480, 640, 3)))
                with self.assertRaisesRegex(ValueError, "must be even"):
                    pub.write(np.zeros((480, 641, 3), np.uint8))
            self.assertTrue(srv.wait("closed"))
            self.assertEqual(types(srv), [1, 4])

    def test_bytes_need_a_declared_format(self):
        with FakeServer() as srv, Publisher("/cam", srv.address) as pub:
            with self.assertRaisesRegex(ValueError, "needs width, height and pixel_format"):
                pub.write(bytes(10))

    def test_exception_in_with_block_is_not_masked_by_close(self):
        with FakeServer() as srv:
            with self.assertRaisesRegex(KeyError, "mine"):
                with Publisher("/cam", srv.address, width=4, height=2, pixel_format="gray") as pub:
                    pub.write(bytes(3))  # close would raise frame-size
                    raise KeyError("mine")


if __name__ == "__main__":
    unittest.main()
