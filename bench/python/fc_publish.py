#!/usr/bin/env python3
"""A Python producer for framecast's benchmarks: the harness's ring through framecast.Publisher.

Sends the pre-drawn bgr24 frames of the ring file to a framecast server's
ingest, each stamped with its number and send time just before it is
written, at --fps frames per second (0: as fast as the server takes them).
Prints "PUBLISHING" once the server has accepted the stream, and
"STATS {json}" when SIGTERM or SIGINT ends it: frames sent, the seconds
from the first to the end, and whether shared memory was in use.

--shm picks how frames reach the server (docs/ingest-protocol.md):

  off         write() over the socket: every frame crosses it (the default)
  write       write() into the shared-memory ring: one copy, ring frame → slot
  frame       frame()/commit(): the frame is only stamped into the slot's view,
              as a program that draws straight into it (e.g. OpenCV with dst=)
              does; no copy, so the slot holds whatever was drawn there before
  frame-copy  frame()/commit() with the ring frame copied into the view first
              (view[...] = ring[i]): a stand-in for drawing the whole picture

The shared-memory modes require it (shared_memory="require"): a server or an
address that cannot give it is an error, not a silent fall-back.
"""

import argparse
import json
import os
import signal
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "..", "clients", "python"))

import benchframes  # noqa: E402
from framecast import Publisher  # noqa: E402

SHM_MODES = ("off", "write", "frame", "frame-copy")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--address", required=True)
    ap.add_argument("--ring", required=True)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--fps", type=float, default=30)
    ap.add_argument("--bitrate", type=int, default=0)
    ap.add_argument("--gop", type=int, default=60)
    ap.add_argument("--path", default="/bench")
    ap.add_argument("--shm", choices=SHM_MODES, default="off", help="how frames reach the server (above)")
    ap.add_argument("--slots", type=int, default=4, help="slots of the shared-memory ring")
    ap.add_argument("--ring-mmap", action="store_true",
                    help="map the ring file (copy-on-write) instead of reading it: starts at once for large rings")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    ring = benchframes.load_ring(args.ring, width, height, mmap=args.ring_mmap)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    options = {"gop": args.gop}
    if args.bitrate:
        options["bitrate"] = args.bitrate
    pacer = benchframes.Pacer(args.fps)
    n = 0
    shm = "require" if args.shm != "off" else False
    with Publisher(args.path, args.address, width=width, height=height, pixel_format="bgr24",
                   fps=30, options=options, shared_memory=shm, slots=args.slots) as pub:
        print("PUBLISHING", flush=True)
        t0 = time.monotonic()
        while not stop:
            pacer.wait(n)
            if args.shm in ("off", "write"):
                frame = ring[n % len(ring)]
                benchframes.stamp(frame, n)
                pub.write(frame)
            else:
                view = pub.frame()
                if args.shm == "frame-copy":
                    view[...] = ring[n % len(ring)]
                benchframes.stamp(view, n)
                pub.commit()
            n += 1
        seconds = time.monotonic() - t0
        used = pub.shared_memory
    print("STATS " + json.dumps({"sent": n, "seconds": round(seconds, 3), "shm": used}), flush=True)


if __name__ == "__main__":
    main()
