"""Starting the processes of a distributed run on this machine: :func:`launch` (spawned
function targets, or ``python ARGV`` per rank watched by :class:`.supervisor.Workers`),
:func:`without_option` for re-executing a command line with more processes, and
:func:`torchrun_command` (the same run under ``torch.distributed.run``, e.g. for several
machines).
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch.multiprocessing as mp

from .env import shutdown
from .supervisor import Workers

__all__ = ["free_port", "launch", "torchrun_command", "without_option"]


# --------------------------------------------------------------------------- launching
def _check_nproc(nproc: Any) -> int:
    if isinstance(nproc, bool) or not isinstance(nproc, int):
        raise TypeError(f"expected nproc to be an int, got {type(nproc).__name__}")
    if nproc < 1:
        raise ValueError(f"expected nproc >= 1, got {nproc}")
    return nproc


def _check_argv(argv: Sequence[str]) -> list[str]:
    if isinstance(argv, (str, bytes)) or not all(isinstance(a, str) for a in argv):
        raise TypeError("expected argv as a sequence of str, e.g. ['-m', 'rnnkit.cli', 'train']")
    if not argv:
        raise ValueError("expected argv with a script or '-m module', got an empty sequence")
    return list(argv)


def torchrun_command(nproc: int, argv: Sequence[str]) -> list[str]:
    """``python -m torch.distributed.run --standalone --nnodes 1 --nproc-per-node N *argv``
    (``argv``: a script and its arguments, or ``["-m", "package.module", ...]``)."""
    nproc = _check_nproc(nproc)
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes",
        "1",
        "--nproc-per-node",
        str(nproc),
        *_check_argv(argv),
    ]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn_entry(
    local_rank: int,
    nproc: int,
    port: int,
    target: Callable[..., Any],
    args: tuple[Any, ...],
    env: dict[str, str],
) -> None:
    os.environ.update(env)
    os.environ.update(
        {
            "RANK": str(local_rank),
            "LOCAL_RANK": str(local_rank),
            "WORLD_SIZE": str(nproc),
            "LOCAL_WORLD_SIZE": str(nproc),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
    )
    try:
        target(*args)
    finally:
        shutdown()


def launch(
    nproc: int,
    target: Callable[..., Any] | Sequence[str],
    *,
    args: Sequence[Any] = (),
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    forward_stderr: bool = True,
) -> int:
    """Run ``nproc`` processes on this machine with torchrun's environment; returns 0 when all
    succeeded.

    ``target`` is either
      * argv: a script and its arguments, or ``["-m", "rnnkit.cli", "train", "config.toml"]``,
        run as ``python ARGV`` once per rank and watched (:mod:`.supervisor`): a rank that
        dies, fails or stops responding for its timeout (:func:`.heartbeat.scaled_timeout`)
        stops the others and raises :class:`~rnnkit.errors.WorkerFailedError` naming the rank
        and what happened. The workers' stderr is forwarded live with ``forward_stderr``, else
        written out only when they all succeeded (so that a failure is one line); or
      * a picklable top-level function, started in ``nproc`` spawned processes as
        ``target(*args)`` with ``RANK``/``LOCAL_RANK``/``WORLD_SIZE``/``MASTER_*`` set (an
        exception in any process is raised here).

    ``env`` adds environment variables; ``OMP_NUM_THREADS`` defaults to cores / nproc.
    ``timeout`` (seconds, argv targets only): stop the processes after that long and raise
    ``TimeoutError``.
    """
    nproc = _check_nproc(nproc)
    extra = {str(k): str(v) for k, v in (env or {}).items()}
    if "OMP_NUM_THREADS" not in os.environ and "OMP_NUM_THREADS" not in extra:
        extra["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    if callable(target):
        mp.spawn(
            _spawn_entry,
            args=(nproc, free_port(), target, tuple(args), extra),
            nprocs=nproc,
            join=True,
        )
        return 0
    if args:
        raise ValueError("launch: args go with a function target; put them in argv instead")
    if timeout is not None and (isinstance(timeout, bool) or not timeout > 0):
        raise ValueError(f"expected timeout > 0 seconds or None, got {timeout!r}")
    Workers(nproc, _check_argv(target), extra, free_port(), forward_stderr).wait(timeout)
    return 0


def without_option(argv: Sequence[str], option: str) -> list[str]:
    """``argv`` without ``option VALUE`` / ``option=VALUE`` (e.g. ``--nproc``), for
    re-executing a command line under torchrun."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == option:
            skip = True
            continue
        if arg.startswith(option + "="):
            continue
        out.append(arg)
    return out
