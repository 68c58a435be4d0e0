#!/usr/bin/env python3
"""Publish a camera read with OpenCV as rtsp://127.0.0.1:8554/cam.

    framecast serve --ingest tcp://127.0.0.1:8555 &
    PYTHONPATH=clients/python python3 examples/python/opencv_camera.py
    ffplay -rtsp_transport tcp rtsp://127.0.0.1:8554/cam
"""

import argparse
import sys
import time

from framecast import Publisher, ServerError

try:
    import cv2
except ImportError:
    sys.exit("this example needs OpenCV: apt-get install python3-opencv (or pip install opencv-python)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--camera", type=int, default=0, help="camera index for cv2.VideoCapture")
    ap.add_argument("--address", default="tcp://127.0.0.1:8555", help="framecast's ingest address")
    ap.add_argument("--path", default="/cam", help="RTSP path to publish")
    args = ap.parse_args()

    cap = cv2.VideoCapture(args.camera)
    if not cap.isOpened():
        sys.exit("cannot open camera %d: is one connected (ls /dev/video*) and free?" % args.camera)
    fps = cap.get(cv2.CAP_PROP_FPS) or 30
    with Publisher(args.path, args.address, fps=fps) as pub:
        print("watch rtsp://127.0.0.1:8554%s" % args.path, flush=True)
        while True:
            ok, frame = cap.read()  # (height, width, 3) uint8: bgr24
            if not ok:
                sys.exit("camera %d stopped sending frames" % args.camera)
            pub.write(frame, timestamp_ns=time.monotonic_ns())


if __name__ == "__main__":
    try:
        main()
    except (ConnectionError, ServerError) as e:
        sys.exit("%s: %s" % (sys.argv[0], e))
    except KeyboardInterrupt:
        pass
