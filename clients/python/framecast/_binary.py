"""Where the framecast server binary is: the one bundled in the wheel (built by
`make wheel` into framecast/bin/framecast), else a `framecast` on PATH."""

from __future__ import annotations

import os
import shutil

BUNDLED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "framecast")


def bundled_binary() -> str | None:
    """The server binary bundled in this package, or None (a source install)."""
    if os.path.isfile(BUNDLED) and os.access(BUNDLED, os.X_OK):
        return BUNDLED
    return None


def server_binary() -> str | None:
    """The framecast server to run: the bundled binary if present and
    executable, else the first `framecast` on PATH that is not this package's
    own console script (which would only exec back here), else None."""
    found = bundled_binary()
    if found:
        return found
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = shutil.which("framecast", path=directory or os.curdir)
        if candidate and not _is_console_script(candidate):
            return candidate
    return None


def _is_console_script(path: str) -> bool:
    # pip writes the `framecast` console script as a Python script that
    # imports framecast.__main__; a server binary is not one.
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError:
        return False
    return head.startswith(b"#!") and b"framecast.__main__" in head
