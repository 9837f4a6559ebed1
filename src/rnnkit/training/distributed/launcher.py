"""Starting the processes of a distributed run on this machine: :func:`launch` (spawned
function targets or a ``torch.distributed.run`` subprocess), :func:`torchrun_command` and
:func:`without_option` for re-executing a command line under torchrun.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch.multiprocessing as mp

from .env import shutdown

__all__ = ["free_port", "launch", "torchrun_command", "without_option"]


# --------------------------------------------------------------------------- launching
def _check_nproc(nproc: Any) -> int:
    if isinstance(nproc, bool) or not isinstance(nproc, int):
        raise TypeError(f"expected nproc to be an int, got {type(nproc).__name__}")
    if nproc < 1:
        raise ValueError(f"expected nproc >= 1, got {nproc}")
    return nproc


def torchrun_command(nproc: int, argv: Sequence[str]) -> list[str]:
    """``python -m torch.distributed.run --standalone --nnodes 1 --nproc-per-node N *argv``
    (``argv``: a script and its arguments, or ``["-m", "package.module", ...]``)."""
    nproc = _check_nproc(nproc)
    if isinstance(argv, (str, bytes)) or not all(isinstance(a, str) for a in argv):
        raise TypeError("expected argv as a sequence of str, e.g. ['-m', 'rnnkit.cli', 'train']")
    if not argv:
        raise ValueError("expected argv with a script or '-m module', got an empty sequence")
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes",
        "1",
        "--nproc-per-node",
        str(nproc),
        *argv,
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
) -> int:
    """Run ``nproc`` processes on this machine with torchrun's environment and return the
    exit status (0: all succeeded).

    ``target`` is either
      * argv for ``torch.distributed.run`` (a script and its arguments, or
        ``["-m", "rnnkit.cli", "train", "config.toml"]``): run as a subprocess; or
      * a picklable top-level function, started in ``nproc`` spawned processes as
        ``target(*args)`` with ``RANK``/``LOCAL_RANK``/``WORLD_SIZE``/``MASTER_*`` set (an
        exception in any process is raised here).

    ``env`` adds environment variables; ``OMP_NUM_THREADS`` defaults to cores / nproc.
    ``timeout`` (seconds, argv targets only): stop torchrun and its processes after that long
    and raise ``TimeoutError`` (a rank that fails makes torchrun stop the others anyway).
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
    cmd = torchrun_command(nproc, target)
    proc = subprocess.Popen(cmd, env={**os.environ, **extra})
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        raise TimeoutError(
            f"launch: the {nproc} processes did not finish within {timeout} s; stopped them"
        ) from None
    except BaseException:
        _stop(proc)
        raise


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to torchrun (it stops its workers), SIGKILL if it does not exit in 30 s."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


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
