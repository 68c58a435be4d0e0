"""`python -m framecast ARGS…` and the `framecast` console script: run the
framecast server (the binary bundled in the wheel, else one on PATH) with ARGS,
e.g. `python -m framecast serve --testsrc /test` or `framecast --version`."""

from __future__ import annotations

import os
import sys

from ._binary import server_binary


def main(argv: list[str] | None = None) -> int:
    """Replace this process with the server binary, passing argv (default
    sys.argv[1:]); returns 127 only when there is no binary to run."""
    args = sys.argv[1:] if argv is None else argv
    binary = server_binary()
    if binary is None:
        sys.stderr.write(
            "framecast: no server binary: this framecast package was installed "
            "without one (build the wheel with `make wheel`) and there is no "
            "framecast on PATH\n"
        )
        return 127
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(binary, [binary, *args])
    return 0  # not reached: execv does not return


if __name__ == "__main__":
    sys.exit(main())
