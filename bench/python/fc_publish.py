#!/usr/bin/env python3
"""A Python producer for framecast's benchmarks: the harness's ring through framecast.Publisher.

Sends the pre-drawn bgr24 frames of the ring file to a framecast server's
ingest, each stamped with its number and send time just before it is
written, at --fps frames per second (0: as fast as the server takes them).
Prints "PUBLISHING" once the server has accepted the stream, and
"STATS {json}" when SIGTERM or SIGINT ends it.
"""

import argparse
import json
import os
import signal
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "..", "clients", "python"))

import benchframes  # noqa: E402
from framecast import Publisher  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--address", required=True)
    ap.add_argument("--ring", required=True)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--fps", type=float, default=30)
    ap.add_argument("--bitrate", type=int, default=0)
    ap.add_argument("--gop", type=int, default=60)
    ap.add_argument("--path", default="/bench")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    ring = benchframes.load_ring(args.ring, width, height)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    options = {"gop": args.gop}
    if args.bitrate:
        options["bitrate"] = args.bitrate
    pacer = benchframes.Pacer(args.fps)
    n = 0
    with Publisher(args.path, args.address, width=width, height=height, pixel_format="bgr24",
                   fps=30, options=options) as pub:
        print("PUBLISHING", flush=True)
        while not stop:
            pacer.wait(n)
            frame = ring[n % len(ring)]
            benchframes.stamp(frame, n)
            pub.write(frame)
            n += 1
    print("STATS " + json.dumps({"sent": n}), flush=True)


if __name__ == "__main__":
    main()
