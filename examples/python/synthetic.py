#!/usr/bin/env python3
"""Publish a moving test picture drawn with numpy: no camera needed.

    framecast serve --ingest tcp://127.0.0.1:8555 &
    PYTHONPATH=clients/python python3 examples/python/synthetic.py
    ffplay -rtsp_transport tcp rtsp://127.0.0.1:8554/cam

Each frame has colour bars across the top half, a box that moves across the
bottom half, and the frame number as 16 black and white blocks along the
bottom edge (white is 1, most significant bit first).
"""

import argparse
import sys
import time
import urllib.parse

try:
    import numpy as np
except ImportError:
    sys.exit("%s draws its pictures with numpy, which this Python lacks: install it "
             "(Debian: apt install python3-numpy), or see docs/python.md for an example "
             "without numpy" % sys.argv[0])

from framecast import Publisher, ServerError

# Colour bars, left to right, as B, G, R (OpenCV's order, bgr24):
# white, yellow, cyan, green, magenta, red, blue, black.
BARS = [(255, 255, 255), (0, 255, 255), (255, 255, 0), (0, 255, 0),
        (255, 0, 255), (0, 0, 255), (255, 0, 0), (0, 0, 0)]


def background(width, height):
    """A grey frame with the colour bars across its top half."""
    frame = np.full((height, width, 3), 48, np.uint8)
    for i, colour in enumerate(BARS):
        frame[: height // 2, i * width // len(BARS) : (i + 1) * width // len(BARS)] = colour
    return frame


def draw(frame, still, n):
    """Draw frame number n into frame: the still background, a box, the number."""
    height, width = frame.shape[:2]
    frame[:] = still
    box = max(4, width // 10)
    span = width - box
    x = n * max(1, width // 60) % (2 * span)
    x = 2 * span - x if x > span else x  # back and forth
    frame[height // 2 + height // 16 : height // 2 + height // 16 + height // 8, x : x + box] = (255, 160, 0)
    block = max(2, width // 32)  # 16 blocks over half the width
    for bit in range(16):
        on = n >> (15 - bit) & 1
        frame[height - block :, bit * block : (bit + 1) * block] = 255 if on else 0
    return frame


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--address", default="tcp://127.0.0.1:8555", help="framecast's ingest address")
    ap.add_argument("--path", default="/cam", help="RTSP path to publish")
    ap.add_argument("--size", default="1280x720", help="frame size, WIDTHxHEIGHT")
    ap.add_argument("--fps", type=float, default=30, help="frames per second")
    ap.add_argument("--frames", type=int, default=0, help="stop after this many frames (0: never)")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    still = background(width, height)
    frame = np.empty_like(still)
    host = urllib.parse.urlsplit(args.address).hostname or "127.0.0.1"
    with Publisher(args.path, args.address, fps=args.fps) as pub:
        print("publishing %dx%d at %g fps: watch rtsp://%s:8554%s" % (width, height, args.fps, host, args.path),
              flush=True)
        start = time.monotonic()
        n = 0
        while args.frames == 0 or n < args.frames:
            pub.write(draw(frame, still, n), timestamp_ns=time.monotonic_ns())
            n += 1
            time.sleep(max(0.0, start + n / args.fps - time.monotonic()))


if __name__ == "__main__":
    try:
        main()
    except (ConnectionError, ServerError) as e:
        sys.exit("%s: %s" % (sys.argv[0], e))
    except KeyboardInterrupt:
        pass
