"""A stand-in for the framecast binary, for Server and VideoWriter tests.

It takes `serve` with framecast's flags, speaks the ingest protocol on the
--ingest Unix socket (the fake server of fakeserver.py), says where it
listens on stdout as framecast does, and exits at the end of its standard
input (as --exit-with-parent does). When it exits it writes to
$FAKE_FRAMECAST_REPORT, as JSON, its argv and the frames it received.
$FAKE_FRAMECAST_FAIL makes it print that to stderr and exit 3 at once.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakeserver import FakeServer  # noqa: E402


def main():
    if os.environ.get("FAKE_FRAMECAST_FAIL"):
        sys.stderr.write("framecast serve: %s\n" % os.environ["FAKE_FRAMECAST_FAIL"])
        return 3
    args = sys.argv[1:]
    flags = {}
    rest = args[1:]
    while rest:
        name = rest.pop(0)
        flags[name] = rest.pop(0) if rest and not rest[0].startswith("--") else True
    ingest = flags["--ingest"]
    assert ingest.startswith("unix://"), ingest
    srv = FakeServer("unix", unix_path=ingest[len("unix://"):], concurrent=True)
    print("framecast: RTSP server on %s" % flags["--rtsp"], flush=True)
    print("framecast: ingest on %s" % ingest, flush=True)
    sys.stdin.buffer.read()  # until the parent closes it, or dies
    srv.close()
    os.unlink(ingest[len("unix://"):])
    report = os.environ.get("FAKE_FRAMECAST_REPORT")
    if report:
        with open(report, "w") as f:
            json.dump({"argv": args, "paths": [m.payload.hex() for m in srv.messages if m.type == 1],
                       "frames": len(srv.frames)}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
