"""Server and VideoWriter with a stand-in for the server binary (fake_framecast.py)."""

import contextlib
import io
import json
import os
import socket
import subprocess
import stat
import sys
import tempfile
import unittest

import framecast
from framecast import server as fcserver

try:
    import numpy as np
except ImportError:
    np = None

HERE = os.path.dirname(os.path.abspath(__file__))


class FakeBinary:
    """A temporary executable that runs fake_framecast.py, and its report."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="fcbin-")
        self.path = os.path.join(self.dir, "framecast")
        self.report = os.path.join(self.dir, "report.json")
        with open(self.path, "w") as f:
            f.write('#!/bin/sh\nexec "%s" "%s" "$@"\n' % (sys.executable, os.path.join(HERE, "fake_framecast.py")))
        os.chmod(self.path, stat.S_IRWXU)
        self._env = {k: os.environ.get(k) for k in ("FAKE_FRAMECAST_REPORT", "FAKE_FRAMECAST_FAIL",
                                                     "FRAMECAST_BINARY")}
        os.environ["FAKE_FRAMECAST_REPORT"] = self.report
        os.environ["FRAMECAST_BINARY"] = self.path

    def read(self):
        with open(self.report) as f:
            return json.load(f)

    def close(self):
        for k, v in self._env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)


def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ServerTest(unittest.TestCase):
    def setUp(self):
        self.bin = FakeBinary()
        self.addCleanup(self.bin.close)

    def test_runs_the_binary_with_a_private_socket_free_udp_ports_and_the_watchdog(self):
        with framecast.Server("127.0.0.1:18554") as srv:
            self.assertTrue(srv.running)
            self.assertTrue(srv.ingest.startswith("unix://"))
            sock = srv.ingest[len("unix://"):]
            self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(sock)).st_mode), 0o700)
            self.assertEqual(srv.rtsp_url("/cam"), "rtsp://127.0.0.1:18554/cam")
            with framecast.Publisher("/cam", srv.ingest, width=4, height=2, pixel_format="gray") as pub:
                pub.write(bytes(8))
        self.assertFalse(srv.running)
        self.assertFalse(os.path.exists(os.path.dirname(sock)))
        argv = self.bin.read()["argv"]
        self.assertEqual(argv[0], "serve")
        for flag, value in [("--rtsp", "127.0.0.1:18554"), ("--ingest", srv.ingest), ("--http", "none")]:
            self.assertEqual(argv[argv.index(flag) + 1], value)
        self.assertIn("--exit-with-parent", argv)
        rtp = int(argv[argv.index("--udp-rtp") + 1].rpartition(":")[2])
        rtcp = int(argv[argv.index("--udp-rtcp") + 1].rpartition(":")[2])
        self.assertEqual((rtp % 2, rtcp), (0, rtp + 1))
        self.assertEqual(self.bin.read()["frames"], 1)

    def test_udp_false_serves_rtp_over_tcp_only(self):
        with framecast.Server("127.0.0.1:0", udp=False):
            pass
        argv = self.bin.read()["argv"]
        self.assertIn("--no-udp", argv)
        self.assertNotIn("--udp-rtp", argv)

    def test_a_server_that_fails_says_why(self):
        os.environ["FAKE_FRAMECAST_FAIL"] = "listen tcp 127.0.0.1:8554: bind: address already in use"
        with self.assertRaises(framecast.ServerStartError) as cm:
            framecast.Server("127.0.0.1:8554")
        self.assertIn("exited with status 3 before it was ready", str(cm.exception))
        self.assertIn("address already in use", str(cm.exception))
        self.assertIsInstance(cm.exception, framecast.Error)

    def test_no_binary_is_a_clear_error(self):
        try:
            from framecast import _binary
        except ImportError:
            _binary = None
        if _binary is not None and _binary.bundled_binary():
            self.skipTest("this framecast package bundles a server binary")
        os.environ["FRAMECAST_BINARY"] = ""
        old_path = os.environ.get("PATH", "")
        os.environ["PATH"] = self.bin.dir + "-nonexistent"
        try:
            with self.assertRaisesRegex(framecast.ServerStartError, "no framecast server binary"):
                framecast.Server()
            with self.assertRaisesRegex(framecast.ServerStartError, "no framecast server binary"):
                fcserver.find_binary()
        finally:
            os.environ["PATH"] = old_path


@unittest.skipIf(np is None, "numpy is not installed")
class VideoWriterTest(unittest.TestCase):
    def setUp(self):
        self.bin = FakeBinary()
        self.addCleanup(self.bin.close)

    def test_starts_a_server_when_none_serves_the_port_and_stops_it_at_release(self):
        port = free_tcp_port()
        url = "rtsp://127.0.0.1:%d/cam" % port
        with framecast.VideoWriter(url, fps=30, frame_size=(64, 48), quiet=True) as out:
            self.assertTrue(out.isOpened())
            srv = out.server
            self.assertTrue(srv.running)
            self.assertEqual(out.publisher.format, framecast.Format("bgr24", 64, 48, 0))
            # A second writer on the same port shares the server.
            with framecast.VideoWriter("rtsp://127.0.0.1:%d/cam2" % port, 30, (64, 48), quiet=True) as two:
                self.assertIs(two.server, srv)
            self.assertTrue(srv.running)
            for _ in range(3):
                out.write(np.zeros((48, 64, 3), np.uint8))
        self.assertFalse(out.isOpened())
        self.assertFalse(srv.running)
        self.assertEqual(self.bin.read()["frames"], 3)
        self.assertEqual(self.bin.read()["argv"][2], "127.0.0.1:%d" % port)

    def test_frames_of_another_size_say_what_to_do(self):
        with framecast.VideoWriter("rtsp://127.0.0.1:%d/cam" % free_tcp_port(), 30, (64, 48), quiet=True) as out:
            with self.assertRaisesRegex(framecast.FrameError, r"opened for 64x48 frames.*cv2\.resize"):
                out.write(np.zeros((480, 640, 3), np.uint8))
            with self.assertRaisesRegex(framecast.FrameError, "channels-first"):
                out.write(np.zeros((3, 48, 64), np.uint8))
            out.write(bytes(64 * 48 * 3))  # bytes of frame_size go as they are

    def test_prints_the_url_to_watch(self):
        err = io.StringIO()
        url = "rtsp://127.0.0.1:%d/cam" % free_tcp_port()
        with contextlib.redirect_stderr(err):
            framecast.VideoWriter(url, 30, (64, 48)).release()
        self.assertIn("watch it with: ffplay -rtsp_transport tcp rtsp://127.0.0.1:8554/cam", err.getvalue())

    def test_bad_urls_and_sizes_raise_before_starting_anything(self):
        for args, exc, msg in [
            (("http://127.0.0.1/cam", 30, (64, 48)), ValueError, "want rtsp://HOST:PORT/PATH"),
            (("rtsp://127.0.0.1:8554/", 30, (64, 48)), ValueError, "names no stream"),
            (("rtsp://127.0.0.1:8554/cam", 30, (65, 48)), ValueError, r"must be even.*crop to 64x48"),
            (("rtsp://127.0.0.1:8554/cam", 30), TypeError, "frame_size"),
        ]:
            with self.subTest(args=args), self.assertRaisesRegex(exc, msg):
                framecast.VideoWriter(*args, quiet=True)
        self.assertFalse(os.path.exists(self.bin.report))



DOCS = os.path.join(HERE, os.pardir, os.pardir, os.pardir, "docs", "python.md")


@unittest.skipUnless(os.path.exists(DOCS), "docs/python.md is not beside this checkout")
class DocsExampleTest(unittest.TestCase):
    def test_the_numpy_free_example_runs_as_written(self):
        with open(DOCS, encoding="utf-8") as f:
            doc = f.read()
        section = doc[doc.index("## Without numpy"):]
        code = section[section.index("```python\n") + len("```python\n"):]
        code = code[:code.index("```")]
        port = free_tcp_port()
        code = code.replace("127.0.0.1:8554", "127.0.0.1:%d" % port)
        binary = FakeBinary()
        self.addCleanup(binary.close)
        env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(framecast.__file__)))
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("watch it with: ffplay", out.stderr)
        self.assertEqual(binary.read()["frames"], 90)


if __name__ == "__main__":
    unittest.main()
