"""A fake framecast ingest server in a thread, for the client's unit tests.

It speaks protocol version 1 as docs/ingest-protocol.md says: READY for a
HELLO and each FORMAT, a frame-size or no-format ERROR for a frame it
refuses, and it closes the connection after BYE. It records the bytes and
messages it receives. A test makes it refuse a HELLO or a FORMAT, or send
any bytes, through its arguments.
"""

import os
import queue
import socket
import tempfile
import threading

from framecast import protocol


class FakeServer:
    """Accepts producer connections one at a time and answers them.

    family        -- "tcp" (127.0.0.1, a free port) or "unix" (a socket in a
                     temporary directory)
    hello_error   -- (code, message) to answer HELLO with a fatal ERROR, or a
                     list of them (or None), one for each connection in turn
    format_error  -- a function of the FormatMessage returning (code,
                     message) to refuse it, or None to accept it
    keep_raw      -- record every byte received in .raw (small frames only)
    fatal_after   -- (n, code, message): once n bytes have come, send a fatal
                     ERROR and close at once, even in the middle of a message
    old           -- answer a HELLO with flags malformed, as servers before
                     HELLO's flags do
    port          -- the TCP port to listen on (0: a free one), e.g. that of
                     a FakeServer closed to play a server restart
    unix_path     -- the Unix socket to listen on (family "unix"), instead
                     of one in a new temporary directory
    concurrent    -- serve each connection in a thread of its own, at once

    A HELLO with the info flag is answered with the long READY, whose URL is
    rtsp://127.0.0.1:8554 and the path. .hello_flags lists the flags of each
    connection's HELLO.
    """

    def __init__(self, family="tcp", hello_error=None, format_error=None, keep_raw=True,
                 fatal_after=None, old=False, port=0, unix_path=None, concurrent=False):
        self.hello_error = hello_error
        self.old = old
        self.concurrent = concurrent
        self._sessions = []
        self.hello_flags = []
        self.fatal_after = fatal_after
        self.format_error = format_error
        self.keep_raw = keep_raw
        self.raw = bytearray()
        self.messages = []  # protocol.Message, in order, every connection
        self.frames = []  # (FormatMessage, timestamp or None, pixels bytes)
        self.events = queue.Queue()  # "connected", "bye", "closed"
        self._lock = threading.Lock()
        self._dir = None
        if family == "unix" and unix_path:
            self._path = unix_path
            self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._listener.bind(self._path)
            self.address = "unix://" + self._path
        elif family == "unix":
            self._dir = tempfile.mkdtemp(prefix="framecast-test-")
            self._path = os.path.join(self._dir, "ingest.sock")
            self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._listener.bind(self._path)
            self.address = "unix://" + self._path
        else:
            self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind(("127.0.0.1", port))
            self.address = "tcp://127.0.0.1:%d" % self._listener.getsockname()[1]
        self._listener.listen(4)
        self._listener.settimeout(0.05)
        self._stop = threading.Event()
        self.conn = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self):
        """Stop accepting, close the connection, and wait for the thread."""
        self._stop.set()
        self._thread.join(10)
        for t in self._sessions:
            t.join(10)
        self._listener.close()
        if self._dir is None:
            return
        if self._dir:
            try:
                os.unlink(self._path)
            except OSError:
                pass
            os.rmdir(self._dir)
            self._dir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        """Send raw bytes to the connected producer (e.g. an unsolicited ERROR)."""
        self.conn.sendall(data)

    def wait(self, event, timeout=5):
        """Wait for event ("connected", "bye" or "closed"); return False on timeout."""
        while True:
            try:
                got = self.events.get(timeout=timeout)
            except queue.Empty:
                return False
            if got == event:
                return True

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conn = conn
            self.events.put("connected")
            if self.concurrent:
                t = threading.Thread(target=self._serve_one, args=(conn,), daemon=True)
                self._sessions.append(t)
                t.start()
            else:
                self._serve_one(conn)

    def _serve_one(self, conn):
        try:
            self._session(conn)
        finally:
            conn.close()
            self.events.put("closed")

    def _session(self, conn):
        conn.settimeout(0.05)
        dec = protocol.Decoder()
        fmt = None
        hello = False
        info = False
        received = 0
        while not self._stop.is_set():
            try:
                data = conn.recv(1 << 20)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            if self.keep_raw:
                self.raw += data
            if self.fatal_after:
                received += len(data)
                n, code, message = self.fatal_after
                if received >= n:
                    conn.sendall(protocol.encode_error(code, message, fatal=True))
                    return
            try:
                msgs = dec.feed(data)
            except protocol.ProtocolError as e:
                conn.sendall(protocol.encode_error(4, str(e)))
                return
            for m in msgs:
                with self._lock:
                    self.messages.append(m)
                if not hello:
                    if m.type != protocol.HELLO:
                        conn.sendall(protocol.encode_error(1, "first message must be HELLO"))
                        return
                    h = protocol.decode_hello(m.payload)
                    self.hello_flags.append(m.flags)
                    if m.flags and self.old:
                        conn.sendall(protocol.encode_error(3, "HELLO has unknown flags 0x%02x" % m.flags))
                        return
                    info = bool(m.flags & protocol.FLAG_INFO)
                    refusal = self.hello_error
                    if isinstance(refusal, list):  # one per connection, then none
                        refusal = refusal.pop(0) if refusal else None
                    if refusal:
                        conn.sendall(protocol.encode_error(*refusal, fatal=True))
                        return
                    if h.version != 1:
                        conn.sendall(protocol.encode_error(2, "version 1 only"))
                        return
                    hello = True
                    url = "rtsp://127.0.0.1:8554" + h.path if info else None
                    conn.sendall(protocol.encode_ready(rtsp_url=url))
                elif m.type == protocol.FORMAT:
                    f = protocol.decode_format(m.payload)
                    refusal = self.format_error and self.format_error(f)
                    if refusal:
                        conn.sendall(protocol.encode_error(*refusal, fatal=False))
                    else:
                        fmt = f
                        conn.sendall(protocol.encode_ready(rtsp_url=url))
                elif m.type == protocol.FRAME:
                    ts, pixels = protocol.decode_frame(m.flags, m.payload)
                    if fmt is None:
                        conn.sendall(protocol.encode_error(8, "no FORMAT before this frame"))
                        continue
                    name = protocol.pixel_format_name(fmt.pixel_format)
                    want = protocol.frame_size(name, fmt.width, fmt.height, fmt.stride)
                    short = len(pixels) < want
                    if short or (fmt.stride == 0 and len(pixels) != want):
                        conn.sendall(
                            protocol.encode_error(
                                9,
                                "frame is %d bytes, want %d for %s %dx%d"
                                % (len(pixels), want, name, fmt.width, fmt.height),
                            )
                        )
                        continue
                    with self._lock:
                        self.frames.append((fmt, ts, bytes(pixels)))
                elif m.type == protocol.BYE:
                    self.events.put("bye")
                    return
                else:
                    conn.sendall(protocol.encode_error(3, "unknown type 0x%02x" % m.type))
                    return
