"""The ``torch.distributed`` environment: torchrun's variables, rank and world size, the
process group (:func:`init_distributed`, destroyed at exit), :func:`barrier` and the small
integer collectives the data-parallel ``fit`` uses to agree across ranks.
"""

from __future__ import annotations

import atexit
import datetime
import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.distributed as dist

from .heartbeat import ceiling, start_heartbeat

__all__ = [
    "all_reduce_ints",
    "barrier",
    "broadcast_int",
    "check_same_on_all_ranks",
    "env_int",
    "get_rank",
    "get_world_size",
    "init_distributed",
    "initialized",
    "is_rank_zero",
    "local_device",
    "shutdown",
    "under_torchrun",
]

_ENV_KEYS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


# --------------------------------------------------------------------------- environment
def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"expected ${name} to be an integer, got {value!r}") from None


def under_torchrun() -> bool:
    """Whether ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` are all set (as
    ``torchrun`` / :func:`launch` set them)."""
    return all(k in os.environ for k in _ENV_KEYS)


def initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """This process's global rank: the process group's, else ``$RANK``, else 0."""
    return dist.get_rank() if initialized() else env_int("RANK", 0)


def get_world_size() -> int:
    """Number of processes: the process group's, else ``$WORLD_SIZE``, else 1."""
    return dist.get_world_size() if initialized() else env_int("WORLD_SIZE", 1)


def is_rank_zero() -> bool:
    """True on the process that writes files and prints (rank 0; always True without
    ``torch.distributed``)."""
    return get_rank() == 0


def local_device() -> torch.device:
    """``cuda:$LOCAL_RANK`` when CUDA is available, else ``cpu``: where to put the model
    before ``fit`` so that every process on a node gets its own GPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", env_int("LOCAL_RANK", 0) % torch.cuda.device_count())
    return torch.device("cpu")


def shutdown() -> None:
    if initialized():
        dist.destroy_process_group()


def init_distributed(backend: str | None = None, device: torch.device | str | None = None) -> bool:
    """Initialise the default process group from the environment (``env://``) unless one
    exists. ``backend`` default: ``"nccl"`` when ``device`` is a CUDA device, else ``"gloo"``.
    Returns True when this call created the group (it is destroyed at interpreter exit). Its
    timeout is :func:`.heartbeat.ceiling` (10 minutes by default) until ``fit`` has measured
    its steps (:class:`.heartbeat.StepClock`); a worker started by ``launch`` starts its
    heartbeat here.

    Raises ValueError when the torchrun variables are missing.
    """
    if not dist.is_available():  # pragma: no cover - every supported build has it
        raise RuntimeError("torch.distributed is not available in this torch build")
    if dist.is_initialized():
        return False
    missing = [k for k in _ENV_KEYS if k not in os.environ]
    if missing:
        raise ValueError(
            "distributed training: expected to run under torchrun (or with RANK, WORLD_SIZE, "
            f"MASTER_ADDR and MASTER_PORT set), got no {', '.join(missing)}"
        )
    dev = torch.device("cpu") if device is None else torch.device(device)
    if backend is None:
        backend = "nccl" if dev.type == "cuda" else "gloo"
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"expected backend 'gloo' or 'nccl', got {backend!r}")
    start_heartbeat()
    timeout = datetime.timedelta(seconds=ceiling())
    if backend == "nccl":
        index = dev.index if dev.index is not None else env_int("LOCAL_RANK", 0)
        torch.cuda.set_device(index)
        dist.init_process_group(
            backend="nccl", init_method="env://", device_id=torch.device("cuda", index),
            timeout=timeout,
        )
    else:
        dist.init_process_group(backend=backend, init_method="env://", timeout=timeout)
    atexit.register(shutdown)
    return True


def _comm_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    """Wait for every rank (no-op without a process group)."""
    if not initialized():
        return
    if dist.get_backend() == "nccl":
        dist.barrier(device_ids=[torch.cuda.current_device()])
    else:
        dist.barrier()


def all_reduce_ints(values: Sequence[int], op: Any) -> list[int]:
    t = torch.tensor(list(values), dtype=torch.int64, device=_comm_device())
    dist.all_reduce(t, op=op)
    return [int(v) for v in t.tolist()]


def broadcast_int(value: int) -> int:
    t = torch.tensor([value], dtype=torch.int64, device=_comm_device())
    dist.broadcast(t, src=0)
    return int(t.item())


def check_same_on_all_ranks(named: Mapping[str, int]) -> None:
    """Raise ValueError (on every rank) when some value differs between ranks."""
    names = list(named)
    values = [named[k] for k in names]
    low = all_reduce_ints(values, dist.ReduceOp.MIN)
    high = all_reduce_ints(values, dist.ReduceOp.MAX)
    for name, lo, hi in zip(names, low, high, strict=True):
        if lo != hi:
            raise ValueError(
                f"distributed training: expected {name} to be the same on every rank, got values "
                f"from {lo} to {hi}"
            )
