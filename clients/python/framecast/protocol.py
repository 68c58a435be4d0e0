"""Wire format of the framecast ingest protocol, version 1.

The protocol is specified in docs/ingest-protocol.md. This module builds and
parses its messages and nothing else: no sockets, no numpy. Publisher sends
what it builds; a test's fake server parses with it.

Every message is an 8-byte header (type, flags, reserved, payload length;
little-endian) followed by the payload.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction
from typing import Dict, List, Mapping, NamedTuple, Optional, Tuple, Union

from .errors import ProtocolError, ServerError

# What fps_fraction takes: 30, 29.97, Fraction(30000, 1001) or (30000, 1001).
FPS = Union[int, float, Fraction, Tuple[int, int]]
# What format_options takes: {"bitrate": 2000, "gop": 60}, "bitrate=2000 gop=60" or None.
Options = Union[Mapping[str, object], str, None]

VERSION = 1
MAGIC = b"FCST"
DEFAULT_ADDRESS = "tcp://127.0.0.1:8555"

# Message types, producer to server.
HELLO = 0x01
FORMAT = 0x02
FRAME = 0x03
BYE = 0x04
RING = 0x05  # shared memory: the ring, its memfd passed with the message
SLOT = 0x06  # shared memory: a slot holds a frame
# Message types, server to producer.
READY = 0x81
ERROR = 0x82
FREE = 0x83  # shared memory: the server is done with a slot

# FRAME flags bit 0: the timestamp field holds the producer's timestamp.
FLAG_TIMESTAMP = 0x01
# HELLO flags: bit 0, take the path over from the ingest producer that has
# it; bit 1, the producer reads the long READY, which carries the RTSP URL.
FLAG_TAKEOVER = 0x01
FLAG_INFO = 0x02
# HELLO flags bit 2: the producer would send frames through shared memory;
# READY flags bit 0 (in the answer to that HELLO): the server takes them so.
FLAG_SHARED_MEMORY = 0x04
FLAG_READY_SHARED = 0x01
# A ring's limits: slots, and bytes all slots together.
MIN_SLOTS, MAX_SLOTS = 2, 64
MAX_RING_SIZE = 1 << 30

HEADER_SIZE = 8
# The largest FRAME payload (timestamp included) and the largest payload of
# every other type a version 1 server takes.
MAX_FRAME_PAYLOAD = 256 << 20
MAX_PAYLOAD = 64 << 10
# The largest width or height a FORMAT may declare.
MAX_DIMENSION = 8192

_HEADER = struct.Struct("<BBHI")
_FRAME_HEADER = struct.Struct("<BBHIq")  # header, then the i64 timestamp
_FORMAT_FIXED = struct.Struct("<BBIIIII")  # up to options_len, exclusive
_READY = struct.Struct("<HI")
_U16 = struct.Struct("<H")
_ERROR = struct.Struct("<HBB")
_RING = struct.Struct("<II")
_SLOT = struct.Struct("<IIq")
_U32 = struct.Struct("<I")

# Pixel format codes by ffmpeg -pix_fmt name.
PIXEL_FORMATS: Dict[str, int] = {
    "bgr24": 1,
    "rgb24": 2,
    "bgra": 3,
    "rgba": 4,
    "gray": 5,
    "yuv420p": 6,
    "nv12": 7,
    "yuyv422": 8,
}
_PIXEL_FORMAT_NAMES = {code: name for name, code in PIXEL_FORMATS.items()}

# Error names by code; the table of the spec's "Errors" section.
ERROR_NAMES: Dict[int, str] = {
    1: "bad-hello",
    2: "unsupported-version",
    3: "malformed",
    4: "message-too-large",
    5: "path-in-use",
    6: "unauthorized",
    7: "bad-format",
    8: "no-format",
    9: "frame-size",
    10: "shutting-down",
    11: "internal",
    12: "too-many-producers",
    13: "server-busy",
    14: "replaced",
    15: "bad-ring",
}
ERROR_CODES = {name: code for code, name in ERROR_NAMES.items()}



class Header(NamedTuple):
    type: int
    flags: int
    length: int


class Message(NamedTuple):
    type: int
    flags: int
    payload: bytes


class Hello(NamedTuple):
    version: int
    path: str
    token: bytes


class FormatMessage(NamedTuple):
    pixel_format: int
    width: int
    height: int
    stride: int
    fps_num: int
    fps_den: int
    options: str


class Ready(NamedTuple):
    """A READY's fields; rtsp_url is None in the short form (no info flag).

    shared_memory is READY's flag 0x01: the server takes frames through
    shared memory on this connection.
    """

    version: int
    max_frame_payload: int
    rtsp_url: Optional[str] = None
    shared_memory: bool = False


class Ring(NamedTuple):
    slots: int
    slot_size: int


class Slot(NamedTuple):
    """A SLOT's fields; timestamp_ns is None when its flag is clear."""

    index: int
    length: int
    timestamp_ns: Optional[int]


def pixel_format_code(name: str) -> int:
    """Return the wire code of the pixel format named name (e.g. "bgr24").

    Raises ValueError naming the valid names for an unknown one.
    """
    try:
        return PIXEL_FORMATS[name]
    except (KeyError, TypeError):
        raise ValueError(
            "unknown pixel format %r (want one of %s)" % (name, ", ".join(PIXEL_FORMATS))
        ) from None


def pixel_format_name(code: int) -> str:
    """Return the name of the pixel format with wire code code."""
    try:
        return _PIXEL_FORMAT_NAMES[code]
    except KeyError:
        raise ValueError("unknown pixel format code %r" % (code,)) from None


def min_stride(pixel_format: str, width: int) -> int:
    """Return the bytes of one tight row of the first plane of a frame."""
    if pixel_format in ("bgr24", "rgb24"):
        return 3 * width
    if pixel_format in ("bgra", "rgba"):
        return 4 * width
    if pixel_format in ("gray", "yuv420p", "nv12"):
        return width
    if pixel_format == "yuyv422":
        return (width + 1) // 2 * 4
    pixel_format_code(pixel_format)  # raises for an unknown name
    raise AssertionError(pixel_format)


def frame_size(pixel_format: str, width: int, height: int, stride: int = 0) -> int:
    """Return the number of bytes a frame of this format needs.

    With stride 0 (tight rows) that is the exact size the server wants, e.g.
    921600 for bgr24 640x480. With a stride it is the least size the server
    takes: for packed formats the last row ends after its last pixel (the
    server also takes it padded, up to stride*height); yuv420p and nv12 are
    then exactly this size.
    """
    tight = min_stride(pixel_format, width)
    cw, ch = (width + 1) // 2, (height + 1) // 2
    if pixel_format in ("yuv420p", "nv12"):
        if stride == 0:
            return width * height + 2 * cw * ch
        if pixel_format == "yuv420p":
            return stride * height + 2 * ((stride + 1) // 2) * ch
        return stride * height + ((stride + 1) & ~1) * ch
    if stride == 0:
        return tight * height
    return stride * (height - 1) + tight


def fps_fraction(fps: FPS) -> Tuple[int, int]:
    """Return the frame rate fps as the fraction (num, den) FORMAT carries.

    fps may be an int, a float (the nearest fraction with a denominator up
    to 1001: 12.5 is 25/2, 30000/1001 is 30000/1001), a fractions.Fraction,
    or a (num, den) pair.
    """
    if isinstance(fps, tuple):
        num, den = fps
    elif isinstance(fps, Fraction):
        num, den = fps.numerator, fps.denominator
    elif isinstance(fps, int):
        num, den = fps, 1
    else:
        f = float(fps)
        if not math.isfinite(f) or f <= 0:
            raise ValueError("frame rate %r: want 1/1000 to 1000 frames per second" % (fps,))
        r = Fraction(f).limit_denominator(1001)
        num, den = r.numerator, r.denominator
    if not (0 < num < 1 << 32 and 0 < den < 1 << 32) or not den <= 1000 * num <= 1000000 * den:
        raise ValueError("frame rate %r: want 1/1000 to 1000 frames per second" % (fps,))
    return int(num), int(den)


def format_options(options: Options) -> str:
    """Return encoder options as FORMAT's "key=value key=value" string.

    options is a dict such as {"bitrate": 2000, "gop": 60}, a string already
    in that form, or None. Keys and values must be ASCII without spaces or
    '='. The server, not this function, knows which keys exist.
    """
    if not options:
        return ""
    if isinstance(options, str):
        text = options
    else:
        parts = []
        for key, value in options.items():
            key, value = str(key), _option_value(value)
            for s in (key, value):
                if not s or " " in s or "=" in s or not s.isascii() or not s.isprintable():
                    raise ValueError(
                        "encoder option %s=%s: keys and values must be printable ASCII "
                        "without spaces or '='" % (key, value)
                    )
            parts.append("%s=%s" % (key, value))
        text = " ".join(parts)
    if not text.isascii() or len(text) > 0xFFFF:
        raise ValueError("encoder options %r: want ASCII, at most 65535 bytes" % (text,))
    return text


def _option_value(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def encode_header(msg_type: int, length: int, flags: int = 0) -> bytes:
    """Return the 8-byte header of a message of msg_type with a payload of length bytes."""
    return _HEADER.pack(msg_type, flags, 0, length)


def decode_header(data: Union[bytes, bytearray, memoryview]) -> Header:
    """Parse the 8-byte header at the start of data into a Header.

    Raises ProtocolError when the reserved bytes are not zero.
    """
    msg_type, flags, reserved, length = _HEADER.unpack_from(data)
    if reserved != 0:
        raise ProtocolError("message type 0x%02x: reserved bytes are %d, want 0" % (msg_type, reserved))
    return Header(msg_type, flags, length)


_PATH_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-")


def _path_problem(path: str) -> Optional[str]:
    """Say what makes path not canonical (the server's rule), or return None."""
    if path == "":
        return "is empty"
    if not path.startswith("/"):
        return "must start with /"
    if path == "/":
        return "names no stream"
    if len(path.encode("utf-8")) > 255:
        return "is %d bytes, more than 255" % len(path.encode("utf-8"))
    segments = path[1:].split("/")
    for i, seg in enumerate(segments):
        if seg == "":
            return "ends with /" if i == len(segments) - 1 else "has an empty segment (//)"
        if seg in (".", ".."):
            return "has a %r segment" % seg
        for c in seg:
            if c == "%":
                return "has %: percent-escapes are not decoded, write the path itself"
            if c not in _PATH_CHARS:
                return "has %r" % c
    return None


def check_path(path: str) -> bytes:
    """Return path as bytes, or raise ValueError if it is not a canonical path.

    A canonical path is "/" and segments of ASCII letters, digits, '.', '_', '~'
    or '-' joined by single slashes, no "." or ".." segment, at most 255 bytes;
    the server refuses any other (docs/serving.md, "Paths").
    """
    if not isinstance(path, str):
        raise TypeError("path %r: want a str such as '/cam'" % (path,))
    problem = _path_problem(path)
    if problem:
        raise ValueError(
            "path %r %s; want a path such as /cam or /site/cam: segments of letters, digits, "
            "'.', '_', '~' or '-' after single slashes, at most 255 bytes" % (path, problem)
        )
    return path.encode("ascii")


def encode_hello(path: str, token: Union[str, bytes, None] = None, flags: int = 0) -> bytes:
    """Return a whole HELLO message for path with the publishing token (str, bytes or None).

    flags are HELLO's: FLAG_TAKEOVER, FLAG_INFO.
    """
    raw = check_path(path)
    if token is None:
        token = b""
    elif isinstance(token, str):
        token = token.encode("utf-8")
    if len(token) > 0xFFFF:
        raise ValueError("token is %d bytes, want at most 65535" % len(token))
    payload = b"".join(
        (MAGIC, struct.pack("<HH", VERSION, len(raw)), raw, struct.pack("<H", len(token)), token)
    )
    return encode_header(HELLO, len(payload), flags) + payload


def decode_hello(payload: bytes) -> Hello:
    """Parse a HELLO payload into Hello(version, path, token); ProtocolError if malformed."""
    if len(payload) < 10 or bytes(payload[:4]) != MAGIC:
        raise ProtocolError("HELLO: want at least 10 bytes starting with FCST")
    version, path_len = struct.unpack_from("<HH", payload, 4)
    if len(payload) < 10 + path_len:
        raise ProtocolError("HELLO: path of %d bytes does not fit" % path_len)
    path = bytes(payload[8 : 8 + path_len]).decode("utf-8", "replace")
    (token_len,) = struct.unpack_from("<H", payload, 8 + path_len)
    token = bytes(payload[10 + path_len : 10 + path_len + token_len])
    if len(token) != token_len:
        raise ProtocolError("HELLO: token of %d bytes does not fit" % token_len)
    return Hello(version, path, token)


def check_size(width: int, height: int) -> None:
    """Raise ValueError unless width x height is a size FORMAT may declare."""
    for v in (width, height):
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError("frame size %r x %r: want ints" % (width, height))
    if (
        width % 2
        or height % 2
        or not 2 <= width <= MAX_DIMENSION
        or not 2 <= height <= MAX_DIMENSION
    ):
        hint = ""
        if (width % 2 or height % 2) and 2 <= width <= MAX_DIMENSION and 2 <= height <= MAX_DIMENSION:
            hint = "; crop to %dx%d, e.g. frame[:%d, :%d]" % (
                width & ~1, height & ~1, height & ~1, width & ~1)
        raise ValueError(
            "frame size %dx%d: width and height must be even and from 2 to %d "
            "(H.264 4:2:0 needs even sizes)%s" % (width, height, MAX_DIMENSION, hint)
        )


def encode_format(
    pixel_format: str,
    width: int,
    height: int,
    stride: int = 0,
    fps: FPS = 30,
    options: Options = None,
) -> bytes:
    """Return a whole FORMAT message.

    pixel_format is a name such as "bgr24"; stride is the bytes per row of the
    first plane (0: tight rows); fps is anything fps_fraction takes; options is
    anything format_options takes.
    """
    code = pixel_format_code(pixel_format)
    check_size(width, height)
    if stride and not min_stride(pixel_format, width) <= stride < 1 << 32:
        raise ValueError(
            "stride %d is less than a %s row of %d pixels (%d bytes)"
            % (stride, pixel_format, width, min_stride(pixel_format, width))
        )
    num, den = fps_fraction(fps)
    opts = format_options(options).encode("ascii")
    payload = b"".join(
        (
            _FORMAT_FIXED.pack(code, 0, width, height, stride, num, den),
            struct.pack("<H", len(opts)),
            opts,
            b"\x00\x00",
        )
    )
    return encode_header(FORMAT, len(payload)) + payload


def decode_format(payload: bytes) -> FormatMessage:
    """Parse a FORMAT payload into a FormatMessage; ProtocolError if malformed."""
    if len(payload) < 26:
        raise ProtocolError("FORMAT: payload is %d bytes, want at least 26" % len(payload))
    code, _, width, height, stride, num, den = _FORMAT_FIXED.unpack_from(payload)
    (opt_len,) = struct.unpack_from("<H", payload, 22)
    if len(payload) < 26 + opt_len:
        raise ProtocolError("FORMAT: options of %d bytes do not fit" % opt_len)
    options = bytes(payload[24 : 24 + opt_len]).decode("ascii", "replace")
    return FormatMessage(code, width, height, stride, num, den, options)


def encode_frame_header(pixel_bytes: int, timestamp_ns: Optional[int] = None) -> bytes:
    """Return the 16 bytes that precede pixel_bytes bytes of pixels in a FRAME.

    That is the 8-byte header and the 8-byte timestamp; timestamp_ns None
    sends a zero timestamp with flags bit 0 clear (the server then uses the
    frame's arrival time).
    """
    if timestamp_ns is None:
        return _FRAME_HEADER.pack(FRAME, 0, 0, 8 + pixel_bytes, 0)
    return _FRAME_HEADER.pack(FRAME, FLAG_TIMESTAMP, 0, 8 + pixel_bytes, timestamp_ns)


def decode_frame(flags: int, payload: bytes) -> Tuple[Optional[int], bytes]:
    """Split a FRAME payload into (timestamp_ns or None, pixels)."""
    if len(payload) < 8:
        raise ProtocolError("FRAME: payload is %d bytes, want at least 8" % len(payload))
    (ts,) = struct.unpack_from("<q", payload)
    return (ts if flags & FLAG_TIMESTAMP else None), payload[8:]


def encode_bye() -> bytes:
    """Return a whole BYE message."""
    return encode_header(BYE, 0)


def encode_ready(
    max_frame_payload: int = MAX_FRAME_PAYLOAD,
    version: int = VERSION,
    rtsp_url: Optional[str] = None,
    shared_memory: bool = False,
) -> bytes:
    """Return a whole READY message (server to producer): the long form with rtsp_url."""
    payload = _READY.pack(version, max_frame_payload)
    if rtsp_url:
        url = rtsp_url.encode("utf-8")
        payload += _U16.pack(len(url)) + url
    return encode_header(READY, len(payload), FLAG_READY_SHARED if shared_memory else 0) + payload


def decode_ready(payload: bytes, flags: int = 0) -> Ready:
    """Parse a READY payload, short (6 bytes) or long (with the RTSP URL), into a Ready.

    flags are the READY header's: FLAG_READY_SHARED sets shared_memory.
    """
    n = len(payload)
    shared = bool(flags & FLAG_READY_SHARED)
    if n < _READY.size or _READY.size < n < _READY.size + 3:
        raise ProtocolError("READY: payload is %d bytes, want 6, or 8 and a URL" % n)
    version, max_frame_payload = _READY.unpack_from(payload)
    if n == _READY.size:
        return Ready(version, max_frame_payload, None, shared)
    (url_len,) = _U16.unpack_from(payload, _READY.size)
    if url_len == 0 or n != _READY.size + 2 + url_len:
        raise ProtocolError("READY: payload is %d bytes, want %d for a URL of %d bytes"
                            % (n, _READY.size + 2 + url_len, url_len))
    url = bytes(payload[_READY.size + 2 :]).decode("utf-8", "replace")
    return Ready(version, max_frame_payload, url, shared)


def encode_ring(slots: int, slot_size: int) -> bytes:
    """Return a whole RING message: a ring of slots slots of slot_size bytes.

    Its memfd goes with it (socket.send_fds), which is the caller's part.
    """
    if not MIN_SLOTS <= slots <= MAX_SLOTS:
        raise ValueError("ring of %d slots: want %d to %d" % (slots, MIN_SLOTS, MAX_SLOTS))
    if not 1 <= slot_size <= MAX_FRAME_PAYLOAD - 8:
        raise ValueError("ring slots of %d bytes: want 1 to %d" % (slot_size, MAX_FRAME_PAYLOAD - 8))
    if slots * slot_size > MAX_RING_SIZE:
        raise ValueError("ring of %d slots of %d bytes is more than 1 GiB" % (slots, slot_size))
    return encode_header(RING, _RING.size) + _RING.pack(slots, slot_size)


def decode_ring(payload: bytes) -> Ring:
    """Parse a RING payload into a Ring."""
    if len(payload) != _RING.size:
        raise ProtocolError("RING: payload is %d bytes, want %d" % (len(payload), _RING.size))
    return Ring(*_RING.unpack(payload))


def encode_slot(index: int, length: int, timestamp_ns: Optional[int] = None) -> bytes:
    """Return a whole SLOT message: slot index holds a frame of length bytes.

    timestamp_ns None clears the timestamp flag, as for FRAME.
    """
    flags = 0 if timestamp_ns is None else FLAG_TIMESTAMP
    return encode_header(SLOT, _SLOT.size, flags) + _SLOT.pack(index, length, timestamp_ns or 0)


def decode_slot(flags: int, payload: bytes) -> Slot:
    """Parse a SLOT payload (and its header's flags) into a Slot."""
    if len(payload) != _SLOT.size:
        raise ProtocolError("SLOT: payload is %d bytes, want %d" % (len(payload), _SLOT.size))
    index, length, ts = _SLOT.unpack(payload)
    return Slot(index, length, ts if flags & FLAG_TIMESTAMP else None)


def encode_free(index: int) -> bytes:
    """Return a whole FREE message (server to producer)."""
    return encode_header(FREE, _U32.size) + _U32.pack(index)


def decode_free(payload: bytes) -> int:
    """Parse a FREE payload: the slot freed."""
    if len(payload) != _U32.size:
        raise ProtocolError("FREE: payload is %d bytes, want %d" % (len(payload), _U32.size))
    return _U32.unpack(payload)[0]


def encode_error(code: int, message: str, fatal: Optional[bool] = None) -> bytes:
    """Return a whole ERROR message (server to producer).

    fatal None takes the spec's fatality of code.
    """
    if fatal is None:
        fatal = code not in (7, 8, 9)
    payload = _ERROR.pack(code, 1 if fatal else 0, 0) + message.encode("utf-8")
    return encode_header(ERROR, len(payload)) + payload


def decode_error(payload: bytes) -> ServerError:
    """Parse an ERROR payload into a ServerError (to raise)."""
    if len(payload) < _ERROR.size:
        raise ProtocolError("ERROR: payload is %d bytes, want at least 4" % len(payload))
    code, fatal, _ = _ERROR.unpack_from(payload)
    message = bytes(payload[_ERROR.size :]).decode("utf-8", "replace")
    return ServerError(code, ERROR_NAMES.get(code, "error-%d" % code), bool(fatal), message)


class Decoder:
    """Splits a byte stream into Messages.

    feed() takes bytes as they arrive and returns the whole messages they
    complete. A payload longer than the limit of its type raises
    ProtocolError: max_frame_payload for FRAME, max_payload for every other
    type.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD, max_frame_payload: int = MAX_FRAME_PAYLOAD) -> None:
        self._buf = bytearray()
        self._max = max_payload
        self._max_frame = max_frame_payload

    def feed(self, data: bytes) -> List[Message]:
        """Append data and return the list of messages now complete."""
        self._buf += data
        out: List[Message] = []
        while len(self._buf) >= HEADER_SIZE:
            h = decode_header(self._buf)
            limit = self._max_frame if h.type == FRAME else self._max
            if h.length > limit:
                raise ProtocolError(
                    "message type 0x%02x: payload of %d bytes, limit %d" % (h.type, h.length, limit)
                )
            end = HEADER_SIZE + h.length
            if len(self._buf) < end:
                break
            out.append(Message(h.type, h.flags, bytes(self._buf[HEADER_SIZE:end])))
            del self._buf[:end]
        return out

    @property
    def buffered(self) -> int:
        """The number of bytes received that do not yet make a whole message."""
        return len(self._buf)
