#!/usr/bin/env python3
"""Measure how many frames per second Python can publish to framecast.

    framecast serve --ingest unix:///tmp/framecast.sock &
    PYTHONPATH=clients/python python3 examples/python/bench_publish.py --address unix:///tmp/framecast.sock

Sends pre-drawn bgr24 frames (the synthetic picture, so the encoder sees
motion) as fast as the connection takes them, and prints the rate. While a
viewer watches /bench, the server converts every frame and encodes as many
as it can; frames it has no time to encode are dropped there, not here.
With no viewer the server only checks each frame.
"""

import argparse
import sys
import time

import numpy as np

from framecast import Publisher, ServerError
from synthetic import background, draw


def measure(address, path="/bench", width=1920, height=1080, seconds=5.0, warmup=1.0, noise=False):
    """Publish for warmup + seconds; return frames per second over the last seconds.

    noise sends random pixels instead of the synthetic picture: the hardest
    content for the encoder.
    """
    if noise:
        rng = np.random.default_rng(1)
        frames = [rng.integers(0, 256, (height, width, 3), np.uint8) for _ in range(8)]
    else:
        still = background(width, height)
        frames = [draw(np.empty_like(still), still, n) for n in range(8)]
    with Publisher(path, address) as pub:
        pub.write(frames[0])
        print("publishing on %s; measuring after %g s" % (path, warmup), flush=True)
        n = 1
        end_warmup = time.monotonic() + warmup
        while time.monotonic() < end_warmup:
            pub.write(frames[n % len(frames)])
            n += 1
        start, sent = time.monotonic(), 0
        while time.monotonic() - start < seconds:
            pub.write(frames[(n + sent) % len(frames)])
            sent += 1
        return sent / (time.monotonic() - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--address", default="unix:///tmp/framecast.sock", help="framecast's ingest address")
    ap.add_argument("--path", default="/bench", help="RTSP path to publish")
    ap.add_argument("--size", default="1920x1080", help="frame size, WIDTHxHEIGHT")
    ap.add_argument("--seconds", type=float, default=5, help="how long to measure")
    ap.add_argument("--warmup", type=float, default=1, help="how long to publish before measuring")
    ap.add_argument("--noise", action="store_true", help="send random pixels, the encoder's worst case")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    fps = measure(args.address, args.path, width, height, args.seconds, args.warmup, args.noise)
    mb = fps * width * height * 3 / 1e6
    print("%dx%d bgr24 over %s: %.1f frames/s (%.0f MB/s)" % (width, height, args.address, fps, mb))


if __name__ == "__main__":
    try:
        main()
    except (OSError, ServerError) as e:
        sys.exit("%s: %s" % (sys.argv[0], e))
