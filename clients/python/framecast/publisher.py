"""Publisher: a producer's connection to a framecast server."""

import collections
import select
import socket
import urllib.parse

from . import frames, protocol
from .errors import ProtocolError, ServerError

# Non-fatal errors about frames, as opposed to answers to a FORMAT.
_FRAME_ERRORS = (protocol.ERROR_CODES["no-format"], protocol.ERROR_CODES["frame-size"])
# The kernel's socket buffer for outgoing frames: larger means fewer wake-ups
# per frame (a 1080p bgr24 frame is 6 MB). Linux caps it at wmem_max.
_SEND_BUFFER = 4 << 20


class Publisher:
    """Publishes frames on a path of a framecast server, over TCP or a Unix socket.

        with Publisher("/cam", address="unix:///run/framecast.sock") as pub:
            while True:
                pub.write(frame)   # numpy array (H, W, 3) of uint8: bgr24

    Viewers watch rtsp://HOST:8554/cam. The constructor connects, says HELLO
    and waits for the server's READY, so a refused path or token raises
    ServerError here. When pixel_format, width and height are all given the
    format is declared here too; otherwise the first frame declares it.

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
                    frames may come at any pace
    options      -- encoder options, e.g. {"bitrate": 2000, "gop": 60}
                    (keys: bitrate, crf, gop, preset, tune, profile, threads)
    token        -- the publishing credentials, if the server has any
    timeout      -- seconds to wait for the server to connect, answer, or
                    take a frame before raising

    After connecting, server_version is the protocol version the server
    speaks (1) and max_frame_payload the largest FRAME it takes (bytes,
    timestamp included). A Publisher is not safe for concurrent use from
    several threads.
    """

    def __init__(
        self,
        path,
        address=protocol.DEFAULT_ADDRESS,
        *,
        width=None,
        height=None,
        pixel_format=None,
        fps=30,
        stride=0,
        options=None,
        token=None,
        timeout=10.0,
    ):
        hello = protocol.encode_hello(path, token)  # checks path and token first
        if pixel_format is not None:
            protocol.pixel_format_code(pixel_format)
        self.path = path
        self.address = address
        self._fps = protocol.fps_fraction(fps)
        self._options = protocol.format_options(options)
        self._pixel_format, self._width, self._height = pixel_format, width, height
        self._stride = stride or 0
        self._timeout = timeout
        self._format = None  # the format the server accepted last
        self._rx = protocol.Decoder()
        self._inbox = collections.deque()  # READY fields and ServerErrors, not yet handled
        self._pending = []  # non-fatal errors not yet raised
        self._error = None  # what ended the connection
        self._error_raised = False
        self._eof = False
        self._closed = False
        self._sock = _connect(address, timeout)
        self._poll = _poller(self._sock)
        try:
            self._send([hello])
            self.server_version, self.max_frame_payload = self._await_ready("HELLO")
            if pixel_format is not None and width is not None and height is not None:
                self._declare(frames.Format(pixel_format, width, height, self._stride))
        except BaseException:
            self._closed = True
            self._sock.close()
            raise

    @property
    def format(self):
        """The Format (pixel_format, width, height, stride) the server accepted last, or None."""
        return self._format

    @property
    def closed(self):
        """True once close() was called or the server ended the connection."""
        return self._closed or self._error is not None

    def write(self, frame, timestamp_ns=None):
        """Send one frame.

        frame is a numpy array of uint8 — (H, W, 3) bgr24, (H, W) gray,
        (H, W, 4) bgra, unless the Publisher's pixel_format says otherwise —
        or a bytes-like object of the Publisher's width, height and
        pixel_format. A new shape declares a new format first (the server
        re-opens its encoder). A contiguous array is sent without a copy and
        may be reused as soon as write returns.

        timestamp_ns is the capture time in nanoseconds on any clock of the
        producer (e.g. time.monotonic_ns()); only differences matter. None
        lets the server use the frame's arrival time.

        Before sending, write picks up, without waiting, the errors the
        server sent about earlier frames: it then raises the first as
        ServerError (the others in its .others) and does not send this
        frame. A non-fatal error leaves the stream running; after a fatal
        one, every write raises it again. write blocks only while the
        socket is full, at most timeout seconds.
        """
        self._check_open()
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
        self._collect()
        self._raise_errors()
        if fmt != self._format:
            self._declare(fmt)
        self._send([protocol.encode_frame_header(n, timestamp_ns), buf])

    def close(self):
        """Say BYE, wait for the server to close the connection, and close it.

        Raises the errors the server sent about the last frames, if any were
        not raised yet. Calling close again does nothing.
        """
        if self._closed:
            return
        self._closed = True
        try:
            if self._error is None:
                try:
                    _send_all(self._sock, [protocol.encode_bye()])
                except OSError:
                    pass  # the server has gone; _drain reads why, if it said
                self._drain(self._timeout)
        finally:
            self._sock.close()
        self._raise_errors()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        """Close; an error of close does not hide one already leaving the block."""
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except Exception:
            pass  # the exception already leaving the block matters more

    def __repr__(self):
        state = "closed" if self.closed else "open"
        return "<framecast.Publisher %s at %s, %s>" % (self.path, self.address, state)

    # Receiving.

    def _collect(self):
        """Handle what the server has sent, without waiting for more."""
        try:
            while not self._eof and self._error is None and self._poll():
                self._recv()
        except OSError as e:
            self._fail(_lost(self.address, e))
        self._handle_inbox()

    def _recv(self):
        data = self._sock.recv(65536)
        if not data:
            self._eof = True
            return
        try:
            for m in self._rx.feed(data):
                if m.type == protocol.READY:
                    self._inbox.append(protocol.decode_ready(m.payload))
                elif m.type == protocol.ERROR:
                    self._inbox.append(protocol.decode_error(m.payload))
                else:
                    raise ProtocolError("unexpected message type 0x%02x from the server" % m.type)
        except ProtocolError as e:
            self._fail(e)

    def _handle_inbox(self):
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
            self._fail(ConnectionError("framecast %s: the server closed the connection" % self.address))

    def _await_ready(self, what):
        """Wait for the server's answer to HELLO or FORMAT; return READY's fields or raise."""
        while True:
            while self._inbox:
                err = self._inbox.popleft()
                if not isinstance(err, ServerError):
                    return err  # READY's (version, max_frame_payload)
                if err.fatal:
                    self._fail(err)
                    self._raise_errors()
                if err.code in _FRAME_ERRORS:
                    self._pending.append(err)
                    continue
                return self._raise(err)  # the answer: e.g. bad-format
            if self._eof:
                self._fail(
                    ConnectionError(
                        "framecast %s: the server closed the connection without answering %s"
                        % (self.address, what)
                    )
                )
                self._raise_errors()
            try:
                self._recv()
            except socket.timeout as e:
                self._fail(
                    TimeoutError(
                        "framecast %s: no answer to %s within %g s" % (self.address, what, self._timeout)
                    )
                )
                self._raise_errors(e)
            except OSError as e:
                self._fail(_lost(self.address, e))
                self._raise_errors(e)
            if self._error is not None:
                self._raise_errors()

    def _drain(self, timeout):
        """Read until the server closes the connection or timeout passes."""
        self._sock.settimeout(timeout)
        try:
            while not self._eof:
                self._recv()
        except OSError:
            pass  # timed out or reset: what was read is handled below
        self._inbox_errors_only()

    def _inbox_errors_only(self):
        eof, self._eof = self._eof, False  # the close the caller asked for is no failure
        self._handle_inbox()
        self._eof = eof

    # Sending.

    def _declare(self, fmt):
        msg = protocol.encode_format(
            fmt.pixel_format, fmt.width, fmt.height, fmt.stride, self._fps, self._options
        )
        self._send([msg])
        self._await_ready("FORMAT")
        self._format = fmt

    def _send(self, bufs):
        try:
            _send_all(self._sock, bufs)
        except socket.timeout as e:
            self._fail(
                TimeoutError(
                    "framecast %s: the server took no data for %g s" % (self.address, self._timeout)
                )
            )
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
            self._fail(ConnectionError("a write was interrupted; the connection is closed"))
            self._error_raised = True
            raise

    # Errors.

    def _check_open(self):
        if self._closed:
            raise ValueError("write to a closed Publisher")
        if self._error is not None:
            self._error_raised = True
            self._raise(self._error)

    def _fail(self, err):
        """Record err as what ended the connection, and close the socket."""
        if self._error is None:
            self._error = err
            self._sock.close()

    def _raise_errors(self, cause=None):
        """Raise the fatal error not yet raised, else the pending frame errors."""
        if self._error is not None and not self._error_raised:
            self._error_raised = True
            self._pending = []
            self._raise(self._error, cause)
        if self._pending:
            first, first.others = self._pending[0], self._pending[1:]
            self._pending = []
            raise first

    def _raise(self, err, cause=None):
        # A fatal error is raised again by every later write: drop its old
        # traceback so it does not grow each time.
        err = err.with_traceback(None)
        if cause is not None and cause is not err:
            raise err from cause
        raise err


def _lost(address, e):
    return ConnectionError("framecast %s: connection lost: %s" % (address, e.strerror or e))


def _connect(address, timeout):
    """Connect to a tcp:// or unix:// address."""
    scheme, sep, rest = address.partition("://")
    if not sep or scheme not in ("tcp", "unix") or not rest:
        raise ValueError("address %r: want tcp://HOST:PORT or unix:///PATH" % (address,))
    try:
        if scheme == "unix":
            if rest.startswith("@"):
                rest = "\0" + rest[1:]  # Linux's abstract namespace, as Go names it
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect(rest)
            except BaseException:
                sock.close()
                raise
        else:
            u = urllib.parse.urlsplit(address)
            try:
                port = u.port or 8555
            except ValueError:
                raise ValueError("address %r: want tcp://HOST:PORT" % (address,)) from None
            sock = socket.create_connection((u.hostname or "127.0.0.1", port), timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as e:
        raise ConnectionError(
            "cannot connect to framecast at %s: %s (is `framecast serve --ingest %s` running?)"
            % (address, e.strerror or e, address)
        ) from e
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SEND_BUFFER)
    except OSError:
        pass  # a smaller buffer only costs more wake-ups
    return sock


def _poller(sock):
    """Return a function that tells, without blocking, whether sock has data to read."""
    if hasattr(select, "poll"):
        p = select.poll()
        p.register(sock, select.POLLIN)
        return lambda: bool(p.poll(0))
    return lambda: bool(select.select([sock], [], [], 0)[0])


def _send_all(sock, bufs):
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
