"""Wheel tagging for framecast; the metadata is in pyproject.toml.

`make wheel` puts a server binary at framecast/bin/framecast (linked
statically against libx264 and libyuv; only glibc stays dynamic). A wheel
holding it is tagged py3-none-PLATFORM, where PLATFORM is what the binary
itself needs: manylinux_2_N_x86_64 when it is an x86-64 ELF whose only
shared libraries are glibc's and whose newest symbol version is GLIBC_2.N
(what auditwheel checks), else linux_x86_64, which claims only this kind of
machine. Without the binary the wheel is the pure-Python client (py3-none-any).
"""

import os
import re
import subprocess
import sysconfig

from setuptools import setup

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1 (Debian 12): the wheel package's
    from wheel.bdist_wheel import bdist_wheel

BINARY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "framecast", "bin", "framecast")

# Shared libraries every manylinux (PEP 600) x86-64 system has: glibc's.
GLIBC_LIBS = {
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "ld-linux-x86-64.so.2",
}


def platform_tag(binary):
    fallback = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    try:
        dump = subprocess.run(
            ["objdump", "-p", binary], check=True, capture_output=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return fallback
    if "file format elf64-x86-64" not in dump:
        return fallback
    needed = set(re.findall(r"^\s+NEEDED\s+(\S+)", dump, re.M))
    versions = re.findall(r"^\s+0x[0-9a-f]+ 0x[0-9a-f]+ \d+ (\S+)$", dump, re.M)
    glibc = [v for v in versions if v.startswith("GLIBC_")]
    if not needed <= GLIBC_LIBS or len(glibc) != len(versions):
        return fallback
    newest = max((tuple(int(x) for x in v[len("GLIBC_"):].split(".")) for v in glibc), default=(2, 17))
    return "manylinux_%d_%d_x86_64" % (newest[0], max(newest[1], 17))


class bdist_wheel_with_server(bdist_wheel):
    def get_tag(self):
        if not os.path.exists(BINARY):
            return super().get_tag()
        return "py3", "none", platform_tag(BINARY)


setup(cmdclass={"bdist_wheel": bdist_wheel_with_server})
