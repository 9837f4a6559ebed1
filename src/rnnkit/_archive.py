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


class ArchiveError(ValueError):
    """A file that is not a readable rnnkit archive (missing, truncated, corrupt, foreign)."""


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename)."""
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
        raise ArchiveError(f"expected an rnnkit model file at {str(p)!r}, got no such file")
    try:
        with zipfile.ZipFile(p) as z:
            names = set(z.namelist())
            if CONFIG not in names or WEIGHTS not in names:
                raise ArchiveError(
                    f"expected {CONFIG} and {WEIGHTS} in {str(p)!r}, got {sorted(names)}"
                )
            config = json.loads(z.read(CONFIG).decode("utf-8"))
            tensors = st_load(z.read(WEIGHTS))
            extra = {n: z.read(n) for n in names - {CONFIG, WEIGHTS}}
    except ArchiveError:
        raise
    except Exception as e:  # zipfile.BadZipFile, JSON, safetensors or CRC errors
        raise ArchiveError(f"{str(p)!r} is not a readable rnnkit model file: {e}") from e
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        got = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise ArchiveError(f"expected format {FORMAT!r} in {str(p)!r}, got {got!r}")
    return config, tensors, extra
