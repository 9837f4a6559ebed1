"""Atomic, verifiable training checkpoints for exact resume (``fit(..., checkpoint_dir=...)``).

A checkpoint is a directory ``checkpoint_dir/epoch-NNNN`` (``NNNN`` = epochs completed)::

    weights.safetensors    module.state_dict()
    optimizer.safetensors  the tensors of optimizer.state_dict() (moments, step counts)
    state.safetensors      other tensors: RNG states (uint8), callback tensors
    state.json             everything else: epoch, History, optimizer hyper-parameters and
                           learning rate per param group, RNG states of numpy / python, the
                           callbacks' state_dict()s, fit's parameters
    manifest.json          written last: size and SHA-256 of each file above

Writing is atomic: the files go to ``checkpoint_dir/.tmp-<random>``, each is fsync'd, the manifest
is written and fsync'd last, the folder is fsync'd and renamed to ``epoch-NNNN``, then
``checkpoint_dir`` is fsync'd. A crash at any moment leaves either the previous checkpoints
or the new one complete; stale ``.tmp-*`` / ``.trash-*`` folders are ignored and removed by the
next write. Only the newest ``keep_last`` checkpoints are kept (older ones are renamed to
``.trash-*`` first, then deleted).

Reading verifies the manifest (every size and hash) before parsing anything, parses only
safetensors and JSON (nothing is unpickled), and checks every value's type. A damaged file
raises :class:`CheckpointCorruptError`; a checkpoint that does not fit the module / optimizer /
callbacks raises :class:`CheckpointMismatchError`. Both name the file and the reason, and
both are raised before anything in memory changes.

The JSON encoding is strict JSON: a dict with string keys is a JSON object; a tensor is
``{"__tensor__": name}`` (its data in a safetensors file), a tuple ``{"__tuple__": [...]}``,
another dict ``{"__dict__": [[key, value], ...]}`` (int keys, as in an optimizer's state), a
non-finite float ``{"__float__": "nan"}``, a numpy array ``{"__ndarray__": {"dtype", "shape",
"data"}}``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import random
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor, nn

from ._callbacks import Callback

__all__ = [
    "Checkpoint",
    "CheckpointCorruptError",
    "CheckpointError",
    "CheckpointMismatchError",
    "NonFiniteWeightsError",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "read_checkpoint",
]

FORMAT = "rnnkit.checkpoint/1"
WEIGHTS = "weights.safetensors"
OPTIMIZER = "optimizer.safetensors"
STATE_TENSORS = "state.safetensors"
STATE = "state.json"
MANIFEST = "manifest.json"
FILES = (WEIGHTS, OPTIMIZER, STATE_TENSORS, STATE)
_DIR_RE = re.compile(r"^epoch-(\d{4,})$")
_MAX_MANIFEST_BYTES = 1 << 20


# --------------------------------------------------------------------------- errors
class CheckpointError(ValueError):
    """A checkpoint that cannot be used. ``path``: the file (or folder); ``reason``: why."""

    def __init__(self, path: str | os.PathLike[str], reason: str, hint: str = "") -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self._what} {self.path!r}: {reason}" + (f"; {hint}" if hint else ""))

    _what = "checkpoint"


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
def _encode(obj: Any, tensors: dict[str, Tensor], key: str) -> Any:
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
                "data": [_encode(v, tensors, key) for v in obj.ravel().tolist()],
            }
        }
    if isinstance(obj, np.generic):
        return _encode(obj.item(), tensors, key)
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors, f"{key}/{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, tensors, f"{key}/{i}") for i, v in enumerate(obj)]
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, tensors, f"{key}/{k}") for k, v in obj.items()}
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"cannot checkpoint a dict key of type {type(k).__name__}")
            items.append([k, _encode(v, tensors, f"{key}/{k}")])
        return {"__dict__": items}
    raise TypeError(f"cannot checkpoint a value of type {type(obj).__name__} at {key!r}")


def _decode(obj: Any, tensors: Mapping[str, Tensor], where: str) -> Any:
    """Inverse of :func:`_encode`; any unexpected form raises ``ValueError``."""
    if obj is None or isinstance(obj, (bool, str, int, float)):
        return obj
    if isinstance(obj, list):
        return [_decode(v, tensors, where) for v in obj]
    if not isinstance(obj, dict):  # pragma: no cover - json gives no other types
        raise ValueError(f"expected a JSON value in {where}, got {type(obj).__name__}")
    if not any(k.startswith("__") for k in obj):
        return {k: _decode(v, tensors, where) for k, v in obj.items()}
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
        return tuple(_decode(v, tensors, where) for v in value)
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
            out[item[0]] = _decode(item[1], tensors, where)
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


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, allow_nan=False, indent=1).encode("utf-8")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _parse_json(data: bytes, path: Path) -> Any:
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CheckpointCorruptError(path, f"not valid JSON ({e})") from None


# --------------------------------------------------------------------------- RNG states
def capture_rng(generator: torch.Generator | None) -> dict[str, Any]:
    """The generators a training run draws from: torch (CPU and, if in use, CUDA), numpy's
    and Python's global ones, and ``fit``'s shuffling generator."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(legacy=False),
        "python": random.getstate(),
        "cuda": None,
        "shuffle": None if generator is None else generator.get_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def _check_rng(state: Any, generator: torch.Generator | None) -> None:
    """Raise ``ValueError`` unless :func:`restore_rng` can apply ``state`` (changes nothing)."""
    if not isinstance(state, dict):
        raise ValueError("expected the RNG states as a dict")
    for key in ("torch", "numpy", "python", "cuda", "shuffle"):
        if key not in state:
            raise ValueError(f"expected RNG state {key!r}, got none")
    try:
        torch.Generator().set_state(_byte_state(state["torch"], "torch"))
        np.random.RandomState().set_state(state["numpy"])
        random.Random().setstate(state["python"])
    except (TypeError, ValueError, RuntimeError, OverflowError) as e:
        raise ValueError(f"expected valid RNG states: {e}") from None
    cuda = state["cuda"]
    if cuda is not None:
        if not isinstance(cuda, list):
            raise ValueError("expected the CUDA RNG states as a list")
        for t in cuda:
            _byte_state(t, "cuda")
    shuffle = state["shuffle"]
    if shuffle is not None:
        if generator is None:
            raise ValueError("expected no shuffling generator state (shuffle=False), got one")
        probe = torch.Generator(device=generator.device)
        try:
            probe.set_state(_byte_state(shuffle, "shuffle"))
        except RuntimeError as e:
            raise ValueError(f"expected a valid shuffling generator state: {e}") from None


def _byte_state(t: Any, name: str) -> Tensor:
    if not isinstance(t, Tensor) or t.dtype != torch.uint8 or t.dim() != 1:
        raise ValueError(f"expected the {name} RNG state as a 1-D uint8 tensor")
    return t


def restore_rng(state: dict[str, Any], generator: torch.Generator | None) -> None:
    """Put back the states of :func:`capture_rng` (validated with :func:`_check_rng`).

    CUDA states are restored when the same number of CUDA devices is present; on a machine
    without CUDA they are ignored (exact resume is guaranteed on the same device only)."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    cuda = state["cuda"]
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    if generator is not None and state["shuffle"] is not None:
        generator.set_state(state["shuffle"])


# --------------------------------------------------------------------------- files
def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - e.g. some network file systems
        pass
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data`` and fsync it (a new file: never overwrites)."""
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _dir_name(epoch: int) -> str:
    return f"epoch-{epoch:04d}"


def list_checkpoints(checkpoint_dir: str | os.PathLike[str]) -> list[Path]:
    """Complete checkpoint folders (``epoch-NNNN``) in ``checkpoint_dir``, oldest first.

    Temporary folders of an interrupted write are not listed. Returns ``[]`` when the folder
    does not exist."""
    root = Path(checkpoint_dir)
    if not root.is_dir():
        return []
    found = []
    for entry in root.iterdir():
        m = _DIR_RE.match(entry.name)
        if m and entry.is_dir():
            found.append((int(m.group(1)), entry))
    return [p for _, p in sorted(found)]


def latest_checkpoint(checkpoint_dir: str | os.PathLike[str]) -> Path | None:
    """The newest checkpoint folder in ``checkpoint_dir`` (None if there is none).

    Folders are only renamed into place once complete, so the newest one is the last
    complete write; :func:`read_checkpoint` verifies it."""
    found = list_checkpoints(checkpoint_dir)
    return found[-1] if found else None


def _cleanup(root: Path, keep: Sequence[Path]) -> None:
    """Remove stale temporary folders and checkpoints older than ``keep``."""
    keep_names = {p.name for p in keep}
    for path in list_checkpoints(root):
        if path.name not in keep_names:
            trash = root / f".trash-{uuid.uuid4().hex}"
            try:
                os.rename(path, trash)
            except OSError:
                continue
    for entry in root.iterdir():
        if entry.name.startswith((".tmp-", ".trash-")) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


def write_checkpoint(
    checkpoint_dir: str | os.PathLike[str],
    epoch: int,
    files: Mapping[str, bytes],
    keep_last: int = 2,
) -> Path:
    """Atomically write ``files`` (name -> bytes) plus a manifest as ``epoch-NNNN``.

    A single writer per ``checkpoint_dir`` is assumed. Returns the checkpoint folder."""
    root = Path(checkpoint_dir)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        entries = {}
        for name, data in files.items():
            _write_file(tmp / name, data)
            entries[name] = {"size": len(data), "sha256": _sha256(data)}
        manifest = {"format": FORMAT, "epoch": epoch, "files": entries}
        _write_file(tmp / MANIFEST, _json_bytes(manifest))
        _fsync_dir(tmp)
        target = root / _dir_name(epoch)
        if target.exists():  # rewriting an epoch (resumed from an older checkpoint)
            os.rename(target, root / f".trash-{uuid.uuid4().hex}")
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(root)
    kept = list_checkpoints(root)[-keep_last:]
    if target not in kept:  # pragma: no cover - an older epoch than existing ones
        kept.append(target)
    _cleanup(root, kept)
    _fsync_dir(root)
    return target


def _read_limited(path: Path, limit: int) -> bytes:
    """Read at most ``limit + 1`` bytes (so an oversized file is detected, never slurped)."""
    try:
        with open(path, "rb") as f:
            return f.read(limit + 1)
    except FileNotFoundError:
        raise CheckpointCorruptError(path, "missing file") from None
    except IsADirectoryError:
        raise CheckpointCorruptError(path, "expected a file, got a directory") from None
    except OSError as e:
        raise CheckpointCorruptError(path, f"unreadable ({e.strerror})") from None


def _verified_files(folder: Path) -> tuple[int, dict[str, bytes]]:
    """Read the manifest and every file it lists, checking sizes and SHA-256 hashes."""
    hint = f"delete {str(folder)!r} to resume from an earlier checkpoint"
    manifest_path = folder / MANIFEST
    raw = _read_limited(manifest_path, _MAX_MANIFEST_BYTES)
    if len(raw) > _MAX_MANIFEST_BYTES:
        raise CheckpointCorruptError(manifest_path, "larger than any rnnkit manifest", hint)
    manifest = _parse_json(raw, manifest_path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise CheckpointCorruptError(manifest_path, f"expected format {FORMAT!r}, got {got!r}")
    epoch = manifest.get("epoch")
    entries = manifest.get("files")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise CheckpointCorruptError(manifest_path, f"expected an epoch >= 0, got {epoch!r}")
    if not isinstance(entries, dict) or set(entries) != set(FILES):
        got = sorted(entries) if isinstance(entries, dict) else entries
        raise CheckpointCorruptError(
            manifest_path, f"expected entries for {sorted(FILES)}, got {got!r}"
        )
    out = {}
    for name in FILES:
        entry = entries[name]
        path = folder / name
        size = entry.get("size") if isinstance(entry, dict) else None
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise CheckpointCorruptError(manifest_path, f"bad size for {name}: {size!r}")
        if not isinstance(digest, str):
            raise CheckpointCorruptError(manifest_path, f"bad sha256 for {name}: {digest!r}")
        data = _read_limited(path, size)
        if len(data) != size:
            what = "truncated" if len(data) < size else "longer than written"
            got = f"{len(data)}" if len(data) <= size else f"more than {size}"
            raise CheckpointCorruptError(
                path, f"{what}: expected {size} bytes, got {got}", hint
            )
        if _sha256(data) != digest:
            raise CheckpointCorruptError(
                path, "SHA-256 mismatch: the file was altered after it was written", hint
            )
        out[name] = data
    return epoch, out


def _load_tensors(data: bytes, path: Path) -> dict[str, Tensor]:
    try:
        return st_load(data)
    except (SafetensorError, ValueError, RuntimeError, TypeError) as e:
        raise CheckpointCorruptError(path, f"not a safetensors file ({e})") from None


# --------------------------------------------------------------------------- checkpoint
@dataclass
class Checkpoint:
    """A verified checkpoint, as read by :func:`read_checkpoint`.

    Attributes:
        path: the ``epoch-NNNN`` folder.
        epoch: epochs completed (training resumes at this 0-based epoch index).
        epochs: the ``epochs`` argument of the run that wrote it.
        stopped: True when that run stopped early (a callback asked to stop): resuming it
            runs no further epoch.
        weights: ``module.state_dict()``.
        optimizer: ``optimizer.state_dict()`` (tensors included) or None.
        optimizer_class: the torch optimizer's class name.
        lr: learning rate of every param group.
        callbacks: ``[{"class": name, "state": state_dict}]`` of the stateful callbacks.
        rng: generator states (see :func:`capture_rng`).
        params: ``fit``'s parameters (epochs, steps, batch_size, samples, shuffle).
    """

    path: Path
    epoch: int
    epochs: int
    stopped: bool
    weights: dict[str, Tensor]
    optimizer: dict[str, Any] | None
    optimizer_class: str | None
    lr: list[float]
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    rng: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def history(self) -> dict[str, Any] | None:
        """The saved ``History`` state (``{"history": ..., "epoch": [...]}``), if any."""
        for cb in self.callbacks:
            if cb["class"] == "History":
                return dict(cb["state"])
        return None


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and verify the checkpoint folder ``path`` (sizes, hashes, formats and types).

    Raises :class:`CheckpointCorruptError` naming the bad file and the reason."""
    folder = Path(path)
    if not folder.is_dir():
        raise CheckpointCorruptError(folder, "no such checkpoint directory")
    epoch, data = _verified_files(folder)
    weights = _load_tensors(data[WEIGHTS], folder / WEIGHTS)
    opt_tensors = _load_tensors(data[OPTIMIZER], folder / OPTIMIZER)
    state_tensors = _load_tensors(data[STATE_TENSORS], folder / STATE_TENSORS)
    state_path = folder / STATE
    raw = _parse_json(data[STATE], state_path)
    try:
        return _checkpoint_from_state(folder, epoch, raw, weights, opt_tensors, state_tensors)
    except (ValueError, TypeError, KeyError, RecursionError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointCorruptError(state_path, f"unexpected content ({e})") from None


def _checkpoint_from_state(
    folder: Path,
    epoch: int,
    raw: Any,
    weights: dict[str, Tensor],
    opt_tensors: dict[str, Tensor],
    state_tensors: dict[str, Tensor],
) -> Checkpoint:
    where = str(folder / STATE)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        got = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise ValueError(f"expected format {FORMAT!r}, got {got!r}")
    if raw.get("epoch") != epoch:
        raise ValueError(f"expected epoch {epoch} (as in the manifest), got {raw.get('epoch')!r}")
    epochs = raw["epochs"]
    stopped = raw["stopped"]
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not isinstance(stopped, bool):
        raise ValueError("expected an int 'epochs' and a bool 'stopped'")
    optimizer = _decode(raw["optimizer"], opt_tensors, where)
    opt_class = raw["optimizer_class"]
    if optimizer is not None and (
        not isinstance(optimizer, dict)
        or not isinstance(optimizer.get("state"), dict)
        or not isinstance(optimizer.get("param_groups"), list)
        or not all(isinstance(g, dict) for g in optimizer["param_groups"])
        or not isinstance(opt_class, str)
    ):
        raise ValueError("expected an optimizer state_dict with 'state' and 'param_groups'")
    lr = raw["lr"]
    if not isinstance(lr, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in lr
    ):
        raise ValueError("expected 'lr' as a list of numbers")
    callbacks = _decode(raw["callbacks"], state_tensors, where)
    if not isinstance(callbacks, list) or not all(
        isinstance(c, dict)
        and isinstance(c.get("class"), str)
        and isinstance(c.get("state"), dict)
        for c in callbacks
    ):
        raise ValueError("expected 'callbacks' as a list of {'class', 'state'}")
    rng = _decode(raw["rng"], state_tensors, where)
    if rng is not None and not isinstance(rng, dict):
        raise ValueError("expected 'rng' as a dict")
    params = _decode(raw["params"], state_tensors, where)
    if not isinstance(params, dict):
        raise ValueError("expected 'params' as a dict")
    return Checkpoint(
        path=folder,
        epoch=epoch,
        epochs=epochs,
        stopped=stopped,
        weights=weights,
        optimizer=optimizer,
        optimizer_class=opt_class if optimizer is not None else None,
        lr=[float(v) for v in lr],
        callbacks=callbacks,
        rng=rng,
        params=params,
    )


# --------------------------------------------------------------------------- save
def _check_finite(tensors: Mapping[str, Tensor], what: str, epoch: int) -> None:
    for name, t in tensors.items():
        if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
            raise NonFiniteWeightsError(epoch, f"{what} {name!r}")


def stateful_callbacks(callbacks: Iterable[Callback]) -> list[Callback]:
    """The callbacks that override :meth:`Callback.state_dict`, in order."""
    return [cb for cb in callbacks if type(cb).state_dict is not Callback.state_dict]


def save_training_checkpoint(
    checkpoint_dir: str | os.PathLike[str],
    *,
    epoch: int,
    epochs: int,
    module: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    callbacks: Sequence[Callback],
    generator: torch.Generator | None,
    params: Mapping[str, Any],
    stopped: bool,
    keep_last: int,
) -> Path:
    """Write the state of a ``fit`` after ``epoch`` completed epochs (``epoch`` >= 1).

    Raises :class:`NonFiniteWeightsError` (writing nothing) if a weight or optimizer tensor
    holds NaN/Inf."""
    weights = {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}
    _check_finite(weights, "weight", epoch - 1)
    opt_tensors: dict[str, Tensor] = {}
    opt_json = None
    if optimizer is not None:
        opt_json = _encode(optimizer.state_dict(), opt_tensors, "optimizer")
        _check_finite(opt_tensors, "optimizer state", epoch - 1)
    state_tensors: dict[str, Tensor] = {}
    state = {
        "format": FORMAT,
        "epoch": epoch,
        "epochs": epochs,
        "stopped": stopped,
        "optimizer_class": None if optimizer is None else type(optimizer).__name__,
        "optimizer": opt_json,
        "lr": [] if optimizer is None else [float(g["lr"]) for g in optimizer.param_groups],
        "callbacks": _encode(
            [
                {"class": type(cb).__name__, "state": cb.state_dict()}
                for cb in stateful_callbacks(callbacks)
            ],
            state_tensors,
            "callbacks",
        ),
        "rng": _encode(capture_rng(generator), state_tensors, "rng"),
        "params": _encode(dict(params), state_tensors, "params"),
    }
    files = {
        WEIGHTS: st_save(weights, metadata={"format": "pt"}),
        OPTIMIZER: st_save(opt_tensors, metadata={"format": "pt"}),
        STATE_TENSORS: st_save(state_tensors, metadata={"format": "pt"}),
        STATE: _json_bytes(state),
    }
    return write_checkpoint(checkpoint_dir, epoch, files, keep_last=keep_last)


# --------------------------------------------------------------------------- restore
def _check_weights(ckpt: Checkpoint, module: nn.Module) -> None:
    path = ckpt.path / WEIGHTS
    current = module.state_dict()
    missing = sorted(set(current) - set(ckpt.weights))
    unexpected = sorted(set(ckpt.weights) - set(current))
    if missing or unexpected:
        raise CheckpointMismatchError(
            path,
            f"expected the module's weights {sorted(current)[:8]}, got missing {missing[:8]} "
            f"and unexpected {unexpected[:8]} (another architecture?)",
        )
    for name, t in current.items():
        saved = ckpt.weights[name]
        if tuple(saved.shape) != tuple(t.shape) or saved.dtype != t.dtype:
            raise CheckpointMismatchError(
                path,
                f"expected {name!r} of shape {tuple(t.shape)} and dtype {t.dtype}, got shape "
                f"{tuple(saved.shape)} and dtype {saved.dtype} (another architecture?)",
            )


def _check_optimizer(ckpt: Checkpoint, optimizer: torch.optim.Optimizer | None) -> None:
    path = ckpt.path / OPTIMIZER
    saved = ckpt.optimizer
    if optimizer is None:
        return
    if saved is None:
        raise CheckpointMismatchError(path, "expected an optimizer state, got none")
    if ckpt.optimizer_class != type(optimizer).__name__:
        raise CheckpointMismatchError(
            path,
            f"expected the state of a {type(optimizer).__name__} optimizer, got "
            f"{ckpt.optimizer_class}",
        )
    groups = optimizer.param_groups
    saved_groups = saved["param_groups"]
    if len(groups) != len(saved_groups):
        raise CheckpointMismatchError(
            path, f"expected {len(groups)} param groups, got {len(saved_groups)}"
        )
    shapes: dict[Any, tuple[int, ...]] = {}
    for i, (g, sg) in enumerate(zip(groups, saved_groups, strict=True)):
        ids = sg.get("params")
        if not isinstance(ids, list) or len(ids) != len(g["params"]):
            n = len(ids) if isinstance(ids, list) else ids
            raise CheckpointMismatchError(
                path, f"expected {len(g['params'])} parameters in param group {i}, got {n}"
            )
        for pid, p in zip(ids, g["params"], strict=True):
            shapes[pid] = tuple(p.shape)
        if not isinstance(sg.get("lr"), (int, float, Tensor)):
            raise CheckpointCorruptError(ckpt.path / STATE, f"bad lr in param group {i}")
    for pid, pstate in saved["state"].items():
        if pid not in shapes or not isinstance(pstate, dict):
            raise CheckpointMismatchError(path, f"state for unknown parameter {pid!r}")
        for key, value in pstate.items():
            if isinstance(value, Tensor) and value.dim() > 0 and tuple(value.shape) != shapes[pid]:
                raise CheckpointMismatchError(
                    path,
                    f"expected {key!r} of parameter {pid} with shape {shapes[pid]}, got "
                    f"{tuple(value.shape)}",
                )


def _check_callbacks(ckpt: Checkpoint, callbacks: Sequence[Callback]) -> list[Callback]:
    stateful = stateful_callbacks(callbacks)
    want = [type(cb).__name__ for cb in stateful]
    got = [c["class"] for c in ckpt.callbacks]
    if want != got:
        raise CheckpointMismatchError(
            ckpt.path / STATE,
            f"expected the state of the callbacks {want}, got {got}",
            "resume with the same callbacks, or use a new checkpoint_dir",
        )
    return stateful


def load_checkpoint(
    path: str | os.PathLike[str] | Checkpoint,
    module: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
) -> Checkpoint:
    """Load a checkpoint's weights (and optimizer state) into ``module`` (and ``optimizer``).

    Everything is verified first: on any error (:class:`CheckpointCorruptError`,
    :class:`CheckpointMismatchError`) the module and optimizer are unchanged.
    Returns the :class:`Checkpoint`."""
    ckpt = path if isinstance(path, Checkpoint) else read_checkpoint(path)
    _check_weights(ckpt, module)
    _check_optimizer(ckpt, optimizer)
    _apply(ckpt, module, optimizer, [], None, restore_generators=False)
    return ckpt


def check_resume(
    ckpt: Checkpoint,
    module: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    callbacks: Sequence[Callback],
    generator: torch.Generator | None,
) -> None:
    """Raise unless ``ckpt`` can be applied to this run (changes nothing)."""
    _check_weights(ckpt, module)
    _check_optimizer(ckpt, optimizer)
    _check_callbacks(ckpt, callbacks)
    try:
        _check_rng(ckpt.rng, generator)
    except ValueError as e:
        raise CheckpointCorruptError(ckpt.path / STATE, str(e)) from None


def apply_resume(
    ckpt: Checkpoint,
    module: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    callbacks: Sequence[Callback],
    generator: torch.Generator | None,
) -> None:
    """Load weights, optimizer state, callback states and RNG states (after
    :func:`check_resume`). On failure the module and optimizer are rolled back."""
    _apply(ckpt, module, optimizer, callbacks, generator, restore_generators=True)


def _apply(
    ckpt: Checkpoint,
    module: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    callbacks: Sequence[Callback],
    generator: torch.Generator | None,
    *,
    restore_generators: bool,
) -> None:
    saved_module = {k: v.detach().clone() for k, v in module.state_dict().items()}
    saved_opt = None if optimizer is None else copy.deepcopy(optimizer.state_dict())
    try:
        module.load_state_dict(ckpt.weights, strict=True)
        if optimizer is not None and ckpt.optimizer is not None:
            optimizer.load_state_dict(ckpt.optimizer)
        stateful = _check_callbacks(ckpt, callbacks) if callbacks else []
        for cb, entry in zip(stateful, ckpt.callbacks, strict=True):
            try:
                cb.load_state_dict(entry["state"])
            except (ValueError, TypeError, KeyError) as e:
                raise CheckpointCorruptError(ckpt.path / STATE, str(e)) from None
        if restore_generators and ckpt.rng is not None:
            restore_rng_states(ckpt.rng, generator)
    except BaseException as e:
        module.load_state_dict(saved_module, strict=True)
        if optimizer is not None and saved_opt is not None:
            optimizer.load_state_dict(saved_opt)
        if isinstance(e, (CheckpointError, KeyboardInterrupt, SystemExit)):
            raise
        raise CheckpointCorruptError(ckpt.path, f"could not be applied ({e})") from e


def restore_rng_states(state: dict[str, Any], generator: torch.Generator | None) -> None:
    """Hook used by :func:`apply_resume` (tests replace it to prove that restoring the RNG
    states is what makes a resumed run exact)."""
    restore_rng(state, generator)
