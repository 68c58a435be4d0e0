"""Publisher's options beyond the basics: eager FORMAT, HELLO's flags, the
RTSP URL, reconnecting, realtime pacing, and the exceptions' retryable."""

import logging
import socket
import threading
import time
import unittest

import framecast
from framecast import Format, Publisher, ServerError, protocol

from fakeserver import FakeServer

# Reconnecting logs a warning; the tests that look for it use assertLogs.
logging.getLogger("framecast").addHandler(logging.NullHandler())


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def types(server):
    return [m.type for m in server.messages]


class HandshakeTest(unittest.TestCase):
    def test_format_is_declared_at_construction_when_the_size_is_known(self):
        # A viewer that comes before the first frame finds the path.
        with FakeServer() as srv:
            with Publisher("/cam", srv.address, width=640, height=480) as pub:
                self.assertEqual(pub.format, Format("bgr24", 640, 480, 0))
                self.assertEqual(types(srv), [1, 2])
            self.assertTrue(srv.wait("closed"))
            self.assertEqual(protocol.decode_format(srv.messages[1].payload)[:3], (1, 640, 480))

    def test_rtsp_url_comes_from_ready(self):
        with FakeServer() as srv:
            with Publisher("/site/cam", srv.address) as pub:
                self.assertEqual(pub.rtsp_url, "rtsp://127.0.0.1:8554/site/cam")
            self.assertEqual(srv.hello_flags, [protocol.FLAG_INFO])

    def test_a_server_older_than_hello_flags_is_asked_again_without_them(self):
        with FakeServer(old=True) as srv:
            with Publisher("/cam", srv.address, width=4, height=2, pixel_format="gray") as pub:
                self.assertIsNone(pub.rtsp_url)
                pub.write(bytes(8))
            self.assertTrue(srv.wait("closed"))
            self.assertEqual(srv.hello_flags, [protocol.FLAG_INFO, 0])
            self.assertEqual(len(srv.frames), 1)
            with self.assertRaisesRegex(ServerError, "unknown flags"):
                Publisher("/cam", srv.address, takeover=True)  # it cannot take over

    def test_takeover_sets_the_flag(self):
        with FakeServer() as srv:
            Publisher("/cam", srv.address, takeover=True).close()
            self.assertEqual(srv.hello_flags, [protocol.FLAG_TAKEOVER | protocol.FLAG_INFO])


class RetryableTest(unittest.TestCase):
    def test_errors_share_a_base_and_say_whether_to_retry(self):
        retryable = {5, 10, 11, 12, 13}
        for code, name in protocol.ERROR_NAMES.items():
            err = protocol.decode_error(protocol.encode_error(code, "m")[8:])
            with self.subTest(name=name):
                self.assertIsInstance(err, framecast.Error)
                self.assertEqual(err.retryable, code in retryable)
        self.assertTrue(issubclass(framecast.ConnectionLost, ConnectionError))
        self.assertTrue(framecast.ConnectionLost("x").retryable)
        self.assertTrue(issubclass(framecast.Timeout, TimeoutError))
        self.assertTrue(framecast.Timeout("x").retryable)
        self.assertFalse(framecast.ProtocolError("x").retryable)
        self.assertTrue(issubclass(framecast.FrameError, ValueError))
        self.assertTrue(issubclass(framecast.FrameTypeError, TypeError))

    def test_cannot_connect_is_a_retryable_connection_lost(self):
        addr = "tcp://127.0.0.1:%d" % free_port()
        with self.assertRaises(framecast.ConnectionLost) as cm:
            Publisher("/cam", addr)
        self.assertTrue(cm.exception.retryable)


class ReconnectTest(unittest.TestCase):
    def test_frames_go_on_after_the_server_restarts_and_those_between_are_counted(self):
        port = free_port()
        a = FakeServer(port=port)
        pub = Publisher("/cam", a.address, width=4, height=2, pixel_format="gray", reconnect=True)
        try:
            for n in range(3):
                pub.write(bytes([n]) * 8)
            # The first server has read the three frames before it goes away.
            deadline = time.monotonic() + 5
            while len(a.frames) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            a.close()  # the server goes away; writes go on without raising
            deadline = time.monotonic() + 5
            with self.assertLogs("framecast", "WARNING") as logs:
                while pub.frames_lost == 0 and time.monotonic() < deadline:
                    pub.write(bytes(8))
                    time.sleep(0.01)
            self.assertIn("lost the connection to %s" % a.address, logs.output[0])
            self.assertGreater(pub.frames_lost, 0)
            self.assertFalse(pub.connected)
            self.assertFalse(pub.closed)
            lost = pub.frames_lost
            with FakeServer(port=port) as b:
                deadline = time.monotonic() + 5
                while pub.reconnects == 0 and time.monotonic() < deadline:
                    pub.write(bytes([200]) * 8)
                    time.sleep(0.01)
                self.assertEqual(pub.reconnects, 1)
                self.assertGreaterEqual(pub.frames_lost, lost)
                pub.write(bytes([201]) * 8)
                pub.close()
                self.assertTrue(b.wait("closed"))
                # HELLO, the format again, then frames: the path is viewable at once.
                self.assertEqual(types(b)[:2], [1, 2])
                self.assertEqual([f[2][0] for f in b.frames][-2:], [200, 201])
            self.assertEqual(len(a.frames), 3)
        finally:
            pub.close()

    def test_the_constructor_waits_for_the_server(self):
        port = free_port()
        started = []
        timer = threading.Timer(0.3, lambda: started.append(FakeServer(port=port)))
        timer.start()
        try:
            t0 = time.monotonic()
            with Publisher("/cam", "tcp://127.0.0.1:%d" % port, reconnect=True, timeout=5) as pub:
                self.assertTrue(pub.connected)
            self.assertGreater(time.monotonic() - t0, 0.25)
        finally:
            timer.join()
            for s in started:
                s.close()

    def test_the_constructor_gives_up_after_timeout(self):
        t0 = time.monotonic()
        with self.assertRaises(framecast.ConnectionLost):
            Publisher("/cam", "tcp://127.0.0.1:%d" % free_port(), reconnect=True, timeout=0.5)
        self.assertLess(time.monotonic() - t0, 3)

    def test_errors_that_would_repeat_are_raised_not_retried(self):
        port = free_port()
        a = FakeServer(port=port)
        pub = Publisher("/cam", a.address, width=4, height=2, pixel_format="gray", reconnect=True)
        a.send(protocol.encode_error(14, "another producer (from 127.0.0.1:5) took over /cam"))
        with self.assertRaises(ServerError) as cm:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                pub.write(bytes(8))
                time.sleep(0.01)
        self.assertEqual((cm.exception.name, cm.exception.retryable), ("replaced", False))
        self.assertTrue(pub.closed)
        with self.assertRaisesRegex(ServerError, "took over"):
            pub.write(bytes(8))
        a.close()
        pub.close()

    def test_a_refusal_at_reconnection_is_raised(self):
        port = free_port()
        a = FakeServer(port=port)
        pub = Publisher("/cam", a.address, width=4, height=2, pixel_format="gray", reconnect=True)
        a.close()
        with FakeServer(port=port, hello_error=(6, "publishing /cam needs credentials")):
            with self.assertRaises(ServerError) as cm:
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    pub.write(bytes(8))
                    time.sleep(0.01)
            self.assertEqual(cm.exception.name, "unauthorized")
            self.assertTrue(pub.closed)
        pub.close()

    def test_a_busy_path_at_reconnection_is_retried(self):
        port = free_port()
        a = FakeServer(port=port)
        pub = Publisher("/cam", a.address, width=4, height=2, pixel_format="gray", reconnect=True)
        a.close()
        with FakeServer(port=port, hello_error=[(5, "path /cam already has a producer"), None]) as b:
            deadline = time.monotonic() + 5
            while pub.reconnects == 0 and time.monotonic() < deadline:
                pub.write(bytes(8))
                time.sleep(0.01)
            self.assertEqual(pub.reconnects, 1)
            pub.close()
            self.assertEqual(b.hello_flags, [protocol.FLAG_INFO, protocol.FLAG_INFO])


class RealtimeTest(unittest.TestCase):
    def test_writes_are_paced_to_fps(self):
        with FakeServer(keep_raw=False) as srv:
            with Publisher("/cam", srv.address, width=4, height=2, pixel_format="gray",
                           fps=50, realtime=True) as pub:
                t0 = time.monotonic()
                for _ in range(26):
                    pub.write(bytes(8))
                elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.49)  # 25 intervals of 20 ms
        self.assertLess(elapsed, 1.5)

    def test_timestamps_pace_when_given(self):
        with FakeServer(keep_raw=False) as srv:
            with Publisher("/cam", srv.address, width=4, height=2, pixel_format="gray",
                           fps=1000, realtime=True) as pub:
                t0 = time.monotonic()
                for n in range(5):
                    pub.write(bytes(8), timestamp_ns=n * 100_000_000)
                elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.39)  # by the timestamps, not 1000 fps

    def test_a_producer_behind_is_not_made_to_burst(self):
        with FakeServer(keep_raw=False) as srv:
            with Publisher("/cam", srv.address, width=4, height=2, pixel_format="gray",
                           fps=50, realtime=True) as pub:
                pub.write(bytes(8))
                time.sleep(0.3)  # 15 frames late
                t0 = time.monotonic()
                pub.write(bytes(8))
                pub.write(bytes(8))
                self.assertGreaterEqual(time.monotonic() - t0, 0.015)


if __name__ == "__main__":
    unittest.main()
