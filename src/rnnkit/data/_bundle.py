"""Access to the bundled data files, verified against their SHA-256 before use (private)."""

from __future__ import annotations

import hashlib
import importlib.resources
from pathlib import Path

from ._registry import BUNDLED

__all__ = ["bundled_files", "read_bundled"]


def bundled_files() -> dict[str, tuple[str, int]]:
    """``{file name: (sha256, size in bytes)}`` of every bundled data file.

    >>> sorted(bundled_files())[0]
    'activity.npz'
    """
    return dict(BUNDLED)


def read_bundled(name: str, root: Path | None = None) -> bytes:
    """Bytes of bundled file ``name`` after checking its SHA-256 (``root``: for tests).

    Raises ``FileNotFoundError`` if the file is missing (incomplete installation) and
    ``ValueError`` if its checksum differs from the one recorded at conversion time.

    >>> read_bundled("digits.csv.gz")[:2] == b"\\x1f\\x8b"     # gzip magic
    True
    """
    if name not in BUNDLED:
        raise ValueError(f"expected one of the bundled files {sorted(BUNDLED)}, got {name!r}")
    expected, size = BUNDLED[name]
    if root is None:
        resource = importlib.resources.files(__package__ or "rnnkit.data") / "_bundled" / name
        where = str(resource)
        if not resource.is_file():
            raise FileNotFoundError(
                f"bundled data file {where} is missing: the installation is incomplete "
                "(package data 'data/_bundled/*'); reinstall rnnkit"
            )
        data = resource.read_bytes()
    else:
        path = Path(root) / name
        where = str(path)
        if not path.is_file():
            raise FileNotFoundError(f"bundled data file {where} is missing; reinstall rnnkit")
        data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected or len(data) != size:
        raise ValueError(
            f"expected bundled data file {where} to have SHA-256 {expected} ({size} bytes), "
            f"got {digest} ({len(data)} bytes): the file is corrupted or was modified; "
            "reinstall rnnkit"
        )
    return data
