"""Multi-process training for the CLI: re-run a command under torch.distributed on this machine."""

from __future__ import annotations

import os
from collections.abc import Sequence

from .. import training


def distributed_rank() -> int | None:
    """This process's rank when launched by torchrun (``None`` when not distributed)."""
    return training.get_rank() if training.under_torchrun() else None


def launch_distributed(nproc: int, argv: Sequence[str]) -> int:
    """Run ``python -m rnnkit.cli ARGV`` (without ``--nproc``) in ``nproc`` processes.

    Returns 0 when every process succeeded. Each process trains its share of every global batch
    with DistributedDataParallel; rank 0 writes the run folder. A rank that dies, fails or
    stalls stops the job with :class:`~rnnkit.errors.WorkerFailedError` (one line); the
    workers' stderr (their tracebacks) is shown live only with ``--debug``.
    """
    args = ["-m", "rnnkit.cli", *training.without_option(list(argv), "--nproc")]
    debug = "--debug" in argv or os.environ.get("RNNKIT_DEBUG", "") not in ("", "0")
    return training.launch(nproc, args, forward_stderr=debug)
