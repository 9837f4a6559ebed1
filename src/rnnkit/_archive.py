"""The rnnkit file container: a zip holding ``config.json`` and ``model.safetensors``.

Nothing in it is ever unpickled: the config is JSON and the tensors are safetensors. Writes are
atomic (a temporary file in the same folder, fsync'd, then renamed over the target), so an
interrupted save never destroys the previous file. A leaf module: it imports only
:mod:`rnnkit.errors` and :mod:`rnnkit._bounded`.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any, cast

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from . import _bounded
from .errors import ModelFileError

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
FORMAT = "rnnkit.model/1"
MAX_HEADER = 16 << 20  # a safetensors header larger than this is refused
_ST_DTYPES = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8, "I8": 1, "U8": 1, "I16": 2, "I32": 4,
              "I64": 8, "BOOL": 1}
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


def _st_entries(header: Any, fail: _bounded.Fail, name: str) -> int:
    """Check a safetensors header: known dtypes, sizes = shape x itemsize, contiguous data.
    Returns the data length it declares."""
    if not isinstance(header, dict):
        raise fail(f"expected a JSON object as the {name} header, got {type(header).__name__}")
    spans = []
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        fields: dict[str, Any] = entry if isinstance(entry, dict) else {}
        dtype, shape, offsets = (fields.get(k) for k in ("dtype", "shape", "data_offsets"))
        ok = (isinstance(dtype, str) and dtype in _ST_DTYPES and isinstance(shape, list)
              and isinstance(offsets, list) and len(offsets) == 2
              and all(type(v) is int and v >= 0 for v in [*shape, *offsets]))
        if not ok:
            raise fail(f"expected dtype, shape and data_offsets for tensor {key!r} in {name}, "
                       f"got {entry!r:.200}")
        shape, offsets = cast(list[int], shape), cast(list[int], offsets)
        nbytes = math.prod(shape) * _ST_DTYPES[cast(str, dtype)]
        if offsets[1] - offsets[0] != nbytes:
            raise fail(f"expected {nbytes} bytes for tensor {key!r} {shape} {dtype} in {name}, "
                       f"got offsets {offsets}")
        spans.append((offsets[0], offsets[1]))
    end = 0
    for begin, stop in sorted(spans):
        if begin != end:
            raise fail(f"expected contiguous tensor data in {name}, got a gap or overlap at "
                       f"byte {begin}")
        end = stop
    return end


def _read_safetensors(
    z: zipfile.ZipFile, name: str, fail: _bounded.Fail
) -> dict[str, torch.Tensor]:
    """A safetensors member, its header checked against the member's declared size first."""
    info = z.getinfo(name)
    with z.open(info) as stream:
        if info.file_size < 8:
            raise fail(f"expected a safetensors file in {name}, got {info.file_size} bytes")
        head = _bounded.read_exact(stream, 8, fail, name)
        (n,) = struct.unpack("<Q", head)
        if n > min(MAX_HEADER, info.file_size - 8):
            raise fail(f"expected a safetensors header of at most "
                       f"{min(MAX_HEADER, info.file_size - 8)} bytes in {name}, got {n}")
        header_bytes = _bounded.read_exact(stream, n, fail, name)
        header = _bounded.parse_json(bytes(header_bytes), fail, f"a safetensors header in {name}")
        total = 8 + n + _st_entries(header, fail, name)
        if total != info.file_size:
            raise fail(f"expected {name} of {total} bytes (from its header), got "
                       f"{info.file_size} declared")
        rest = _bounded.read_exact(stream, info.file_size - 8 - n, fail, name)
    data = b"".join((head, header_bytes, rest))
    del rest, header_bytes
    try:
        return st_load(data)
    except Exception as e:  # noqa: BLE001 - safetensors raises its own and Rust panics
        raise fail(f"expected a readable safetensors file in {name}, got "
                   f"{type(e).__name__}: {e}") from None


def check_finite(tensors: dict[str, torch.Tensor], fail: _bounded.Fail) -> None:
    """Refuse NaN/Inf in any floating-point tensor (the loaders' ``allow_nonfinite=False``)."""
    for key, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise fail(f"expected finite weights, got NaN/Inf in {key!r} (pass "
                       "allow_nonfinite=True to load it anyway)")


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
            tensors = _read_safetensors(z, WEIGHTS, fail)
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error, NotImplementedError,
                RuntimeError, ValueError) as e:  # damaged deflate data, bad CRC, ...
            if isinstance(e, ModelFileError):
                raise
            raise fail(f"expected intact zip members, got {type(e).__name__}: {e}") from e
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        got = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise fail(f"expected format {FORMAT!r}, got {got!r:.100}")
    return config, tensors
