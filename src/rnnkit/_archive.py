"""The rnnkit file container: a zip holding ``config.json`` and ``model.safetensors``.

Nothing in it is ever unpickled: the config is JSON and the tensors are safetensors. Writes are
atomic (a temporary file in the same folder, fsync'd, then renamed over the target), so an
interrupted save never destroys the previous file. A leaf module: it imports only
:mod:`rnnkit.errors` and :mod:`rnnkit._bounded`.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as st_save

from . import _bounded
from .errors import ModelFileError

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
FORMAT = "rnnkit.model/1"
MAX_CONFIG_BYTES = 4 << 20  # a larger config is refused (a JSON config of 1000 layers is ~1 MB)


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


def _failer(p: Path) -> _bounded.Fail:
    def fail(reason: str) -> ModelFileError:
        return ModelFileError(reason, path=p)

    return fail


def write_archive(
    path: str | os.PathLike[str], config: dict[str, Any], tensors: dict[str, torch.Tensor]
) -> None:
    """Save ``config`` (JSON) and ``tensors`` (safetensors) to one zip file, atomically."""
    buf = io.BytesIO()
    weights = st_save({k: v.detach().contiguous().cpu() for k, v in tensors.items()})
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(CONFIG, json.dumps({"format": FORMAT, **config}, indent=2))
        z.writestr(WEIGHTS, weights)
    atomic_write_bytes(path, buf.getvalue())


def read_archive(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read an archive written by :func:`write_archive`: (config, tensors).

    Only a regular file holding exactly the two members is read; the config's size is checked
    before it is read, the weights' safetensors header before the tensors (see
    :mod:`rnnkit._bounded`). Every problem is an :class:`ModelFileError`."""
    p = Path(path)
    fail = _failer(p)
    try:
        f = _bounded.open_regular(p, fail)
    except FileNotFoundError:
        raise ModelFileError("expected an rnnkit model file, got no such file", path=p) from None
    with f, _bounded.open_zip(f, fail, max_members=8) as z:
        names = sorted(z.namelist())
        if names != sorted((CONFIG, WEIGHTS)):
            raise fail(f"expected exactly the members {[CONFIG, WEIGHTS]}, got {names[:20]}")
        try:
            config = _bounded.parse_json(
                _bounded.read_member(z, CONFIG, MAX_CONFIG_BYTES, fail), fail, CONFIG
            )
            tensors = _bounded.read_safetensors(z, WEIGHTS, fail)
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error, NotImplementedError,
                RuntimeError, ValueError) as e:  # damaged deflate data, bad CRC, ...
            if isinstance(e, ModelFileError):
                raise
            raise fail(f"expected intact zip members, got {type(e).__name__}: {e}") from e
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        got = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise fail(f"expected format {FORMAT!r}, got {got!r:.100}")
    return config, tensors
