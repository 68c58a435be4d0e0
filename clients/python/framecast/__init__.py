"""framecast: publish frames your program makes as a live H.264 RTSP stream.

    import numpy as np
    from framecast import Publisher

    with Publisher("/cam", address="tcp://127.0.0.1:8555") as pub:
        while True:
            frame = np.zeros((480, 640, 3), np.uint8)  # bgr24, as OpenCV makes
            pub.write(frame)

then watch rtsp://127.0.0.1:8554/cam. The client speaks framecast's ingest
protocol (docs/ingest-protocol.md) to a running `framecast serve --ingest`.
It needs only the standard library; numpy arrays are taken when numpy is
installed, and bytes-like frames always.
"""

from .errors import ProtocolError, ServerError
from .frames import Format
from .protocol import DEFAULT_ADDRESS, PIXEL_FORMATS, frame_size
from .publisher import Publisher

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_ADDRESS",
    "Format",
    "PIXEL_FORMATS",
    "ProtocolError",
    "Publisher",
    "ServerError",
    "frame_size",
]
