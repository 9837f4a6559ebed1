"""Builders of hostile files for the loader tests, and a peak-memory probe in a subprocess."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

from ._common import SRC

#: A refused file may cost at most this much memory above the cost of importing rnnkit.
MAX_EXTRA_RSS = 300 << 20


def forge_zip_size(path: Path, member: str, size: int) -> None:
    """Make the central directory (and the local header) declare ``size`` uncompressed bytes
    for ``member`` without writing them: what a 1 GiB member costs an attacker is 4 bytes."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    with zipfile.ZipFile(path) as z:
        local = z.getinfo(member).header_offset
    struct.pack_into("<L", data, local + 22, size)  # local header: uncompressed size
    at = 0
    while True:
        at = data.find(b"PK\x01\x02", at)
        if at < 0:
            raise ValueError(f"no central directory entry for {member}")
        n = struct.unpack_from("<H", data, at + 28)[0]
        if bytes(data[at + 46 : at + 46 + n]) == name:
            struct.pack_into("<L", data, at + 24, size)  # central directory: uncompressed size
            break
        at += 4
    path.write_bytes(bytes(data))


def rewrite_zip(src: Path, dst: Path, replace: dict[str, bytes | None],
                compression: int = zipfile.ZIP_DEFLATED) -> None:
    """Copy a zip, replacing (bytes), dropping (None) or adding members."""
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, "w", compression=compression) as b:
        for info in a.infolist():
            if info.filename in replace:
                continue
            b.writestr(info.filename, a.read(info))
        for name, data in replace.items():
            if data is not None:
                b.writestr(name, data)


def nested_json(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


def peak_rss_of(code: str, timeout: float = 120.0) -> tuple[int, str]:
    """Run ``code`` after ``import rnnkit`` in a fresh interpreter; return (peak RSS above the
    import cost in bytes, the last line it printed). The code prints its outcome."""
    prog = (
        "import resource, rnnkit\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        f"{code}\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print('RSS', (peak - base) * 1024)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [sys.executable, "-c", prog], capture_output=True, text=True, timeout=timeout, env=env,
        check=False,
    )
    lines = out.stdout.strip().splitlines()
    if out.returncode or not lines or not lines[-1].startswith("RSS"):
        raise AssertionError(f"probe failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    outcome = lines[-2] if len(lines) > 1 else ""
    return int(lines[-1].split()[1]), outcome


def expect_refusal(call: str, error: str) -> str:
    """Code for :func:`peak_rss_of` that runs ``call`` and prints the error class it raised."""
    return (
        "try:\n"
        f"    {call}\n"
        "    print('LOADED')\n"
        f"except {error} as e:\n"
        "    print('REFUSED', type(e).__name__, str(e)[:300].replace(chr(10), ' '))\n"
    )


def json_bytes(value: object) -> bytes:
    return json.dumps(value).encode()
