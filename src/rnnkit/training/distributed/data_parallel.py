"""The data-parallel :class:`~rnnkit.training.strategy.Strategy`: :class:`DataParallel` joins
(or creates) the process group, makes every rank see the same run (same samples, batches,
epochs and shuffling permutation), wraps the module in a :class:`ShardedModule` and runs the
one-process loop on it; :func:`wants_distributed` reads ``fit``'s ``distributed`` argument.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..batches import module_device_dtype
from ..callbacks import Callback, History
from ..optimizers import resolve_optimizer
from ..options import FitOptions, check_module
from ..strategy import LoopFn, Strategy
from .ddp import ShardedModule
from .env import (
    all_reduce_ints,
    barrier,
    broadcast_int,
    check_same_on_all_ranks,
    env_int,
    init_distributed,
    initialized,
    under_torchrun,
)
from .heartbeat import StepClock
from .sync import BatchStopSync, StopSync, may_stop_mid_epoch, mute, rank_zero_only, unmute

__all__ = ["DataParallel", "wants_distributed"]


def wants_distributed(distributed: Any) -> bool:
    """``fit``'s ``distributed``: True, False, or "auto" (only when the world size is > 1)."""
    if distributed is False:
        return False
    if distributed is True:
        return True
    if distributed == "auto":
        if initialized():
            return dist.get_world_size() > 1
        return under_torchrun() and env_int("WORLD_SIZE", 1) > 1
    raise ValueError(f"expected distributed to be True, False or 'auto', got {distributed!r}")


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


def _check_same_run(x: Any, y: Any, o: FitOptions) -> None:
    """Every rank must see the same run: same samples, batches and epochs."""
    val = o.validation_data
    check_same_on_all_ranks(
        {
            "the number of samples of x": _rows(x),
            "the number of samples of y": _rows(y),
            "batch_size": _int_or_minus_one(o.batch_size),
            "epochs": _int_or_minus_one(o.epochs),
            "initial_epoch": _int_or_minus_one(o.initial_epoch),
            "the number of validation samples": (
                _rows(val[0]) if isinstance(val, (list, tuple)) and len(val) == 2 else -1
            ),
        }
    )


def _shared_generator(o: FitOptions) -> torch.Generator | None:
    """The same shuffling permutation on every rank: rank 0's seed, or a given generator
    checked to be in the same state everywhere."""
    gen = o.generator
    if o.shuffle is not True:
        return gen
    if gen is None:
        seed = int(torch.randint(0, 2**62, (1,), dtype=torch.int64).item())  # as fit draws it
        return torch.Generator().manual_seed(broadcast_int(seed))
    if isinstance(gen, torch.Generator):
        check_same_on_all_ranks({"the shuffling generator's state": _generator_digest(gen)})
    return gen


class DataParallel(Strategy):
    """Data-parallel training over ``torch.distributed`` with the one-process result (see
    :mod:`rnnkit.training.distributed`). ``find_unused_parameters`` goes to
    ``DistributedDataParallel`` (needed when some parameters get no gradient in a step)."""

    def __init__(self, find_unused_parameters: bool = False) -> None:
        if not isinstance(find_unused_parameters, bool):
            raise TypeError(
                "expected find_unused_parameters to be a bool, got "
                f"{type(find_unused_parameters).__name__}"
            )
        self.find_unused_parameters = find_unused_parameters

    def fit(self, module: nn.Module, x: Any, y: Any, options: FitOptions, loop: LoopFn) -> History:
        module = check_module(module)
        device, _ = module_device_dtype(module)
        init_distributed(device=device)
        rank = dist.get_rank()
        _check_same_run(x, y, options)
        callbacks: list[Callback] = list(options.callbacks)
        per_batch = bool(
            all_reduce_ints([int(may_stop_mid_epoch(callbacks))], dist.ReduceOp.MAX)[0]
        )
        muted = [cb for cb in callbacks if rank_zero_only(cb)] if rank != 0 else []
        options = dataclasses.replace(
            options,
            # resolved against the module itself: named optimizers keep their state across calls
            optimizer=resolve_optimizer(options.optimizer, module),
            generator=_shared_generator(options),
            verbose=options.verbose if rank == 0 else 0,
            callbacks=[*callbacks, BatchStopSync() if per_batch else StopSync(), StepClock()],
            callback_model=module if options.callback_model is None else options.callback_model,
        )
        device_ids = [device.index] if device.type == "cuda" and device.index is not None else None
        # a collective: also the barrier before fit reads a checkpoint_dir that rank 0 wrote
        ddp = DistributedDataParallel(
            module, device_ids=device_ids, find_unused_parameters=self.find_unused_parameters
        )
        wrapper = ShardedModule(module, ddp)
        for cb in muted:
            mute(cb)
        try:
            history = loop(wrapper, x, y, options)
        finally:
            for cb in muted:
                unmute(cb)
            wrapper.release()
            del wrapper, ddp  # frees DDP's reducer (and its gradient hooks on the parameters)
        barrier()
        return history
