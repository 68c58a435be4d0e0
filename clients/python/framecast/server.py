"""Server and VideoWriter: a framecast server run as a child of this process.

    import cv2, framecast

    cap = cv2.VideoCapture(0)
    out = framecast.VideoWriter("rtsp://127.0.0.1:8554/cam", fps=30, frame_size=(640, 480))
    while True:
        ok, frame = cap.read()
        out.write(frame)

VideoWriter publishes to the framecast that serves the URL's port, and when
nothing does, starts one (Server) that lives as long as the writers that use
it, and never longer than this process.
"""

from __future__ import annotations

import ctypes
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import weakref
from types import TracebackType
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type, Union

from . import protocol
from .errors import ConnectionLost, Error, FrameError, ServerStartError
from .publisher import Publisher

_PR_SET_PDEATHSIG = 1
# How long close() waits for the server to shut down before killing it.
_STOP_TIMEOUT = 15.0
# A Unix socket path has at most 107 bytes.
_MAX_SOCKET_PATH = 100


def find_binary(binary: Optional[str] = None) -> str:
    """Return the framecast server binary to run.

    binary if given, else $FRAMECAST_BINARY, else the one bundled in the
    wheel or the first framecast on PATH. Raises ServerStartError when there
    is none.
    """
    found = binary or os.environ.get("FRAMECAST_BINARY")
    if not found:
        try:
            from ._binary import server_binary
        except ImportError:  # a client without the wheel's helper
            found = shutil.which("framecast")
        else:
            found = server_binary()
    if not found:
        raise ServerStartError(
            "no framecast server binary: install the framecast wheel that bundles it (make wheel), "
            "put framecast on PATH, set FRAMECAST_BINARY, or pass binary="
        )
    return found


def _free_udp_pair(host: str) -> Tuple[int, int]:
    """Return an even UDP port and the next one, both free on host now.

    The server binds them a moment later: another process could take one in
    between, which makes the server fail to start (and Server says so).
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1] & ~1
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            a.bind((host, port))
            b.bind((host, port + 1))
            return port, port + 1
        except OSError:
            continue
        finally:
            a.close()
            b.close()
    raise ServerStartError("no free pair of UDP ports on %s for RTP and RTCP" % (host or "*"))


def _die_with_parent_fn() -> Optional[Any]:
    """Return a preexec_fn that has Linux kill the child with SIGTERM when this
    thread ends (PR_SET_PDEATHSIG), or None where that cannot be used.

    The kernel sends the signal when the thread that started the child ends,
    not the process: it is used only from the main thread. Elsewhere, and
    whatever happens, the server's --exit-with-parent watchdog (the end of
    its standard input, which this process holds) stops it.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    sigterm = int(signal.SIGTERM)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sigterm, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl
            os._exit(1)

    return preexec


class Server:
    """A framecast server run as a child process, for as long as this object lives.

        with framecast.Server("127.0.0.1:8554") as srv:
            with framecast.Publisher("/cam", srv.ingest, width=640, height=480) as pub:
                ...   # viewers watch srv.rtsp_url("/cam")

    It runs `framecast serve --rtsp RTSP --ingest unix:///PRIVATE/ingest.sock
    --udp-rtp … --udp-rtcp … --http none --exit-with-parent`: producers
    reach it on a Unix socket in a directory only this user may enter, and
    RTP to UDP viewers goes from a pair of ports free when it starts (so
    several such servers never collide); udp=False serves RTP over TCP only
    (--no-udp). The server stops when close() is called, when this object is
    garbage-collected, and when this process ends in any way, SIGKILL
    included: its standard input is a pipe this process holds, whose end
    stops it, and on Linux it also gets SIGTERM when the thread that started
    it (if the main thread) ends.

    rtsp       -- the RTSP listen address, HOST:PORT (port 0: any free one)
    binary     -- the server to run (default: find_binary())
    udp        -- serve RTP over UDP too, from two free ports
    http       -- the address of the web page and /metrics, or None
    log_level  -- the server's: "debug", "info", "warn" (default), "error";
                  its log goes to log_path
    args       -- more `framecast serve` flags, e.g. ["--bitrate", "4000"]
    timeout    -- seconds to wait for the server to listen

    Attributes: ingest (the URL producers connect to), rtsp_address (the
    HOST:PORT it serves RTSP on), pid, log_path.
    """

    def __init__(
        self,
        rtsp: str = "127.0.0.1:8554",
        *,
        binary: Optional[str] = None,
        udp: bool = True,
        http: Optional[str] = None,
        log_level: str = "warn",
        args: Sequence[str] = (),
        timeout: float = 10.0,
    ) -> None:
        host, _, port = rtsp.rpartition(":")
        if not port.isdigit():
            raise ValueError("rtsp address %r: want HOST:PORT, e.g. 127.0.0.1:8554" % (rtsp,))
        self.binary = find_binary(binary)
        self._dir = _private_dir()
        self.log_path = os.path.join(self._dir, "server.log")
        sock = os.path.join(self._dir, "ingest.sock")
        self.ingest = "unix://" + sock
        cmd = [self.binary, "serve", "--rtsp", rtsp, "--ingest", self.ingest,
               "--http", http or "none", "--exit-with-parent", "--log-level", log_level]
        if udp:
            udp_host = host.strip("[]")
            if udp_host in ("", "0.0.0.0", "::"):
                udp_host = ""
            rtp, rtcp = _free_udp_pair(udp_host or "0.0.0.0")
            cmd += ["--udp-rtp", "%s:%d" % (udp_host, rtp), "--udp-rtcp", "%s:%d" % (udp_host, rtcp)]
        else:
            cmd.append("--no-udp")
        cmd += list(args)
        self.args = cmd
        self.rtsp_address = rtsp
        log = open(self.log_path, "wb")
        try:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                preexec_fn=_die_with_parent_fn(),
                close_fds=True,
            )
        except OSError as e:
            log.close()
            shutil.rmtree(self._dir, ignore_errors=True)
            raise ServerStartError("cannot run %s: %s" % (self.binary, e.strerror or e)) from e
        finally:
            if not log.closed:
                log.close()
        self.pid = self._proc.pid
        self._finalizer = weakref.finalize(self, _stop, self._proc, self._dir)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.close()
            raise

    def _wait_ready(self, timeout: float) -> None:
        """Read the server's first lines until it says where it listens for producers."""
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        out = b""
        while b"framecast: ingest on " not in out:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ServerStartError("framecast server did not listen within %g s%s" % (timeout, self._log_tail()))
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                status = self._proc.wait(_STOP_TIMEOUT)
                raise ServerStartError(
                    "framecast server (%s) exited with status %d before it was ready%s"
                    % (" ".join(self.args), status, self._log_tail())
                )
            out += chunk
        for line in out.decode("utf-8", "replace").splitlines():
            if line.startswith("framecast: RTSP server on "):
                self.rtsp_address = line[len("framecast: RTSP server on ") :].strip()

    def _log_tail(self, lines: int = 10) -> str:
        try:
            with open(self.log_path, "rb") as f:
                text = f.read()[-8192:].decode("utf-8", "replace")
        except OSError:
            return ""
        tail = text.strip().splitlines()[-lines:]
        return (":\n  " + "\n  ".join(tail)) if tail else ""

    def rtsp_url(self, path: str) -> str:
        """The URL viewers play path at, e.g. rtsp://127.0.0.1:8554/cam."""
        protocol.check_path(path)
        host, _, port = self.rtsp_address.rpartition(":")
        if host in ("", "0.0.0.0", "[::]"):
            host = "127.0.0.1"
        return "rtsp://%s:%s%s" % (host, port, path)

    @property
    def running(self) -> bool:
        """True while the server process runs."""
        return self._proc.poll() is None

    def close(self) -> None:
        """Stop the server (it ends its producers and viewers) and remove its directory."""
        self._finalizer()

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return "<framecast.Server pid %d rtsp %s, %s>" % (self.pid, self.rtsp_address, state)


def _private_dir() -> str:
    """A new directory only this user may enter, short enough for a Unix socket in it."""
    d = tempfile.mkdtemp(prefix="framecast-")
    if len(os.path.join(d, "ingest.sock")) > _MAX_SOCKET_PATH:
        os.rmdir(d)
        d = tempfile.mkdtemp(prefix="framecast-", dir="/tmp")
    return d


def _stop(proc: subprocess.Popen, directory: str) -> None:
    """End the server: the end of its standard input shuts it down cleanly; then SIGTERM, SIGKILL."""
    try:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# The servers VideoWriters started, by RTSP (host, port), with how many
# writers use each: writers of one URL's port share one server.
_shared_lock = threading.Lock()
_shared: Dict[Tuple[str, int], List[Any]] = {}


def _acquire_server(host: str, port: int, binary: Optional[str], timeout: float) -> Optional[Server]:
    """Return the server this process runs on host:port, else start one if nothing
    serves that port; None when something else does."""
    with _shared_lock:
        entry = _shared.get((host, port))
        if entry is not None and entry[0].running:
            entry[1] += 1
            return entry[0]
        if _listening(host, port):
            return None
        srv = Server("%s:%d" % (host, port), binary=binary, timeout=timeout)
        _shared[(host, port)] = [srv, 1]
        return srv


def _release_server(srv: Server) -> None:
    with _shared_lock:
        for key, entry in list(_shared.items()):
            if entry[0] is srv:
                entry[1] -= 1
                if entry[1] > 0:
                    return
                del _shared[key]
    srv.close()


def _listening(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), 0.5):
            return True
    except OSError:
        return False


def _parse_rtsp_url(url: str) -> Tuple[str, int, str]:
    u = urllib.parse.urlsplit(url)
    if u.scheme != "rtsp" or not u.hostname or u.query or u.fragment:
        raise ValueError("url %r: want rtsp://HOST:PORT/PATH, e.g. rtsp://127.0.0.1:8554/cam" % (url,))
    try:
        port = u.port or 8554
    except ValueError:
        raise ValueError("url %r: want rtsp://HOST:PORT/PATH" % (url,)) from None
    protocol.check_path(u.path)
    return u.hostname, port, u.path


class VideoWriter:
    """Publishes frames at an RTSP URL, shaped like OpenCV's cv2.VideoWriter.

        out = framecast.VideoWriter("rtsp://127.0.0.1:8554/cam", fps=30, frame_size=(640, 480))
        out.write(frame)        # a numpy array (480, 640, 3) of uint8, BGR as OpenCV makes
        out.release()

    If a framecast serves the URL's port, the writer publishes to it, at its
    ingest address (address=, default tcp://127.0.0.1:8555). If nothing
    does, it starts one (a Server on the URL's HOST:PORT) as a child of this
    process; writers of one port share it, and it stops when the last one
    is released, and always with this process. The URL to watch is printed
    to standard error (quiet=True: not). Unlike OpenCV's, a VideoWriter that
    cannot open raises (a framecast.Error), so isOpened() is True until
    release().

    url           -- rtsp://HOST:PORT/PATH
    fps           -- the frame rate (see Publisher); with realtime=True,
                     write paces frames to it, as ffmpeg -re does
    frame_size    -- (width, height), as OpenCV takes it; every frame must
                     have it. The format is declared at once, so viewers can
                     connect before the first frame.
    pixel_format  -- "bgr24" (default: OpenCV's), "rgb24" for RGB arrays
                     (PIL, imageio, matplotlib), "gray", "bgra", …
    is_color      -- False for (H, W) gray frames, as OpenCV's isColor
    server        -- a Server to publish to, instead of finding or starting one
    address       -- the ingest address of a framecast already running
    binary        -- the server binary to start (see find_binary)
    reconnect, realtime, takeover, options, token, timeout
                  -- as Publisher's
    """

    def __init__(
        self,
        url: str,
        fps: protocol.FPS = 30,
        frame_size: Optional[Tuple[int, int]] = None,
        *,
        pixel_format: Optional[str] = None,
        is_color: bool = True,
        server: Optional[Server] = None,
        address: Optional[str] = None,
        binary: Optional[str] = None,
        reconnect: bool = False,
        realtime: bool = False,
        takeover: bool = False,
        options: protocol.Options = None,
        token: Union[str, bytes, None] = None,
        timeout: float = 10.0,
        quiet: bool = False,
    ) -> None:
        host, port, path = _parse_rtsp_url(url)
        if frame_size is None:
            raise TypeError("VideoWriter needs frame_size=(width, height)")
        width, height = (int(v) for v in frame_size)
        if pixel_format is None:
            pixel_format = "bgr24" if is_color else "gray"
        protocol.pixel_format_code(pixel_format)
        protocol.check_size(width, height)
        self.url = url
        self.frame_size = (width, height)
        self._pixel_format = pixel_format
        self._own: Optional[Server] = None
        self._pub: Optional[Publisher] = None
        if server is not None:
            address = server.ingest
        elif address is None:
            try:
                self._own = _acquire_server(host, port, binary, timeout)
            except ServerStartError:
                if not _listening(host, port):
                    raise
                # Another process started a server on the port meanwhile.
            address = self._own.ingest if self._own is not None else protocol.DEFAULT_ADDRESS
        self.server = server or self._own
        try:
            try:
                self._pub = Publisher(
                    path, address, width=width, height=height, pixel_format=pixel_format, fps=fps,
                    options=options, token=token, timeout=timeout, takeover=takeover,
                    reconnect=reconnect, realtime=realtime,
                )
            except ConnectionLost as e:
                if self.server is None:
                    raise ConnectionLost(
                        "%s: something serves %s:%d, but no framecast takes frames at %s; pass "
                        "address= (that server's --ingest URL), or use another port" % (url, host, port, address)
                    ) from e
                raise
            served = self._pub.rtsp_url
            if self.server is None and served is not None and urllib.parse.urlsplit(served).port != port:
                raise Error(
                    "%s: the framecast at %s serves RTSP at %s, not on port %d; pass the address of "
                    "the framecast on port %d, or use that URL" % (url, address, served, port, port)
                )
        except BaseException:
            self.release()
            raise
        if not quiet:
            watch = self.rtsp_url
            print("framecast: publishing %dx%d at %s; watch it with: ffplay -rtsp_transport tcp %s"
                  % (width, height, watch, watch), file=sys.stderr, flush=True)

    @property
    def rtsp_url(self) -> str:
        """Where viewers watch: the server's word for it, else the URL given."""
        if self._pub is not None and self._pub.rtsp_url:
            return self._pub.rtsp_url
        return self.url

    @property
    def publisher(self) -> Optional[Publisher]:
        """The Publisher the frames go through (None once released)."""
        return self._pub

    @property
    def frames_lost(self) -> int:
        """Frames dropped while reconnecting (reconnect=True)."""
        return self._pub.frames_lost if self._pub is not None else 0

    def write(self, frame: Any) -> None:
        """Send one frame: a numpy array (height, width, 3) of uint8, or bytes of frame_size.

        Errors are as Publisher.write's; a frame of another size is a
        FrameError, as the stream's size is fixed.
        """
        if self._pub is None:
            raise ValueError("write to a released VideoWriter")
        shape = getattr(frame, "shape", None)
        planar = self._pixel_format in ("yuv420p", "nv12")
        if shape is not None and len(shape) >= 2 and not planar and (shape[1], shape[0]) != self.frame_size:
            w, h = self.frame_size
            hint = ""
            if len(shape) == 3 and (shape[2], shape[1]) == self.frame_size:
                hint = " (it looks channels-first: pass frame.transpose(1, 2, 0))"
            raise FrameError(
                "frame shape %s: this VideoWriter was opened for %dx%d frames, want shape (%d, %d, …)%s; "
                "resize it (cv2.resize(frame, (%d, %d))) or open the writer with frame_size=(%d, %d)"
                % (tuple(shape), w, h, h, w, hint, w, h, shape[1], shape[0])
            )
        self._pub.write(frame)

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        """True until release(), while frames can go out."""
        return self._pub is not None and not self._pub.closed

    def release(self) -> None:
        """Close the stream (viewers keep the last picture) and stop a server this writer started."""
        pub, self._pub = self._pub, None
        own, self._own = self._own, None
        try:
            if pub is not None:
                pub.close()
        finally:
            if own is not None:
                _release_server(own)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc_type is None:
            self.release()
            return
        try:
            self.release()
        except Exception:
            pass  # the exception already leaving the block matters more

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:
            pass

    def __repr__(self) -> str:
        return "<framecast.VideoWriter %s %dx%d, %s>" % (
            self.rtsp_url, self.frame_size[0], self.frame_size[1], "open" if self.isOpened() else "released")
