"""One writer per run folder: ``OUT/.rnnkit.lock`` names the process that holds it.

The lock is an exclusive ``flock`` on the lock file, held while the run writes the folder. The
kernel drops it when the holder dies (even by SIGKILL), so a lock left by a dead process is
taken over by the next run without any guessing from pids; the file's content (pid, host,
start time, command) only serves the message another writer gets. After locking, the holder
checks that the path still names the file it locked (a holder that was just finishing may
have removed it), and retries otherwise. Assumes a local file system (``flock`` over some
network file systems is not exclusive across machines).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import socket
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import RunFolderError, RunLockedError

LOCK_FILE = ".rnnkit.lock"
#: Set by a process that holds the lock for the processes it starts (the workers of --nproc).
HELD_ENV = "RNNKIT_RUN_LOCK_HELD"


def _holder(fd: int) -> dict[str, Any]:
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        info = json.loads(os.read(fd, 4096).decode("utf-8"))
    except (ValueError, UnicodeError):
        return {}
    return info if isinstance(info, dict) else {}


def _describe(info: dict[str, Any]) -> str:
    if not info:
        return "another process (starting up)"
    return (f"pid {info.get('pid')} on host {info.get('host')} since {info.get('started')} "
            f"({info.get('command', '')[:80]})")


def _open_lock(path: Path) -> int:
    """The lock file, never through a symlink (it is truncated) nor a FIFO (no blocking)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | \
        getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as err:
        raise RunFolderError(f"expected {LOCK_FILE} to be a regular file, got {err.strerror}; "
                             "remove it", path=path.parent) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RunFolderError(f"expected {LOCK_FILE} to be a regular file, got another kind; "
                             "remove it", path=path.parent)
    return fd


def check_entries(root: Path) -> None:
    """Refuse a run folder holding a symlink, FIFO, socket or device at its top level: rnnkit
    writes files there by name and would write through a symlink to somewhere else."""
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_symlink():
                what = f"a symlink {entry.name} -> {os.readlink(entry.path)}"
            elif entry.is_dir(follow_symlinks=False) or entry.is_file(follow_symlinks=False):
                continue
            else:
                what = f"{entry.name}, which is not a regular file or folder"
            raise RunFolderError(f"expected only regular files and folders, got {what}; "
                                 "remove it or use another --out", path=root)


def _acquire(path: Path) -> int:
    while True:
        fd = _open_lock(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = _holder(fd)
            os.close(fd)
            raise RunLockedError(
                f"expected no other run writing this folder, got {_describe(info)}; wait for "
                f"it to finish or use another --out (lock file {LOCK_FILE})",
                path=path.parent,
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # locked a file its last holder removed meanwhile: try again


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the run folder's lock (creating the folder) for the ``with`` block.

    Raises :class:`rnnkit.errors.RunLockedError` at once when a live process holds it, and
    :class:`rnnkit.errors.RunFolderError` for a folder holding a symlink or special file
    (:func:`check_entries`; the lock file itself is never opened through one). When
    ``$RNNKIT_RUN_LOCK_HELD`` names this folder, the parent process holds it already."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    if os.environ.get(HELD_ENV) == os.fspath(root.resolve()):
        yield root
        return
    path = root / LOCK_FILE
    fd = _acquire(path)
    try:
        check_entries(root)
    except RunFolderError:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.close(fd)
        raise
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv)}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
    os.fsync(fd)
    old = os.environ.get(HELD_ENV)
    os.environ[HELD_ENV] = os.fspath(root.resolve())
    try:
        yield root
    finally:
        if old is None:
            os.environ.pop(HELD_ENV, None)
        else:
            os.environ[HELD_ENV] = old
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.close(fd)
