"""What a checkpoint captures of a ``fit`` run and how it is put back: RNG states,
:func:`save_training_checkpoint`, and the checks and restore of a resume (:func:`check_resume`,
:func:`apply_resume`, :func:`load_checkpoint`). The format is described in
:mod:`rnnkit.training.checkpoint`.
"""

from __future__ import annotations

import copy
import os
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save as st_save
from torch import Tensor, nn

from ..callbacks.base import Callback
from .files import (
    Checkpoint,
    read_checkpoint,
    write_checkpoint,
)
from .format import (
    FORMAT,
    OPTIMIZER,
    STATE,
    STATE_TENSORS,
    WEIGHTS,
    CheckpointCorruptError,
    CheckpointError,
    CheckpointMismatchError,
    NonFiniteWeightsError,
    encode,
    json_bytes,
)

__all__ = [
    "apply_resume",
    "capture_rng",
    "check_resume",
    "load_checkpoint",
    "restore_rng",
    "restore_rng_states",
    "save_training_checkpoint",
]


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
        opt_json = encode(optimizer.state_dict(), opt_tensors, "optimizer")
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
        "callbacks": encode(
            [
                {"class": type(cb).__name__, "state": cb.state_dict()}
                for cb in stateful_callbacks(callbacks)
            ],
            state_tensors,
            "callbacks",
        ),
        "rng": encode(capture_rng(generator), state_tensors, "rng"),
        "params": encode(dict(params), state_tensors, "params"),
    }
    files = {
        WEIGHTS: st_save(weights, metadata={"format": "pt"}),
        OPTIMIZER: st_save(opt_tensors, metadata={"format": "pt"}),
        STATE_TENSORS: st_save(state_tensors, metadata={"format": "pt"}),
        STATE: json_bytes(state),
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
