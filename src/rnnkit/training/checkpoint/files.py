"""Checkpoint folders on disk: the atomic write of ``epoch-NNNN`` (temporary folder, fsync'd
files, the manifest last, rename, pruning to ``keep_last``), listing them, and reading one back
verified (manifest sizes and SHA-256 first, then safetensors and JSON only) into a
:class:`Checkpoint`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from safetensors import SafetensorError
from safetensors.torch import load as st_load
from torch import Tensor

from ... import _bounded
from .format import (
    DIR_RE,
    FILES,
    FORMAT,
    MANIFEST,
    MAX_MANIFEST_BYTES,
    OPTIMIZER,
    STATE,
    STATE_TENSORS,
    WEIGHTS,
    CheckpointCorruptError,
    CheckpointError,
    decode,
    json_bytes,
    parse_json,
)

__all__ = [
    "Checkpoint",
    "latest_checkpoint",
    "list_checkpoints",
    "read_checkpoint",
    "write_checkpoint",
]


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
        m = DIR_RE.match(entry.name)
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
        _write_file(tmp / MANIFEST, json_bytes(manifest))
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


def _open(path: Path) -> IO[bytes]:
    """``path`` opened if it is a regular file (a FIFO or folder is refused, never read)."""

    def fail(reason: str) -> CheckpointCorruptError:
        return CheckpointCorruptError(path, reason)

    try:
        return _bounded.open_regular(path, fail)
    except FileNotFoundError:
        raise CheckpointCorruptError(path, "missing file") from None


def _read_limited(path: Path, limit: int) -> bytes:
    """Read at most ``limit + 1`` bytes (so an oversized file is detected, never slurped)."""
    with _open(path) as f:
        return f.read(limit + 1)


def _read_sized(path: Path, size: int, hint: str) -> bytes:
    """Read a file of exactly ``size`` bytes (the manifest's): its size is checked first."""
    with _open(path) as f:
        actual = _bounded.file_size(f)
        if actual != size:
            what = "truncated" if actual < size else "longer than written"
            raise CheckpointCorruptError(path, f"{what}: expected {size} bytes, got {actual}",
                                         hint)
        data = f.read(size)
    if len(data) != size:  # changed while being read
        raise CheckpointCorruptError(path, f"truncated: expected {size} bytes, got {len(data)}",
                                     hint)
    return data


def _verified_files(folder: Path) -> tuple[int, dict[str, bytes]]:
    """Read the manifest and every file it lists, checking sizes and SHA-256 hashes."""
    hint = f"delete {str(folder)!r} to resume from an earlier checkpoint"
    manifest_path = folder / MANIFEST
    raw = _read_limited(manifest_path, MAX_MANIFEST_BYTES)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise CheckpointCorruptError(manifest_path, "larger than any rnnkit manifest", hint)
    manifest = parse_json(raw, manifest_path)
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
        data = _read_sized(path, size, hint)
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
    raw = parse_json(data[STATE], state_path)
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
    optimizer = decode(raw["optimizer"], opt_tensors, where)
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
    callbacks = decode(raw["callbacks"], state_tensors, where)
    if not isinstance(callbacks, list) or not all(
        isinstance(c, dict) and isinstance(c.get("class"), str) and isinstance(c.get("state"), dict)
        for c in callbacks
    ):
        raise ValueError("expected 'callbacks' as a list of {'class', 'state'}")
    rng = decode(raw["rng"], state_tensors, where)
    if rng is not None and not isinstance(rng, dict):
        raise ValueError("expected 'rng' as a dict")
    params = decode(raw["params"], state_tensors, where)
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
