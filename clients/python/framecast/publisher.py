"""Publisher: a producer's connection to a framecast server."""

from __future__ import annotations

import collections
import logging
import select
import socket
import sys
import time
import urllib.parse
from types import TracebackType
from typing import Any, Callable, Deque, List, Optional, Sequence, Type, Union

from . import frames, protocol, shm
from .errors import ConnectionLost, Error, ProtocolError, ServerError, Timeout

log = logging.getLogger("framecast")

# Non-fatal errors about frames, as opposed to answers to a FORMAT.
_FRAME_ERRORS = (protocol.ERROR_CODES["no-format"], protocol.ERROR_CODES["frame-size"])
# The kernel's socket buffer for outgoing frames: larger means fewer wake-ups
# per frame (a 1080p bgr24 frame is 6 MB). Linux caps it at wmem_max.
_SEND_BUFFER = 4 << 20
# Reconnecting: the first wait after a failed attempt, the longest, and the
# longest a write spends on one attempt (connect and handshake).
_BACKOFF_MIN = 0.05
_BACKOFF_MAX = 2.0
_ATTEMPT_TIMEOUT = 2.0

Buffer = Union[bytes, bytearray, memoryview]


class Publisher:
    """Publishes frames on a path of a framecast server, over TCP or a Unix socket.

        with Publisher("/cam", address="unix:///run/framecast.sock") as pub:
            while True:
                pub.write(frame)   # numpy array (H, W, 3) of uint8: bgr24

    Viewers watch pub.rtsp_url (rtsp://HOST:8554/cam). The constructor
    connects, says HELLO and waits for the server's READY, so a refused path
    or token raises ServerError here. When width and height are given, the
    format is declared here too (pixel_format defaults to bgr24), so that a
    viewer can play the path before the first frame; otherwise the first
    frame declares it.

    path         -- the RTSP path to publish, e.g. "/cam"
    address      -- "tcp://HOST:PORT" (default tcp://127.0.0.1:8555) or
                    "unix:///PATH"
    width, height, pixel_format, stride
                 -- the format of bytes-like frames ("bgr24", "rgb24",
                    "bgra", "rgba", "gray", "yuv420p", "nv12", "yuyv422";
                    stride is bytes per row, 0 for tight rows). For numpy
                    arrays the shape sets the size, and pixel_format, when
                    given, overrides the layout the shape implies (e.g.
                    "rgb24" for (H, W, 3)).
    fps          -- nominal frame rate: int, float (29.97), Fraction or
                    (num, den); it sets rate control and the GOP, while
                    frames may come at any pace (see realtime)
    options      -- encoder options, e.g. {"bitrate": 2000, "gop": 60}
                    (keys: bitrate, crf, gop, preset, tune, profile, threads)
    token        -- the publishing credentials, if the server has any
    timeout      -- seconds to wait for the server to connect, answer, or
                    take a frame before raising
    takeover     -- take the path from the producer that publishes it (an
                    older instance of this program, say): the server ends
                    that producer's connection with a "replaced" ServerError.
                    Without it, a path in use is a "path-in-use" ServerError.
    reconnect    -- survive the server going away: the constructor waits
                    up to timeout for the server to come; afterwards, when
                    the connection is lost for a reason that may pass
                    (error.retryable), write drops frames, counting them in
                    frames_lost, while it reconnects with back-off (at most
                    one attempt per write, up to 2 s apart, each bounded to
                    2 s), then says HELLO and declares the format again.
                    Errors that would only repeat (a wrong token, the path
                    taken over) are raised as without it.
    realtime     -- pace write to fps, as ffmpeg -re does: frame n leaves n
                    frame intervals after the first (by timestamp_ns when
                    given), write sleeping until then. A producer that falls
                    behind is not made to catch up in a burst.
    shared_memory -- on a unix:// address, send frames through a ring of
                    shared memory (docs/ingest-protocol.md, "Shared memory"):
                    write copies each frame once into a slot the server
                    converts from, and frame()/commit() let the program draw
                    straight into the slot, with no copy at all. True falls
                    back to the socket without a word where shared memory
                    cannot be had (TCP, not Linux, an older server);
                    "require" raises instead. The property shared_memory
                    says which is in use.
    slots        -- the ring's number of slots (frames the server has not
                    freed yet, plus the one being drawn), 4 by default

    After connecting, server_version is the protocol version the server
    speaks (1), max_frame_payload the largest FRAME it takes (bytes,
    timestamp included) and rtsp_url where viewers watch (None for a server
    too old to say). A Publisher is not safe for concurrent use from several
    threads.
    """

    def __init__(
        self,
        path: str,
        address: str = protocol.DEFAULT_ADDRESS,
        *,
        width: Optional[int] = None,
        height: Optional[int] = None,
        pixel_format: Optional[str] = None,
        fps: protocol.FPS = 30,
        stride: int = 0,
        options: protocol.Options = None,
        token: Union[str, bytes, None] = None,
        timeout: float = 10.0,
        takeover: bool = False,
        reconnect: bool = False,
        realtime: bool = False,
        shared_memory: Union[bool, str] = False,
        slots: int = shm.DEFAULT_SLOTS,
    ) -> None:
        if shared_memory not in (False, True, "require"):
            raise ValueError("shared_memory %r: want False, True or \"require\"" % (shared_memory,))
        if not protocol.MIN_SLOTS <= slots <= protocol.MAX_SLOTS:
            raise ValueError("slots %r: want %d to %d" % (slots, protocol.MIN_SLOTS, protocol.MAX_SLOTS))
        self._want_shm = shared_memory
        self._slots = slots
        if shared_memory == "require":
            if not address.startswith("unix://"):
                raise ValueError("shared_memory='require' needs a unix:// address, not %r" % (address,))
            if not shm.supported():
                raise ValueError("shared_memory='require': this system has no memfd_create or send_fds")
        self._flags = protocol.FLAG_INFO | (protocol.FLAG_TAKEOVER if takeover else 0)
        self._hello_token = token
        protocol.encode_hello(path, token)  # checks path and token first
        if pixel_format is not None:
            protocol.pixel_format_code(pixel_format)
        _split_address(address)
        self.path = path
        self.address = address
        self._fps = protocol.fps_fraction(fps)
        self._options = protocol.format_options(options)
        self._pixel_format, self._width, self._height = pixel_format, width, height
        self._stride = stride or 0
        self._timeout = timeout
        self._initial: Optional[frames.Format] = None
        if width is not None and height is not None:
            # Declared at once, so that the path is viewable before the first frame.
            self._initial = frames.Format(pixel_format or "bgr24", width, height, self._stride)
            protocol.encode_format(*self._initial, fps=self._fps, options=self._options)
        self._takeover = takeover
        self._reconnect = reconnect
        self._realtime = realtime
        self._closed = False

        self.server_version: Optional[int] = None
        self.max_frame_payload: int = protocol.MAX_FRAME_PAYLOAD
        self.rtsp_url: Optional[str] = None
        self.frames_lost = 0  # frames dropped while reconnecting
        self.reconnects = 0
        self._last_format: Optional[frames.Format] = None
        self._backoff = 0.0
        self._next_attempt = 0.0
        self._pace_t0: Optional[float] = None
        self._pace_ts0: Optional[int] = None
        self._pace_n = 0

        self._sock: Optional[socket.socket] = None
        self._reset()
        if reconnect:
            self._open_patiently(timeout)
        else:
            self._open(timeout)

    @property
    def format(self) -> Optional[frames.Format]:
        """The Format (pixel_format, width, height, stride) the server accepted last, or None."""
        return self._format

    @property
    def closed(self) -> bool:
        """True once close() was called or the server ended the connection for good."""
        if self._closed:
            return True
        return self._error is not None and not (self._reconnect and self._error.retryable)

    @property
    def shared_memory(self) -> bool:
        """True while frames go through shared memory (a ring is mapped and the server took it)."""
        return self._ring is not None and self.connected

    @property
    def connected(self) -> bool:
        """True while the connection to the server is up."""
        return self._sock is not None and self._error is None and not self._closed

    def write(self, frame: Any, timestamp_ns: Optional[int] = None) -> None:
        """Send one frame.

        frame is a numpy array of uint8 — (H, W, 3) bgr24, (H, W) gray,
        (H, W, 4) bgra, unless the Publisher's pixel_format says otherwise —
        or a bytes-like object of the Publisher's width, height and
        pixel_format. A new shape declares a new format first (the server
        re-opens its encoder). A contiguous array is sent without a copy and
        may be reused as soon as write returns. A frame the client cannot
        send raises FrameError (or FrameTypeError), saying how to convert it.

        timestamp_ns is the capture time in nanoseconds on any clock of the
        producer (e.g. time.monotonic_ns()); only differences matter. None
        lets the server use the frame's arrival time.

        Before sending, write picks up, without waiting, the errors the
        server sent about earlier frames: it then raises the first as
        ServerError (the others in its .others) and does not send this
        frame. A non-fatal error leaves the stream running; after a fatal
        one, every write raises it again, unless the Publisher reconnects
        (reconnect=True and a retryable error: the frame is then counted in
        frames_lost). write blocks only while the socket is full, at most
        timeout seconds, and with realtime=True until the frame is due.
        """
        if self._closed:
            raise ValueError("write to a closed Publisher")
        fmt, buf = frames.describe(frame, self._pixel_format, self._width, self._height, self._stride)
        n = buf.nbytes
        if 8 + n > self.max_frame_payload:
            raise ValueError(
                "frame of %d bytes is larger than the server takes (%d bytes)"
                % (n, self.max_frame_payload - 8)
            )
        if timestamp_ns is not None:
            timestamp_ns = int(timestamp_ns)
            if not -(1 << 63) <= timestamp_ns < 1 << 63:
                raise ValueError("timestamp_ns %r does not fit in 64 bits" % (timestamp_ns,))
        if self._realtime:
            self._pace(timestamp_ns)
        if not self._reconnect:
            self._write(fmt, buf, timestamp_ns)
            return
        if self._sock is None and not self._try_reconnect():
            self.frames_lost += 1
            return
        try:
            self._write(fmt, buf, timestamp_ns)
        except Error as e:
            if e is not self._error or not e.retryable:
                raise  # an error about a frame, or one that would repeat
            self._disconnected(e)
            self.frames_lost += 1

    def frame(self) -> Any:
        """Return a writable numpy array to draw the next frame into; commit() sends it.

        With shared memory it is a view of a free slot of the ring, of the
        format's shape ((height, width, 3) uint8 for bgr24, (height*3/2,
        width) for yuv420p and nv12): draw into it, e.g.
        cv2.resize(src, (w, h), dst=pub.frame()), and nothing is copied.
        When every slot is the server's, frame waits (at most timeout) for
        one. Without shared memory it is an array of the Publisher's, which
        commit() sends as write does. Calling frame again before commit
        returns the same array. The format is the one declared last (by
        width and height given to the constructor, or by the last write).

        The array is the server's once committed: draw into the one the next
        frame() returns. It stays valid memory, but a new format or a new
        connection maps a new ring.
        """
        if self._closed:
            raise ValueError("frame() of a closed Publisher")
        if self._cur is not None:
            return self._cur_view
        fmt = self._format or self._last_format or self._initial
        if fmt is None:
            raise ValueError("frame() before any format: give width and height to the Publisher, or write a frame first")
        if self._sock is None and self._reconnect:
            self._try_reconnect()
        if self._ring is None or self._error is not None:
            np = sys.modules.get("numpy")
            if np is None:
                import numpy as np
            if self._own is None or self._own.shape != shm.shape_of(fmt):
                self._own = np.zeros(shm.shape_of(fmt), dtype=np.uint8)
            self._cur, self._cur_view = -1, self._own
            return self._own
        self._check_open()
        self._collect()
        self._raise_errors()
        i = self._take_slot()
        self._cur, self._cur_view = i, self._ring.view(i)
        return self._cur_view

    def commit(self, timestamp_ns: Optional[int] = None) -> None:
        """Send the frame frame() returned, stamped as write stamps it.

        Errors are write's; after a lost connection with reconnect=True the
        frame is counted in frames_lost.
        """
        if self._cur is None:
            raise ValueError("commit() without frame()")
        i, view = self._cur, self._cur_view
        self._cur = self._cur_view = None
        if i < 0 or self._ring is None:
            self.write(view, timestamp_ns)
            return
        if timestamp_ns is not None:
            timestamp_ns = int(timestamp_ns)
        if self._sock is None or self._error is not None:
            if self._reconnect and (self._error is None or self._error.retryable):
                self.frames_lost += 1  # lost with the connection; frame() reconnects
                return
            self._check_open()
        if self._realtime:
            self._pace(timestamp_ns)
        try:
            self._server_has.add(i)
            self._send([protocol.encode_slot(i, self._ring.frame_size, timestamp_ns)])
        except Error as e:
            if not self._reconnect or e is not self._error or not e.retryable:
                raise
            self._disconnected(e)
            self.frames_lost += 1

    def close(self) -> None:
        """Say BYE, wait for the server to close the connection, and close it.

        Raises the errors the server sent about the last frames, if any were
        not raised yet. Calling close again does nothing.
        """
        if self._closed:
            return
        self._closed = True
        if self._sock is None:
            return  # reconnecting: there is no connection to end
        try:
            if self._error is None:
                try:
                    _send_all(self._sock, [protocol.encode_bye()])
                except OSError:
                    pass  # the server has gone; _drain reads why, if it said
                self._drain(self._timeout)
        finally:
            self._sock.close()
            self._close_ring()
        if self._reconnect and self._error is not None and self._error.retryable:
            self._error_raised = True  # a lost connection is no error at close
        self._raise_errors()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        """Close; an error of close does not hide one already leaving the block."""
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except Exception:
            pass  # the exception already leaving the block matters more

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open" if self.connected else "reconnecting"
        return "<framecast.Publisher %s at %s, %s>" % (self.path, self.address, state)

    # Connecting.

    def _reset(self) -> None:
        """Forget the state of the last connection."""
        if getattr(self, "_ring", None) is not None:
            self._close_ring()
        self._ring: Optional[shm.Ring] = None  # the ring of the format in force
        self._shm_ok = False  # the server took shared memory at HELLO
        self._free: Deque[int] = collections.deque()  # slots the producer may fill
        self._server_has: set = set()  # slots committed and not yet freed
        self._cur: Optional[int] = None  # the slot frame() returned (-1: our own array)
        self._cur_view: Any = None
        if not hasattr(self, "_own"):
            self._own: Any = None
        self._format: Optional[frames.Format] = None  # the format the server accepted last
        self._rx = protocol.Decoder()
        self._inbox: Deque[Union[protocol.Ready, ServerError]] = collections.deque()
        self._pending: List[ServerError] = []  # non-fatal errors not yet raised
        self._error: Optional[Error] = None  # what ended the connection
        self._error_raised = False
        self._eof = False

    def _open(self, timeout: float) -> None:
        """Connect, say HELLO and declare the format known, or raise."""
        flags = self._flags
        if self._want_shm and self.address.startswith("unix://") and shm.supported():
            flags |= protocol.FLAG_SHARED_MEMORY
        try:
            self._handshake(timeout, flags)
        except ServerError as e:
            if not (e.name == "malformed" and "unknown flags" in str(e)):
                raise
            if flags & protocol.FLAG_SHARED_MEMORY:
                # A server older than shared memory.
                if self._want_shm == "require":
                    raise ServerError(e.code, e.name, True,
                                      "shared_memory='require': the server at %s is too old for shared memory (%s)"
                                      % (self.address, e)) from e
                try:
                    self._handshake(timeout, flags & ~protocol.FLAG_SHARED_MEMORY)
                    return
                except ServerError as e2:
                    if not (e2.name == "malformed" and "unknown flags" in str(e2)):
                        raise
            if self._takeover:
                raise
            # A server older than HELLO's flags: it cannot tell the URL.
            self._handshake(timeout, 0)

    def _handshake(self, timeout: float, flags: int) -> None:
        self._reset()
        sock = _connect(self.address, timeout)
        self._sock, self._poll = sock, _poller(sock)
        try:
            self._send([protocol.encode_hello(self.path, self._hello_token, flags)])
            ready = self._await_ready("HELLO")
            self.server_version, self.max_frame_payload = ready.version, ready.max_frame_payload
            if ready.rtsp_url:
                self.rtsp_url = ready.rtsp_url
            self._shm_ok = ready.shared_memory and bool(flags & protocol.FLAG_SHARED_MEMORY)
            if self._want_shm == "require" and not self._shm_ok:
                raise ServerError(protocol.ERROR_CODES["bad-ring"], "bad-ring", True,
                                  "shared_memory='require': the server at %s does not take shared memory"
                                  % self.address)
            fmt = self._last_format or self._initial
            if fmt is not None:
                self._declare(fmt)
            sock.settimeout(self._timeout)
        except BaseException:
            sock.close()
            self._sock = None
            raise

    def _open_patiently(self, timeout: float) -> None:
        """_open, retrying errors that may pass with back-off until timeout has passed."""
        deadline = time.monotonic() + timeout
        backoff = _BACKOFF_MIN
        while True:
            left = deadline - time.monotonic()
            try:
                self._open(max(0.1, min(left, _ATTEMPT_TIMEOUT)))
                return
            except Error as e:
                if not e.retryable or time.monotonic() + backoff > deadline:
                    raise
            time.sleep(backoff)
            backoff = min(2 * backoff, _BACKOFF_MAX)

    def _try_reconnect(self) -> bool:
        """Try to connect again if it is time to; say whether the Publisher is connected."""
        now = time.monotonic()
        if now < self._next_attempt:
            return False
        try:
            self._open(min(self._timeout, _ATTEMPT_TIMEOUT))
        except Error as e:
            if not e.retryable:
                self._reconnect = False  # every later write raises it
                self._error, self._error_raised = e, True
                raise
            self._backoff = min(max(2 * self._backoff, _BACKOFF_MIN), _BACKOFF_MAX)
            self._next_attempt = time.monotonic() + self._backoff
            return False
        self.reconnects += 1
        self._backoff = 0.0
        log.info("framecast %s: reconnected to %s (%d frames lost so far)", self.path, self.address,
                 self.frames_lost)
        return True

    def _disconnected(self, err: Error) -> None:
        """The connection ended for a reason that may pass: reconnect from the next write on."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._next_attempt = 0.0
        log.warning("framecast %s: lost the connection to %s (%s); reconnecting, and dropping frames "
                    "(counted in frames_lost) until then", self.path, self.address, err)

    # Pacing.

    def _pace(self, timestamp_ns: Optional[int]) -> None:
        """Sleep until the frame is due at the nominal rate (or by its timestamp)."""
        now = time.monotonic()
        num, den = self._fps
        period = den / num
        due = None
        if self._pace_t0 is not None:
            if timestamp_ns is None:
                due = self._pace_t0 + self._pace_n * period
            elif self._pace_ts0 is not None and timestamp_ns >= self._pace_ts0:
                due = self._pace_t0 + (timestamp_ns - self._pace_ts0) / 1e9
        if due is None or now - due > period:
            # The first frame, a timestamp gone back, or a producer behind:
            # the schedule starts again from now.
            self._pace_t0, self._pace_ts0, self._pace_n = now, timestamp_ns, 0
        elif due > now:
            time.sleep(due - now)
        self._pace_n += 1

    # Receiving.

    def _collect(self) -> None:
        """Handle what the server has sent, without waiting for more."""
        try:
            while not self._eof and self._error is None and self._poll():
                self._recv()
        except OSError as e:
            self._fail(_lost(self.address, e))
        self._handle_inbox()

    def _recv(self) -> None:
        assert self._sock is not None
        data = self._sock.recv(65536)
        if not data:
            self._eof = True
            return
        try:
            for m in self._rx.feed(data):
                if m.type == protocol.READY:
                    self._inbox.append(protocol.decode_ready(m.payload, m.flags))
                elif m.type == protocol.FREE:
                    self._on_free(protocol.decode_free(m.payload))
                elif m.type == protocol.ERROR:
                    self._inbox.append(protocol.decode_error(m.payload))
                else:
                    raise ProtocolError("unexpected message type 0x%02x from the server" % m.type)
        except ProtocolError as e:
            self._fail(e)

    def _handle_inbox(self) -> None:
        """Sort received errors into pending frame errors and the fatal one."""
        while self._inbox and self._error is None:
            err = self._inbox.popleft()
            if not isinstance(err, ServerError):
                self._fail(ProtocolError("the server sent READY for nothing it was asked"))
            elif err.fatal:
                self._fail(err)
            else:
                self._pending.append(err)
        if self._eof and self._error is None:
            self._fail(ConnectionLost("framecast %s: the server closed the connection" % self.address))

    def _await_ready(self, what: str) -> protocol.Ready:
        """Wait for the server's answer to HELLO or FORMAT; return READY's fields or raise."""
        while True:
            while self._inbox:
                err = self._inbox.popleft()
                if not isinstance(err, ServerError):
                    return err
                if err.fatal:
                    self._fail(err)
                    self._raise_errors()
                if err.code in _FRAME_ERRORS:
                    self._pending.append(err)
                    continue
                self._raise(err)  # the answer: e.g. bad-format
            if self._eof:
                self._fail(
                    ConnectionLost(
                        "framecast %s: the server closed the connection without answering %s"
                        % (self.address, what)
                    )
                )
                self._raise_errors()
            try:
                self._recv()
            except socket.timeout as e:
                self._fail(
                    Timeout("framecast %s: no answer to %s within %g s" % (self.address, what, self._timeout))
                )
                self._raise_errors(e)
            except OSError as e:
                self._fail(_lost(self.address, e))
                self._raise_errors(e)
            if self._error is not None:
                self._raise_errors()

    def _drain(self, timeout: float) -> None:
        """Read until the server closes the connection or timeout passes."""
        assert self._sock is not None
        self._sock.settimeout(timeout)
        try:
            while not self._eof:
                self._recv()
        except OSError:
            pass  # timed out or reset: what was read is handled below
        self._inbox_errors_only()

    def _inbox_errors_only(self) -> None:
        eof, self._eof = self._eof, False  # the close the caller asked for is no failure
        self._handle_inbox()
        self._eof = eof

    # Sending.

    def _write(self, fmt: frames.Format, buf: memoryview, timestamp_ns: Optional[int]) -> None:
        self._check_open()
        self._collect()
        self._raise_errors()
        if fmt != self._format:
            self._declare(fmt)
        ring = self._ring
        if ring is not None and buf.nbytes <= ring.slot_size:
            i = self._take_slot()
            ring.write(i, buf)  # the one copy
            self._server_has.add(i)
            self._send([protocol.encode_slot(i, buf.nbytes, timestamp_ns)])
            return
        self._send([protocol.encode_frame_header(buf.nbytes, timestamp_ns), buf])

    def _declare(self, fmt: frames.Format) -> None:
        msg = protocol.encode_format(
            fmt.pixel_format, fmt.width, fmt.height, fmt.stride, self._fps, self._options
        )
        self._send([msg])
        self._await_ready("FORMAT")
        self._format = self._last_format = fmt
        if self._shm_ok:
            # The server freed every slot and dropped the ring before this
            # READY: a new format has a new ring.
            self._close_ring()
            ring = shm.Ring(fmt, self._slots)
            self._ring = ring
            self._free = collections.deque(range(self._slots))
            assert self._sock is not None
            try:
                ring.send(self._sock)
            except OSError as e:
                self._fail(_lost(self.address, e))
                self._raise_errors(e)
            self._await_ready("RING")

    # Shared memory.

    def _close_ring(self) -> None:
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        self._free.clear()
        self._server_has.clear()
        self._cur = self._cur_view = None

    def _on_free(self, index: int) -> None:
        if index not in self._server_has:
            raise ProtocolError("the server freed slot %d, which it did not hold" % index)
        self._server_has.discard(index)
        self._free.append(index)

    def _take_slot(self) -> int:
        """Return a free slot, waiting (at most timeout) for the server to free one."""
        while not self._free:
            if self._eof:
                self._handle_inbox()
            elif self._error is None:
                try:
                    self._recv()
                except socket.timeout as e:
                    self._fail(Timeout("framecast %s: the server freed no slot within %g s"
                                       % (self.address, self._timeout)))
                    self._raise_errors(e)
                except OSError as e:
                    self._fail(_lost(self.address, e))
                    self._raise_errors(e)
                self._handle_inbox()
            if self._error is not None:
                self._check_open()
        return self._free.popleft()

    def _send(self, bufs: Sequence[Buffer]) -> None:
        assert self._sock is not None
        try:
            _send_all(self._sock, bufs)
        except socket.timeout as e:
            self._fail(Timeout("framecast %s: the server took no data for %g s" % (self.address, self._timeout)))
            self._raise_errors(e)
        except OSError as e:
            # The server may have said why it stopped reading before it closed.
            if self._error is None:
                self._drain(1.0)
            if self._error is None:
                self._fail(_lost(self.address, e))
            self._raise_errors(e)
        except BaseException:
            # Interrupted (e.g. KeyboardInterrupt) mid-message: the stream of
            # messages is cut and cannot go on.
            self._fail(ConnectionLost("a write was interrupted; the connection is closed"))
            self._error_raised = True
            raise

    # Errors.

    def _check_open(self) -> None:
        if self._error is not None:
            self._error_raised = True
            self._raise(self._error)

    def _fail(self, err: Error) -> None:
        """Record err as what ended the connection, and close the socket."""
        if self._error is None:
            self._error = err
            if self._sock is not None:
                self._sock.close()

    def _raise_errors(self, cause: Optional[BaseException] = None) -> None:
        """Raise the fatal error not yet raised, else the pending frame errors."""
        if self._error is not None and not self._error_raised:
            self._error_raised = True
            self._pending = []
            self._raise(self._error, cause)
        if self._pending:
            first, first.others = self._pending[0], self._pending[1:]
            self._pending = []
            raise first

    def _raise(self, err: Error, cause: Optional[BaseException] = None) -> None:
        # A fatal error is raised again by every later write: drop its old
        # traceback so it does not grow each time.
        err = err.with_traceback(None)
        if cause is not None and cause is not err:
            raise err from cause
        raise err


def _lost(address: str, e: OSError) -> ConnectionLost:
    return ConnectionLost("framecast %s: connection lost: %s" % (address, e.strerror or e))


def _split_address(address: str) -> tuple:
    """Return ("unix", PATH) or ("tcp", (HOST, PORT)) for an address, or raise ValueError."""
    scheme, sep, rest = address.partition("://") if isinstance(address, str) else ("", "", "")
    if not sep or scheme not in ("tcp", "unix") or not rest:
        raise ValueError("address %r: want tcp://HOST:PORT or unix:///PATH" % (address,))
    if scheme == "unix":
        if rest.startswith("@"):
            rest = "\0" + rest[1:]  # Linux's abstract namespace, as Go names it
        return "unix", rest
    u = urllib.parse.urlsplit(address)
    try:
        port = u.port or 8555
    except ValueError:
        raise ValueError("address %r: want tcp://HOST:PORT" % (address,)) from None
    return "tcp", (u.hostname or "127.0.0.1", port)


def _connect(address: str, timeout: float) -> socket.socket:
    """Connect to a tcp:// or unix:// address."""
    scheme, where = _split_address(address)
    try:
        if scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect(where)
            except BaseException:
                sock.close()
                raise
        else:
            sock = socket.create_connection(where, timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as e:
        err: ConnectionLost = ConnectionLost(
            "cannot connect to framecast at %s: %s (is `framecast serve --ingest %s` running?)"
            % (address, e.strerror or e, address)
        )
        if isinstance(e, socket.timeout):
            err = Timeout("cannot connect to framecast at %s: no answer within %g s" % (address, timeout))
        raise err from e
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SEND_BUFFER)
    except OSError:
        pass  # a smaller buffer only costs more wake-ups
    return sock


def _poller(sock: socket.socket) -> Callable[[], bool]:
    """Return a function that tells, without blocking, whether sock has data to read."""
    if hasattr(select, "poll"):
        p = select.poll()
        p.register(sock, select.POLLIN)
        return lambda: bool(p.poll(0))
    return lambda: bool(select.select([sock], [], [], 0)[0])


def _send_all(sock: Any, bufs: Sequence[Buffer]) -> None:
    """Send every byte of bufs, in order, with as few system calls as it takes.

    One sendmsg carries a frame's header and its pixels together, straight
    from the caller's memory; partial sends (a full socket buffer) go on
    from where they stopped.
    """
    if not hasattr(sock, "sendmsg"):
        for b in bufs:
            sock.sendall(b)
        return
    views = [memoryview(b) for b in bufs]
    views = [v for v in views if v.nbytes]
    while views:
        n = sock.sendmsg(views)
        while n:
            size = views[0].nbytes
            if n >= size:
                n -= size
                views.pop(0)
            else:
                views[0] = views[0][n:]
                n = 0
