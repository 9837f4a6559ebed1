"""The rnnkit file container: a zip holding ``config.json`` and ``model.safetensors``.

Nothing in it is ever unpickled: the config is JSON and the tensors are safetensors. Writes are
atomic (a temporary file in the same folder, fsync'd, then renamed over the target), so an
interrupted save never destroys the previous file. A leaf module: it imports nothing of ours.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
FORMAT = "rnnkit.model/1"
MAX_CONFIG_BYTES = 64 << 20  # a config larger than this is refused (zip-bomb guard)


class ArchiveError(ValueError):
    """A file that is not a readable rnnkit archive (missing, truncated, corrupt, foreign).

    ``path`` and ``reason`` are set when the archive code raises it."""

    def __init__(self, message: str, *, path: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.path = path
        self.reason = reason if reason is not None else message


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, fsync'd,
    renamed over ``path``, then the folder fsync'd. A crash leaves the old file or the new
    one, never a mix (a stale ``.NAME.*.tmp`` may remain and is harmless)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _error(p: Path, reason: str) -> ArchiveError:
    return ArchiveError(
        f"{str(p)!r} is not a readable rnnkit model file: {reason}", path=str(p), reason=reason
    )


def _read_member(z: zipfile.ZipFile, name: str, limit: int | None) -> bytes:
    info = z.getinfo(name)
    if limit is not None and info.file_size > limit:
        raise ValueError(f"{name} is {info.file_size} bytes, expected at most {limit}")
    return z.read(info)


def write_archive(
    path: str | os.PathLike[str],
    config: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    extra: dict[str, bytes] | None = None,
) -> None:
    """Save ``config`` (JSON) and ``tensors`` (safetensors) to one zip file, atomically."""
    import io

    buf = io.BytesIO()
    weights = st_save({k: v.detach().contiguous().cpu() for k, v in tensors.items()})
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(CONFIG, json.dumps({"format": FORMAT, **config}, indent=2))
        z.writestr(WEIGHTS, weights)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    atomic_write_bytes(path, buf.getvalue())


def read_archive(
    path: str | os.PathLike[str],
) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, bytes]]:
    """Read an archive written by :func:`write_archive`: (config, tensors, other members)."""
    p = Path(path)
    if not p.is_file():
        raise ArchiveError(
            f"expected an rnnkit model file at {str(p)!r}, got no such file",
            path=str(p),
            reason="missing file",
        )
    try:
        with zipfile.ZipFile(p) as z:
            listed = z.namelist()
            names = set(listed)
            if len(names) != len(listed):
                raise _error(p, "duplicate member names")
            if CONFIG not in names or WEIGHTS not in names:
                raise ArchiveError(
                    f"expected {CONFIG} and {WEIGHTS} in {str(p)!r}, got {sorted(names)}",
                    path=str(p),
                    reason=f"missing {CONFIG} or {WEIGHTS}",
                )
            config = json.loads(_read_member(z, CONFIG, MAX_CONFIG_BYTES).decode("utf-8"))
            tensors = st_load(_read_member(z, WEIGHTS, None))
            extra = {n: _read_member(z, n, None) for n in sorted(names - {CONFIG, WEIGHTS})}
    except ArchiveError:
        raise
    except Exception as e:  # zipfile.BadZipFile, JSON, safetensors or CRC errors
        raise _error(p, f"{type(e).__name__}: {e}") from e
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        got = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise ArchiveError(
            f"expected format {FORMAT!r} in {str(p)!r}, got {got!r}",
            path=str(p),
            reason=f"expected format {FORMAT!r}, got {got!r}",
        )
    return config, tensors, extra

