"""The data-parallel module: :class:`ShardedModule` takes the global batch, runs this rank's
rows (:func:`shard_bounds`) through ``DistributedDataParallel`` and all-gathers the outputs, so
the loop computes the one-process loss on every rank (see :mod:`rnnkit.training.distributed`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from ..weighting import output_mask

__all__ = ["ShardedModule", "shard_bounds", "shard_sizes"]


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


class ShardedModule(nn.Module):
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
        mask = output_mask(out)
        if empty:
            out = out[:0]
            mask = None if mask is None else mask[:0]
        if out.dim() == 0 or int(out.shape[0]) != hi - lo:
            raise ValueError(
                "distributed training: expected the module output to have the batch on axis 0 "
                f"({hi - lo} rows), got shape {tuple(out.shape)}"
            )
        result: Tensor = _GatherRows.apply(out, n, rank, world)
        if mask is not None:  # the output mask of every row, for the loss and metrics
            gathered = _GatherRows.apply(mask.to(out.dtype), n, rank, world)
            result._keras_mask = gathered > 0.5  # type: ignore[attr-defined]
        return result

    def train(self, mode: bool = True) -> ShardedModule:
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
