"""The callbacks of a data-parallel run: the hooks of rank-zero-only callbacks
(``ModelCheckpoint``, ``CSVLogger``, anything with ``rank_zero_only = True``) become no-ops on
the other ranks (:func:`mute` / :func:`unmute`), and :class:`StopSync` / :class:`BatchStopSync`
OR the stop requests over the ranks (per epoch, or per batch when a callback may stop
mid-epoch, :func:`may_stop_mid_epoch`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch.distributed as dist

from ..callbacks import Callback, CSVLogger, History, ModelCheckpoint
from .env import all_reduce_ints, barrier

__all__ = ["BatchStopSync", "StopSync", "may_stop_mid_epoch", "mute", "rank_zero_only", "unmute"]

_STOP_HOOKS = (
    "on_train_begin",
    "on_epoch_begin",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_batch_begin",
    "on_batch_end",
)


def rank_zero_only(cb: Callback) -> bool:
    flag = getattr(cb, "rank_zero_only", None)
    if flag is not None:
        return bool(flag)
    return isinstance(cb, (ModelCheckpoint, CSVLogger))


def may_stop_mid_epoch(callbacks: Sequence[Callback]) -> bool:
    """Whether a callback that may run on every rank overrides a hook from which a stop
    request is seen only after the next batch."""
    return any(
        getattr(type(cb), hook) is not getattr(Callback, hook)
        for cb in callbacks
        if not isinstance(cb, History) and not rank_zero_only(cb)
        for hook in _STOP_HOOKS
    )


_HOOKS = tuple(name for name in vars(Callback) if name.startswith("on_"))


def _no_op(*args: Any, **kwargs: Any) -> None:
    return None


def mute(cb: Callback) -> None:
    """Turn every hook of ``cb`` into a no-op (instance attributes shadow the class's hooks;
    the callback keeps its class and ``state_dict``, so checkpoints match on every rank)."""
    for name in _HOOKS:
        setattr(cb, name, _no_op)


def unmute(cb: Callback) -> None:
    for name in _HOOKS:
        cb.__dict__.pop(name, None)


class StopSync(Callback):
    """Last callback of a distributed run: ORs the stop flag over the ranks at every epoch
    end (which also makes it a barrier after rank 0's checkpoints) and waits for every rank at
    the end of training."""

    def _sync(self) -> None:
        state = self.state
        if state is None:  # pragma: no cover - the loop always attaches a state
            return
        if all_reduce_ints([int(state.should_stop())], dist.ReduceOp.MAX)[0]:
            state.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._sync()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        barrier()


class BatchStopSync(StopSync):
    """:class:`StopSync` that also ORs the stop flag after every batch."""

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._sync()
