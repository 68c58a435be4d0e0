"""How a frame object becomes a declared format and the bytes to send.

numpy is used only when the frame is a numpy array, and then it is already
imported by the caller; this module never imports it itself.
"""

from __future__ import annotations

import sys
from typing import Any, NamedTuple, Optional, Tuple

from . import protocol
from .errors import FrameError, FrameTypeError


class Format(NamedTuple):
    """The format of frames as FORMAT declares it.

    pixel_format -- ffmpeg's name, e.g. "bgr24"
    width, height -- in pixels
    stride -- bytes per row of the first plane; 0 means tight rows
    """

    pixel_format: str
    width: int
    height: int
    stride: int


# Bytes per pixel of the first plane, for the layouts a numpy array of shape
# (H, W, C) carries: C channels of one byte.
_CHANNELS = {
    "bgr24": 3,
    "rgb24": 3,
    "bgra": 4,
    "rgba": 4,
    "gray": 1,
    "yuyv422": 2,
}
# Planar 4:2:0 frames as OpenCV holds them: one 2-D array of (H*3/2, W).
_PLANAR = ("yuv420p", "nv12")
_DEFAULT_BY_CHANNELS = {1: "gray", 3: "bgr24", 4: "bgra"}


def describe(
    frame: Any,
    pixel_format: Optional[str] = None,
    width: Optional[int] = None,
    height: Optional[int] = None,
    stride: int = 0,
) -> Tuple[Format, memoryview]:
    """Return (Format, buffer) for frame: what to declare and what to send.

    frame is a numpy array of uint8 or any bytes-like object. An array's
    shape sets its size and, unless pixel_format is given, its format:
    (H, W) and (H, W, 1) are gray, (H, W, 3) bgr24, (H, W, 4) bgra. With
    pixel_format, (H, W, 2) is yuyv422 and (H*3/2, W) is yuv420p or nv12.

    buffer is a 1-D memoryview of the bytes to send. A C-contiguous array is
    not copied. An array whose rows are contiguous but spaced apart (a crop
    of a larger image) is not copied either when the gap between rows is no
    longer than a row: it is sent with a stride, gaps included. Any other
    array (flipped, strided columns, a small crop of a large image) is
    copied once into a tight one.

    A bytes-like frame is sent as it is, with width, height, pixel_format
    and stride as given; the server checks its size.

    Errors are FrameTypeError (a TypeError) for a type or dtype the client
    does not take, FrameError (a ValueError) for a shape or size it does
    not; their messages say how to convert such a frame.
    """
    np = sys.modules.get("numpy")
    if np is not None and isinstance(frame, np.ndarray):
        if frame.dtype != np.uint8:
            raise FrameTypeError("frame dtype %s: want uint8%s" % (frame.dtype, _dtype_hint(np, frame)))
        if frame.ndim >= 2:
            return _describe_array(np, frame, pixel_format)
    try:
        buf = memoryview(frame)
    except TypeError:
        raise FrameTypeError(
            "frame of type %s: want a numpy array of uint8 or a bytes-like object"
            % type(frame).__name__
        ) from None
    if not buf.c_contiguous:
        raise FrameError("bytes-like frame is not contiguous: pass bytes(frame) or a numpy array")
    if buf.ndim != 1 or buf.format != "B":
        buf = buf.cast("B")
    if pixel_format is None or width is None or height is None:
        raise FrameError(
            "a bytes-like frame needs width, height and pixel_format given to the "
            "Publisher (numpy arrays declare them from their shape)"
        )
    return Format(pixel_format, width, height, stride or 0), buf


def _dtype_hint(np: Any, frame: Any) -> str:
    """Say how to make a uint8 frame of frame, by its dtype."""
    kind = frame.dtype.kind
    if kind == "f":
        return (
            " (one byte per channel, 0 to 255); from floats in 0..1: "
            "(frame * 255).clip(0, 255).astype(np.uint8), from floats in 0..255: "
            "frame.clip(0, 255).astype(np.uint8)"
        )
    if kind == "b":
        return "; from a mask: frame.astype(np.uint8) * 255"
    if kind == "u" and frame.dtype.itemsize == 2:
        return "; from a 16-bit image: (frame >> 8).astype(np.uint8); from values 0 to 255: frame.astype(np.uint8)"
    if kind in "ui":
        return "; from values 0 to 255: frame.clip(0, 255).astype(np.uint8)"
    return ""


def _check_size(shape: Tuple[int, ...], width: int, height: int) -> None:
    """Raise FrameError unless width x height may be declared, with a crop that fits."""
    try:
        protocol.check_size(width, height)
    except ValueError as e:
        raise FrameError("frame shape %s: %s" % (shape, e)) from None


def _describe_array(np: Any, frame: Any, pixel_format: Optional[str]) -> Tuple[Format, memoryview]:
    shape = frame.shape
    if frame.ndim == 2:
        channels = 1
    elif frame.ndim == 3:
        channels = shape[2]
        if shape[0] in (1, 3, 4) and channels not in (1, 2, 3, 4):
            raise FrameError(
                "frame shape %s looks channels-first (channels, height, width), as PyTorch "
                "makes; want (height, width, channels): pass frame.transpose(1, 2, 0)" % (shape,)
            )
    elif frame.ndim == 4 and shape[0] == 1:
        raise FrameError(
            "frame shape %s is a batch of one frame; want (height, width, channels): pass frame[0]"
            % (shape,)
        )
    else:
        raise FrameError(
            "frame shape %s: want (height, width) or (height, width, channels)" % (shape,)
        )
    if pixel_format is None:
        pixel_format = _DEFAULT_BY_CHANNELS.get(channels)
        if pixel_format is None:
            if channels == 2:
                raise FrameError(
                    "frame shape %s: 2 channels could be several layouts; pass "
                    "pixel_format='yuyv422' if it is YUYV" % (shape,)
                )
            raise FrameError("frame shape %s: want 1, 3 or 4 channels" % (shape,))
    else:
        protocol.pixel_format_code(pixel_format)  # raises for an unknown name

    if pixel_format in _PLANAR:
        if frame.ndim != 2 or shape[0] % 3:
            raise FrameError(
                "frame shape %s does not fit pixel_format %s: want (height*3/2, width), "
                "as OpenCV's COLOR_BGR2YUV_I420 makes" % (shape, pixel_format)
            )
        height, width = shape[0] * 2 // 3, shape[1]
        _check_size(shape, width, height)
        frame = np.ascontiguousarray(frame)
        return Format(pixel_format, width, height, 0), memoryview(frame).cast("B")

    want = _CHANNELS[pixel_format]
    if channels != want:
        want_shape = "(height, width)" if want == 1 else "(height, width, %d)" % want
        raise FrameError(
            "frame shape %s does not fit pixel_format %s: want %s" % (shape, pixel_format, want_shape)
        )
    height, width = shape[0], shape[1]
    _check_size(shape, width, height)
    if frame.flags.c_contiguous:
        return Format(pixel_format, width, height, 0), memoryview(frame).cast("B")

    row = width * want
    stride = _row_stride(frame, want)
    if stride and stride <= 2 * row:
        # Rows of contiguous pixels, stride bytes apart: send the span from
        # the first pixel to the last, gaps included, without copying.
        span = stride * (height - 1) + row
        flat = np.lib.stride_tricks.as_strided(frame, shape=(span,), strides=(1,), writeable=False)
        return Format(pixel_format, width, height, stride), memoryview(flat)
    frame = np.ascontiguousarray(frame)
    return Format(pixel_format, width, height, 0), memoryview(frame).cast("B")


def _row_stride(frame: Any, bpp: int) -> int:
    """Return the row stride of frame if each of its rows is contiguous, else 0."""
    s = frame.strides
    if frame.ndim == 3 and (s[1] != bpp or (bpp > 1 and s[2] != 1)):
        return 0
    if frame.ndim == 2 and s[1] != 1:
        return 0
    if s[0] < frame.shape[1] * bpp:
        return 0
    return s[0]
