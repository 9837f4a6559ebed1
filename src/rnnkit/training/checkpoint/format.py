"""The checkpoint format: file names and format tag, the checkpoint errors, and the strict JSON
encoding of ``state.json`` (tensors, tuples, int-keyed dicts, non-finite floats and numpy arrays
as tagged objects; see :mod:`rnnkit.training.checkpoint` for the whole format).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from ... import _bounded
from ...errors import RnnkitError

__all__ = [
    "FILES",
    "FORMAT",
    "MANIFEST",
    "OPTIMIZER",
    "STATE",
    "STATE_TENSORS",
    "WEIGHTS",
    "CheckpointCorruptError",
    "CheckpointError",
    "CheckpointMismatchError",
    "NonFiniteWeightsError",
    "decode",
    "encode",
    "json_bytes",
    "parse_json",
]

FORMAT = "rnnkit.checkpoint/1"
WEIGHTS = "weights.safetensors"
OPTIMIZER = "optimizer.safetensors"
STATE_TENSORS = "state.safetensors"
STATE = "state.json"
MANIFEST = "manifest.json"
FILES = (WEIGHTS, OPTIMIZER, STATE_TENSORS, STATE)
DIR_RE = re.compile(r"^epoch-(\d{4,})$")
MAX_MANIFEST_BYTES = 1 << 20


# --------------------------------------------------------------------------- errors
class CheckpointError(RnnkitError, ValueError):
    """A checkpoint that cannot be used. ``path``: the file (or folder); ``reason``: why."""

    _what = "checkpoint"

    def __init__(self, path: str | os.PathLike[str], reason: str, hint: str = "") -> None:
        super().__init__(reason, path=path, hint=hint)


class CheckpointCorruptError(CheckpointError):
    """A checkpoint file that is missing, truncated, altered or not what rnnkit writes."""

    _what = "corrupt checkpoint file"


class CheckpointMismatchError(CheckpointError):
    """A valid checkpoint of something else (another architecture, optimizer or callbacks)."""

    _what = "checkpoint does not match"


class NonFiniteWeightsError(FloatingPointError):
    """Raised instead of writing a checkpoint whose weights or optimizer state hold NaN/Inf
    (the previous checkpoint is kept). Attributes: ``epoch`` (0-based), ``name``."""

    def __init__(self, epoch: int, name: str) -> None:
        self.epoch = epoch
        self.name = name
        super().__init__(
            f"non-finite values in {name} after epoch {epoch + 1}; the checkpoint was not "
            "written (the previous one is kept). Expected finite weights: try a lower learning "
            "rate, clipnorm / global_clipnorm, or check the data for NaN/Inf"
        )


# --------------------------------------------------------------------------- JSON encoding
def encode(obj: Any, tensors: dict[str, Tensor], key: str) -> Any:
    """JSON-compatible form of ``obj``; tensors go to ``tensors`` under ``key``-derived names."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"__float__": repr(obj)}
    if isinstance(obj, Tensor):
        if key in tensors:
            raise ValueError(f"duplicate tensor name {key!r} in a checkpoint")
        tensors[key] = obj.detach().to("cpu").contiguous().clone()
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise TypeError(f"cannot checkpoint a numpy array of dtype {obj.dtype} at {key!r}")
        return {
            "__ndarray__": {
                "dtype": obj.dtype.str,
                "shape": list(obj.shape),
                "data": [encode(v, tensors, key) for v in obj.ravel().tolist()],
            }
        }
    if isinstance(obj, np.generic):
        return encode(obj.item(), tensors, key)
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(v, tensors, f"{key}/{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode(v, tensors, f"{key}/{i}") for i, v in enumerate(obj)]
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: encode(v, tensors, f"{key}/{k}") for k, v in obj.items()}
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"cannot checkpoint a dict key of type {type(k).__name__}")
            items.append([k, encode(v, tensors, f"{key}/{k}")])
        return {"__dict__": items}
    raise TypeError(f"cannot checkpoint a value of type {type(obj).__name__} at {key!r}")


def decode(obj: Any, tensors: Mapping[str, Tensor], where: str) -> Any:
    """Inverse of :func:`encode`; any unexpected form raises ``ValueError``."""
    if obj is None or isinstance(obj, (bool, str, int, float)):
        return obj
    if isinstance(obj, list):
        return [decode(v, tensors, where) for v in obj]
    if not isinstance(obj, dict):  # pragma: no cover - json gives no other types
        raise ValueError(f"expected a JSON value in {where}, got {type(obj).__name__}")
    if not any(k.startswith("__") for k in obj):
        return {k: decode(v, tensors, where) for k, v in obj.items()}
    if len(obj) != 1:
        raise ValueError(f"expected a tagged value in {where}, got keys {sorted(obj)[:8]}")
    ((tag, value),) = obj.items()
    if tag == "__tensor__":
        if not isinstance(value, str) or value not in tensors:
            raise ValueError(f"expected tensor {str(value)[:80]!r} in {where}, got none")
        return tensors[value]
    if tag == "__float__":
        if value not in ("nan", "inf", "-inf"):
            raise ValueError(f"expected 'nan', 'inf' or '-inf' in {where}, got {value!r}")
        return float(value)
    if tag == "__tuple__" and isinstance(value, list):
        return tuple(decode(v, tensors, where) for v in value)
    if tag == "__dict__" and isinstance(value, list):
        out: dict[Any, Any] = {}
        for item in value:
            if (
                not isinstance(item, list)
                or len(item) != 2
                or not isinstance(item[0], (str, int))
                or isinstance(item[0], bool)
            ):
                raise ValueError(f"expected [key, value] pairs in {where}")
            out[item[0]] = decode(item[1], tensors, where)
        return out
    if tag == "__ndarray__" and isinstance(value, dict):
        try:
            dtype = np.dtype(value["dtype"])
            shape = tuple(int(d) for d in value["shape"])
            data = value["data"]
            if dtype.kind not in "biuf" or not isinstance(data, list):
                raise ValueError(f"unexpected dtype {dtype} or data")
            if not all(isinstance(v, (int, float)) for v in data):
                raise ValueError("expected numbers")
            return np.array(data, dtype=dtype).reshape(shape)
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise ValueError(f"expected a numeric array in {where}: {e}") from None
    raise ValueError(f"expected a known tag in {where}, got {tag!r}")


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, allow_nan=False, indent=1).encode("utf-8")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def parse_json(data: bytes, path: Path) -> Any:
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CheckpointCorruptError(path, f"not valid JSON ({e})") from None
    depth = _bounded.json_depth(value)
    if depth > _bounded.MAX_JSON_DEPTH:
        raise CheckpointCorruptError(
            path, f"expected JSON nested at most {_bounded.MAX_JSON_DEPTH} deep, got {depth}")
    return value
