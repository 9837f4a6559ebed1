"""Reading untrusted files with limits derived from what can be verified before reading.

* :func:`open_regular` opens only regular files (a FIFO, device or folder is refused at once,
  never read, so it cannot hang the reader).
* :func:`parse_json` refuses oversized, non-UTF-8 and too deeply nested JSON.
* :func:`open_zip` checks the end-of-central-directory record (member count) before zipfile
  parses anything, then every member's declared size against the archive's size
  (:data:`MAX_EXPANSION`); :func:`read_member` checks a member's declared size against its
  limit before reading and never reads more than it declared.

Every failure is raised through the caller's ``fail(reason)``, so each loader raises its own
documented error class. A leaf module: it imports only :mod:`rnnkit.errors`.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable
from typing import IO, Any

from .errors import RnnkitError

Fail = Callable[[str], Exception]
#: What zipfile and its decompressors raise on a damaged member (bad CRC, header, stream).
ZIP_READ_ERRORS = (zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError, OSError,
                   NotImplementedError, RuntimeError, ValueError, struct.error)

MAX_JSON_DEPTH = 64
#: A compressed member may declare at most this many times the archive's size, plus SLACK.
MAX_EXPANSION = 32
SLACK = 64 << 20
_EOCD = struct.Struct("<4s4H2LH")
_MAX_ENTRY_BYTES = 1024  # a directory entry with a name of ~1000 bytes (ours are far shorter)


def open_regular(path: str | os.PathLike[str], fail: Fail) -> IO[bytes]:
    """Open ``path`` for reading if it is a regular file (symlinks to one are followed).

    A missing path raises ``FileNotFoundError``; a FIFO, socket, device or folder is refused
    through ``fail`` without blocking (opened non-blocking, checked with ``fstat``)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise fail("expected a regular file, got a folder") from None
    except OSError as e:
        raise fail(f"expected a readable regular file, got {e.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a folder" if stat.S_ISDIR(mode) else \
            "a socket or device"
        raise fail(f"expected a regular file, got {kind}")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def file_size(f: IO[bytes]) -> int:
    return os.fstat(f.fileno()).st_size


def read_file(path: str | os.PathLike[str], limit: int, fail: Fail) -> bytes:
    """The whole regular file ``path``, refused when it holds more than ``limit`` bytes."""
    with open_regular(path, fail) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise fail(f"expected at most {limit} bytes, got more")
    return data


def sha256_argument(value: object) -> str:
    """A loader's ``sha256=`` argument checked (64 hex digits) and lower-cased."""
    if not isinstance(value, str) or len(value) != 64 or value.strip("0123456789abcdefABCDEF"):
        raise ValueError(f"expected sha256 as 64 hex digits, got {value!r:.80}")
    return value.lower()


def check_sha256(path: str | os.PathLike[str], expected: str, fail: Fail) -> None:
    """Compare the SHA-256 of the file at ``path`` with ``expected`` (hex, any case)."""
    expected = sha256_argument(expected)
    digest = hashlib.sha256()
    with open_regular(path, fail) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected.lower():
        raise fail(f"expected SHA-256 {expected.lower()}, got {digest.hexdigest()}")


def json_depth(value: Any) -> int:
    """The nesting depth of parsed JSON (iterative: no recursion on hostile input)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack += [(v, depth + 1) for v in item.values()]
        elif isinstance(item, list):
            stack += [(v, depth + 1) for v in item]
    return deepest


def parse_json(data: bytes | str, fail: Fail, what: str = "JSON") -> Any:
    """``json.loads`` for untrusted bytes: UTF-8, at most :data:`MAX_JSON_DEPTH` deep."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text)
    except (UnicodeError, ValueError, RecursionError) as e:
        raise fail(f"expected {what}, got unparsable bytes ({type(e).__name__}: {e})") from None
    depth = json_depth(value)
    if depth > MAX_JSON_DEPTH:
        raise fail(f"expected {what} nested at most {MAX_JSON_DEPTH} deep, got {depth}")
    return value


def _member_count(f: IO[bytes], size: int, fail: Fail) -> int:
    """The member count of the end-of-central-directory record, read before zipfile runs."""
    tail = min(size, _EOCD.size + 65535)
    f.seek(size - tail)
    data = f.read(tail)
    at = data.rfind(b"PK\x05\x06")
    if at < 0 or at + _EOCD.size > len(data):
        raise fail("expected a zip archive, got no end-of-central-directory record")
    fields = _EOCD.unpack_from(data, at)
    f.seek(0)
    count, directory_size = int(fields[4]), int(fields[5])
    # an entry takes at least 46 bytes: a directory this large holds more entries than declared
    return max(count, directory_size // _MAX_ENTRY_BYTES)


def open_zip(f: IO[bytes], fail: Fail, max_members: int) -> zipfile.ZipFile:
    """A checked ``ZipFile`` over ``f``: at most ``max_members`` members, unique names,
    no encrypted member, and declared sizes within :data:`MAX_EXPANSION` of the file's."""
    size = file_size(f)
    count = _member_count(f, size, fail)
    if count > max_members:
        raise fail(f"expected at most {max_members} zip members, got {count}")
    try:
        z = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
            struct.error, UnicodeError, IndexError, KeyError) as e:
        raise fail(f"expected a zip archive, got a damaged one ({type(e).__name__}: {e})") from None
    infos = z.infolist()
    names = [i.filename for i in infos]
    if len(infos) > max_members or len(set(names)) != len(names):
        z.close()
        raise fail(f"expected at most {max_members} uniquely named members, got {names[:20]}")
    declared = sum(i.file_size for i in infos)
    if declared > SLACK + MAX_EXPANSION * size:
        z.close()
        raise fail(f"expected members that expand to at most {MAX_EXPANSION}x the archive's "
                  f"{size} bytes, got {declared} bytes declared (a zip bomb?)")
    if any(i.flag_bits & 0x1 for i in infos):
        z.close()
        raise fail("expected no encrypted zip members, got one")
    return z


def read_exact(stream: IO[bytes], n: int, fail: Fail, name: str) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = stream.readinto(view[got:])  # type: ignore[attr-defined]
        if not k:
            raise fail(f"expected {n} bytes in {name}, got {got} (truncated)")
        got += k
    return buf


def read_member(z: zipfile.ZipFile, name: str, limit: int, fail: Fail) -> bytes:
    """A member's bytes, its declared size checked against ``limit`` before reading."""
    info = z.getinfo(name)
    if info.file_size > limit:
        raise fail(f"expected {name} of at most {limit} bytes, got {info.file_size} declared")
    try:
        with z.open(info) as stream:
            return bytes(read_exact(stream, info.file_size, fail, name))
    except ZIP_READ_ERRORS as e:
        if isinstance(e, RnnkitError):
            raise
        raise fail(f"expected an intact member {name}, got {type(e).__name__}: {e}") from None
