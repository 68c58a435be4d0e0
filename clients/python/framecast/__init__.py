"""framecast: publish frames your program makes as a live H.264 RTSP stream.

    import framecast

    out = framecast.VideoWriter("rtsp://127.0.0.1:8554/cam", fps=30, frame_size=(640, 480))
    while True:
        out.write(frame)   # numpy array (480, 640, 3) of uint8, BGR as OpenCV makes

then watch rtsp://127.0.0.1:8554/cam. VideoWriter starts a framecast server
as a child of this process when none serves that port (Server runs one
explicitly); Publisher speaks framecast's ingest protocol
(docs/ingest-protocol.md) to a running `framecast serve --ingest`:

    with framecast.Publisher("/cam", address="tcp://127.0.0.1:8555") as pub:
        pub.write(frame)

The client needs only the standard library; numpy arrays are taken when
numpy is installed, and bytes-like frames always. Every error about the
server, the connection or a frame is a framecast.Error (.retryable).
"""

from .errors import (
    ConnectionLost,
    Error,
    FrameError,
    FrameTypeError,
    ProtocolError,
    ServerError,
    ServerStartError,
    Timeout,
)
from .frames import Format
from .protocol import DEFAULT_ADDRESS, PIXEL_FORMATS, frame_size
from .publisher import Publisher
from .server import Server, VideoWriter, find_binary

__version__ = "0.1.0"

__all__ = [
    "ConnectionLost",
    "DEFAULT_ADDRESS",
    "Error",
    "Format",
    "FrameError",
    "FrameTypeError",
    "PIXEL_FORMATS",
    "ProtocolError",
    "Publisher",
    "Server",
    "ServerError",
    "ServerStartError",
    "Timeout",
    "VideoWriter",
    "find_binary",
    "frame_size",
]
