"""Multi-process training for the CLI: re-run a command under torch.distributed on this machine."""

from __future__ import annotations

from collections.abc import Sequence

from .. import training


def distributed_rank() -> int | None:
    """This process's rank when launched by torchrun (``None`` when not distributed)."""
    return training.get_rank() if training.under_torchrun() else None


def launch_distributed(nproc: int, argv: Sequence[str]) -> int:
    """Run ``python -m rnnkit.cli ARGV`` (without ``--nproc``) in ``nproc`` processes.

    Returns the exit status (0 when every process succeeded). Each process trains its share of
    every global batch with DistributedDataParallel; rank 0 writes the run folder.
    """
    args = ["-m", "rnnkit.cli", *training.without_option(list(argv), "--nproc")]
    return training.launch(nproc, args)
