"""Data-parallel training on ``torch.distributed`` with the one-process result.

``fit(..., distributed=True | "auto")`` (or ``fit_distributed``) under ``torchrun`` (env
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

Where the code lives: the environment and process group (:func:`init_distributed`, ranks,
:func:`barrier`, small collectives) in :mod:`.env`; the sharded DDP module in :mod:`.ddp`; the
rank-zero muting and stop synchronisation of the callbacks in :mod:`.sync`; the strategy
``fit`` runs through (:class:`DataParallel`) in :mod:`.data_parallel`; starting processes
(:func:`launch`) in :mod:`.launcher`. Every public name is importable from this package.
"""

from .data_parallel import DataParallel, wants_distributed
from .ddp import ShardedModule, shard_bounds, shard_sizes
from .env import (
    barrier,
    get_rank,
    get_world_size,
    init_distributed,
    is_rank_zero,
    local_device,
    under_torchrun,
)
from .launcher import launch, torchrun_command, without_option

__all__ = [
    "DataParallel",
    "ShardedModule",
    "barrier",
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
    "wants_distributed",
    "without_option",
]
