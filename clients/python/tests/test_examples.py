"""The examples in examples/python run against the fake server."""

import os
import subprocess
import sys
import unittest

from fakeserver import FakeServer

try:
    import numpy as np
except ImportError:
    np = None

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir, "examples", "python")
CLIENT = os.path.join(os.path.dirname(__file__), os.pardir)


def run(script, *args):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(CLIENT), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, os.path.join(EXAMPLES, script)] + list(args), env=env,
                          capture_output=True, text=True, timeout=60)


@unittest.skipIf(np is None, "numpy is not installed")
@unittest.skipUnless(os.path.isdir(EXAMPLES), "examples/python is not beside this checkout")
class SyntheticTest(unittest.TestCase):
    def test_publishes_numbered_frames_with_colour_bars(self):
        w, h = 128, 96
        with FakeServer() as srv:
            out = run("synthetic.py", "--address", srv.address, "--path", "/demo",
                      "--size", "%dx%d" % (w, h), "--fps", "200", "--frames", "5")
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("rtsp://127.0.0.1:8554/demo", out.stdout)
            self.assertTrue(srv.wait("closed"))
        self.assertEqual(len(srv.frames), 5)
        block = w // 32
        for n, (fmt, ts, pixels) in enumerate(srv.frames):
            self.assertEqual((fmt.pixel_format, fmt.width, fmt.height), (1, w, h))  # bgr24
            self.assertIsNotNone(ts)
            frame = np.frombuffer(pixels, np.uint8).reshape(h, w, 3)
            bits = [frame[h - 1, i * block + block // 2, 1] >= 128 for i in range(16)]
            self.assertEqual(sum(b << (15 - i) for i, b in enumerate(bits)), n)
            self.assertEqual(frame[h // 4, w // 16].tolist(), [255, 255, 255])  # white bar
            self.assertEqual(frame[h // 4, w * 13 // 16].tolist(), [255, 0, 0])  # blue bar, BGR


class ExampleErrorsTest(unittest.TestCase):
    def test_no_server_is_a_one_line_error(self):
        out = run("synthetic.py", "--address", "unix:///nonexistent/framecast.sock", "--frames", "1")
        if "No module named 'numpy'" in out.stderr:
            self.skipTest("numpy is not installed")
        self.assertEqual(out.returncode, 1)
        self.assertEqual(len(out.stderr.strip().splitlines()), 1, out.stderr)
        self.assertIn("cannot connect to framecast at unix:///nonexistent/framecast.sock", out.stderr)

    def test_opencv_example_explains_what_is_missing(self):
        try:
            import cv2  # noqa: F401
            self.skipTest("OpenCV is installed; the camera may be real")
        except ImportError:
            pass
        out = run("opencv_camera.py")
        self.assertEqual(out.returncode, 1)
        self.assertIn("this example needs OpenCV", out.stderr)


if __name__ == "__main__":
    unittest.main()
