"""A target for ``rnnkit.training.launch(nproc, function)`` (spawned processes)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist

from rnnkit import training


def all_reduce_ranks(out_dir: str) -> None:
    """Each rank joins the group from the environment ``launch`` set and writes
    ``rank world sum(rank + 1)`` to ``out_dir/rank-R.txt``."""
    created = training.init_distributed()
    t = torch.tensor([training.get_rank() + 1], dtype=torch.int64)
    dist.all_reduce(t)
    line = f"{created} {training.get_rank()} {training.get_world_size()} {int(t.item())}"
    (Path(out_dir) / f"rank-{training.get_rank()}.txt").write_text(line)


def fail_on_rank_one() -> None:
    if training.get_rank() == 1:
        raise RuntimeError("rank one fails")
