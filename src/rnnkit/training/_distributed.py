"""Data-parallel training on ``torch.distributed`` with the one-process result.

``fit(..., distributed=True | "auto")`` (or :func:`fit_distributed`) under ``torchrun`` (env
``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``) initialises the process group if
needed (``gloo`` for a CPU module, ``nccl`` for a CUDA one), wraps the module in
``DistributedDataParallel`` and trains on the SAME global batches as one process would:
every rank holds the whole ``(x, y)`` and draws the same permutation (rank 0's shuffling seed
is broadcast), and each rank runs only its contiguous part of every global batch.

One step on ``W`` ranks with a global batch of ``B`` rows::

    rows of rank r: lo_r .. hi_r            (sizes differ by at most 1; a rank may get 0 rows)
    p_r = DDP(module)(x[lo_r:hi_r])         # (n_r, ...)
    p = all_gather(p_r)                     # (B, ...), identical on every rank
    L = loss(y, p) [+ extra_loss()]         # the one-process loss, on every rank
    backward: rank r feeds W * dL/dp[lo_r:hi_r] into its module        -> W * g_r
    DDP averages parameter gradients: (1/W) * sum_r W * g_r = sum_r g_r = dL/dtheta

so the update, the logged loss/metrics (computed on the gathered outputs) and the callbacks'
decisions are those of the one-process run on every rank (to float rounding). Only the module
outputs cross the wire besides DDP's gradient all-reduce. A short last batch is split as evenly
as possible; a rank with no rows runs one row and keeps none of it (its gradient is zero).

Rank 0 alone writes: the hooks of ``ModelCheckpoint``, ``CSVLogger``, the loggers and any
callback with ``rank_zero_only = True`` are no-ops on the other ranks (the callbacks stay in
place, so ``checkpoint_dir`` states match), ``fit(checkpoint_dir=...)`` writes on rank 0 only
(``writes_checkpoints`` of the wrapper), and progress output is off on the other ranks.
Stop requests (``EarlyStopping``, time limits ...) are OR-ed over the ranks (per batch when a
callback could stop mid-epoch, else per epoch), and every epoch end and the end of training are
barriers, so a checkpoint written by rank 0 exists before any rank reads it.

Here: the sharding of a global batch, the DDP wrapper the loop trains, the rank-zero muting and
stop synchronisation of the callbacks, and the entries :func:`fit_distributed` /
``dispatch_fit``. The environment and process group (:func:`init_distributed`, ranks,
:func:`barrier`) are in :mod:`._dist_env`, starting processes (:func:`launch`) in
:mod:`._launch`; every public name is importable from this module.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from ._callbacks import Callback, CSVLogger, History, ModelCheckpoint
from ._data import module_device_dtype
from ._dist_env import (
    _all_reduce_ints,
    _broadcast_int,
    _check_same_on_all_ranks,
    _env_int,
    _initialized,
    barrier,
    get_rank,
    get_world_size,
    init_distributed,
    is_rank_zero,
    local_device,
    under_torchrun,
)
from ._launch import _free_port as _free_port
from ._launch import launch, torchrun_command, without_option
from ._loggers import default_loggers
from ._loop_parts import _check_callbacks

__all__ = [
    "barrier",
    "dispatch_fit",
    "fit_distributed",
    "get_rank",
    "get_world_size",
    "init_distributed",
    "is_rank_zero",
    "launch",
    "local_device",
    "shard_bounds",
    "shard_sizes",
    "torchrun_command",
    "under_torchrun",
    "without_option",
]

_STOP_HOOKS = (
    "on_train_begin",
    "on_epoch_begin",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_batch_begin",
    "on_batch_end",
)


# --------------------------------------------------------------------------- sharding
def shard_sizes(n: int, world_size: int) -> list[int]:
    """Rows per rank of a batch of ``n`` rows: as even as possible, the first ``n % W`` ranks
    get one more (``sum == n``; ranks may get 0 when ``n < W``)."""
    base, extra = divmod(n, world_size)
    return [base + (1 if r < extra else 0) for r in range(world_size)]


def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """``(lo, hi)``: rank ``rank``'s contiguous rows ``lo:hi`` of a batch of ``n`` rows."""
    sizes = shard_sizes(n, world_size)
    lo = sum(sizes[:rank])
    return lo, lo + sizes[rank]


class _GatherRows(torch.autograd.Function):
    """Forward: all-gather every rank's ``(n_r, ...)`` rows into ``(n, ...)`` in rank order.
    Backward: this rank's rows of the (rank-identical) output gradient times ``W`` (DDP then
    divides the summed parameter gradients by ``W``); no communication."""

    @staticmethod
    def forward(ctx: Any, local: Tensor, n: int, rank: int, world_size: int) -> Tensor:
        sizes = shard_sizes(n, world_size)
        lo = sum(sizes[:rank])
        ctx.bounds = (lo, lo + sizes[rank])
        ctx.world_size = world_size
        width = max(sizes)
        local = local.contiguous()
        if local.shape[0] < width:
            pad = local.new_zeros((width - int(local.shape[0]), *local.shape[1:]))
            local = torch.cat([local, pad])  # (width, ...)
        parts = [torch.empty_like(local) for _ in range(world_size)]
        dist.all_gather(parts, local)
        return torch.cat([p[:s] for p, s in zip(parts, sizes, strict=True)])  # (n, ...)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor | None, None, None, None]:
        lo, hi = ctx.bounds
        return grads[0][lo:hi] * ctx.world_size, None, None, None


class _ShardedModule(nn.Module):
    """What the loop trains under DDP: ``forward`` takes the global batch, runs this rank's
    rows through the DDP-wrapped module and returns the all-gathered outputs ``(batch, ...)``.

    Parameters, buffers, ``state_dict`` and ``load_state_dict`` are the wrapped module's own
    (same keys), so callbacks that copy or save ``state.module`` see the plain module.
    """

    _inner: nn.Module
    _ddp: DistributedDataParallel | None

    def __init__(self, module: nn.Module, ddp: DistributedDataParallel) -> None:
        super().__init__()
        # plain attributes, not submodules: the wrapper adds no state_dict prefix
        object.__setattr__(self, "_inner", module)
        object.__setattr__(self, "_ddp", ddp)
        self.training = module.training
        #: read by fit's checkpoint_dir machinery: only rank 0 writes checkpoints
        self.writes_checkpoints = dist.get_rank() == 0

    def release(self) -> None:
        """Drop the DDP wrapper (callbacks may keep this object alive after fit)."""
        object.__setattr__(self, "_ddp", None)

    def forward(self, *inputs: Tensor) -> Tensor:
        if self._ddp is None:
            raise RuntimeError("this distributed training wrapper was released after fit")
        rank, world = dist.get_rank(), dist.get_world_size()
        n = int(inputs[0].shape[0])
        lo, hi = shard_bounds(n, rank, world)
        empty = hi == lo
        # a rank without rows runs one row (so DDP sees every parameter) and keeps none
        local = tuple(t[:1] if empty else t[lo:hi] for t in inputs)  # (n_r, ...)
        out = self._ddp(*local)  # (n_r, ...) or (1, ...) for an empty shard
        if not isinstance(out, Tensor):
            raise TypeError(
                "distributed training: expected the module to return a torch.Tensor, got "
                f"{type(out).__name__}"
            )
        if empty:
            out = out[:0]
        if out.dim() == 0 or int(out.shape[0]) != hi - lo:
            raise ValueError(
                "distributed training: expected the module output to have the batch on axis 0 "
                f"({hi - lo} rows), got shape {tuple(out.shape)}"
            )
        result: Tensor = _GatherRows.apply(out, n, rank, world)
        return result

    def train(self, mode: bool = True) -> _ShardedModule:
        self.training = mode
        if self._ddp is not None:
            self._ddp.train(mode)  # DDP's flag and the module's
        else:
            self._inner.train(mode)
        return self

    def parameters(self, *args: Any, **kwargs: Any) -> Iterator[nn.Parameter]:
        return self._inner.parameters(*args, **kwargs)

    def named_parameters(self, *args: Any, **kwargs: Any) -> Iterator[tuple[str, nn.Parameter]]:
        return self._inner.named_parameters(*args, **kwargs)

    def buffers(self, *args: Any, **kwargs: Any) -> Iterator[Tensor]:
        return self._inner.buffers(*args, **kwargs)

    def named_buffers(self, *args: Any, **kwargs: Any) -> Iterator[tuple[str, Tensor]]:
        return self._inner.named_buffers(*args, **kwargs)

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:
        return self._inner.state_dict(*args, **kwargs)

    def load_state_dict(self, *args: Any, **kwargs: Any) -> Any:
        return self._inner.load_state_dict(*args, **kwargs)


# --------------------------------------------------------------------------- callbacks
def _rank_zero_only(cb: Callback) -> bool:
    flag = getattr(cb, "rank_zero_only", None)
    if flag is not None:
        return bool(flag)
    return isinstance(cb, (ModelCheckpoint, CSVLogger))


def _may_stop_mid_epoch(callbacks: Sequence[Callback]) -> bool:
    """Whether a callback that may run on every rank overrides a hook from which a stop
    request is seen only after the next batch."""
    return any(
        getattr(type(cb), hook) is not getattr(Callback, hook)
        for cb in callbacks
        if not isinstance(cb, History) and not _rank_zero_only(cb)
        for hook in _STOP_HOOKS
    )


_HOOKS = tuple(name for name in vars(Callback) if name.startswith("on_"))


def _no_op(*args: Any, **kwargs: Any) -> None:
    return None


def _mute(cb: Callback) -> None:
    """Turn every hook of ``cb`` into a no-op (instance attributes shadow the class's hooks;
    the callback keeps its class and ``state_dict``, so checkpoints match on every rank)."""
    for name in _HOOKS:
        setattr(cb, name, _no_op)


def _unmute(cb: Callback) -> None:
    for name in _HOOKS:
        cb.__dict__.pop(name, None)


class _StopSync(Callback):
    """Last callback of a distributed run: ORs the stop flag over the ranks at every epoch
    end (which also makes it a barrier after rank 0's checkpoints) and waits for every rank at
    the end of training."""

    def _sync(self) -> None:
        state = self.state
        if state is None:  # pragma: no cover - the loop always attaches a state
            return
        if _all_reduce_ints([int(state.should_stop())], dist.ReduceOp.MAX)[0]:
            state.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._sync()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        barrier()


class _BatchStopSync(_StopSync):
    """:class:`_StopSync` that also ORs the stop flag after every batch."""

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._sync()


# --------------------------------------------------------------------------- fit
def _rows(data: Any) -> int:
    """Samples in ``x`` / ``y`` (first array of a list), -1 when it has no length."""
    if isinstance(data, (list, tuple)):
        data = data[0] if data else None
    shape = getattr(data, "shape", None)
    if shape is None or len(shape) == 0:
        return -1
    return int(shape[0])


def _int_or_minus_one(value: Any) -> int:
    """For comparing arguments across ranks (fit validates them afterwards)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return -1
    return value


def _generator_digest(gen: torch.Generator) -> int:
    digest = hashlib.blake2b(gen.get_state().numpy().tobytes(), digest_size=7).digest()
    return int.from_bytes(digest, "little")


def _wants_distributed(distributed: Any) -> bool:
    if distributed is False:
        return False
    if distributed is True:
        return True
    if distributed == "auto":
        if _initialized():
            return dist.get_world_size() > 1
        return under_torchrun() and _env_int("WORLD_SIZE", 1) > 1
    raise ValueError(f"expected distributed to be True, False or 'auto', got {distributed!r}")


def _with_loggers(args: dict[str, Any], log_dir: Any) -> list[Any]:
    """``args["callbacks"]`` checked, plus the default loggers writing to ``log_dir`` (appending
    to their files when the run starts after epoch 0)."""
    callbacks = _check_callbacks(args.get("callbacks", ()))
    if log_dir is not None:
        initial_epoch = args.get("initial_epoch", 0)
        append = isinstance(initial_epoch, int) and initial_epoch > 0
        callbacks += default_loggers(log_dir, append=append)
    return callbacks


def dispatch_fit(args: dict[str, Any]) -> History:
    """``fit``'s entry for ``distributed`` / ``log_dir``: ``args`` are fit's arguments by name.

    ``log_dir`` adds :func:`default_loggers` (appending when ``initial_epoch > 0``);
    ``distributed`` True/"auto" runs :func:`fit_distributed` ("auto": only when the world
    size is above 1). Then calls the plain ``fit``.
    """
    from ._loop import fit

    names = inspect.signature(fit).parameters
    args = {k: v for k, v in args.items() if k in names}  # fit's locals() hold its import too
    distributed = args.pop("distributed", False)
    log_dir = args.pop("log_dir", None)
    args["callbacks"] = _with_loggers(args, log_dir)
    if not _wants_distributed(distributed):
        return fit(**args)
    return _fit_ddp(args, find_unused_parameters=False)


def fit_distributed(
    module: nn.Module,
    x: Any,
    y: Any,
    *,
    find_unused_parameters: bool = False,
    log_dir: str | os.PathLike[str] | None = None,
    **fit_kwargs: Any,
) -> History:
    """``fit(module, x, y, **fit_kwargs)`` data-parallel over the current process group (or
    the one torchrun's environment describes, created here): the same weights as one process
    on the same global ``batch_size`` (see the module docstring). Every rank must call it with
    the same data and arguments. ``find_unused_parameters`` goes to ``DistributedDataParallel``
    (needed when some parameters get no gradient in a step).
    """
    if not isinstance(find_unused_parameters, bool):
        raise TypeError(
            "expected find_unused_parameters to be a bool, got "
            f"{type(find_unused_parameters).__name__}"
        )
    for name in ("distributed", "module", "x", "y"):
        if name in fit_kwargs:
            raise TypeError(f"fit_distributed: unexpected keyword argument {name!r}")
    args: dict[str, Any] = {"module": module, "x": x, "y": y, **fit_kwargs}
    args["callbacks"] = _with_loggers(args, log_dir)
    return _fit_ddp(args, find_unused_parameters=find_unused_parameters)


def _fit_ddp(args: dict[str, Any], *, find_unused_parameters: bool) -> History:
    from ._loop import fit
    from ._loop_parts import _check_module, _resolve_optimizer

    module = _check_module(args.pop("module"))
    device, _ = module_device_dtype(module)
    init_distributed(device=device)
    rank = dist.get_rank()

    # every rank must see the same run: same samples, batches and epochs
    val = args.get("validation_data")
    _check_same_on_all_ranks(
        {
            "the number of samples of x": _rows(args.get("x")),
            "the number of samples of y": _rows(args.get("y")),
            "batch_size": _int_or_minus_one(args.get("batch_size", 32)),
            "epochs": _int_or_minus_one(args.get("epochs", 1)),
            "initial_epoch": _int_or_minus_one(args.get("initial_epoch", 0)),
            "the number of validation samples": (
                _rows(val[0]) if isinstance(val, (list, tuple)) and len(val) == 2 else -1
            ),
        }
    )
    # resolved against the module itself: named optimizers keep their state across calls
    args["optimizer"] = _resolve_optimizer(args["optimizer"], module)
    # the same permutation on every rank
    if args.get("shuffle", True) is True:
        gen = args.get("generator")
        if gen is None:
            seed = int(torch.randint(0, 2**62, (1,), dtype=torch.int64).item())  # as fit draws it
            args["generator"] = torch.Generator().manual_seed(_broadcast_int(seed))
        elif isinstance(gen, torch.Generator):
            _check_same_on_all_ranks({"the shuffling generator's state": _generator_digest(gen)})

    callbacks: list[Callback] = list(args.get("callbacks", ()))
    per_batch = bool(_all_reduce_ints([int(_may_stop_mid_epoch(callbacks))], dist.ReduceOp.MAX)[0])
    muted = [cb for cb in callbacks if _rank_zero_only(cb)] if rank != 0 else []
    if rank != 0:
        args["verbose"] = 0
    callbacks.append(_BatchStopSync() if per_batch else _StopSync())
    args["callbacks"] = callbacks
    if args.get("callback_model") is None:
        args["callback_model"] = module

    device_ids = [device.index] if device.type == "cuda" and device.index is not None else None
    # a collective: also the barrier before fit reads a checkpoint_dir that rank 0 wrote
    ddp = DistributedDataParallel(
        module, device_ids=device_ids, find_unused_parameters=find_unused_parameters
    )
    wrapper = _ShardedModule(module, ddp)
    for cb in muted:
        _mute(cb)
    try:
        history: History = fit(wrapper, **args)
    finally:
        for cb in muted:
            _unmute(cb)
        wrapper.release()
        del wrapper, ddp  # frees DDP's reducer (and its gradient hooks on the parameters)
    barrier()
    return history
