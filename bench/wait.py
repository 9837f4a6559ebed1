"""Why a training step slows on a busy machine: how torch's OpenMP threads wait (issue 17).

    python bench/wait.py                     # W1 LSTM/GRU/SimpleRNN b32, about 2 minutes idle
    python bench/wait.py --write bench/RESULTS.md

In one process, idle and with one ``while True`` process started here, the training step runs
four ways, alternated step group by step group so that they see the same load:

* ``spinning``: libgomp's own waits (its threads spin about 3 ms before they sleep), rnnkit's
  wait and thread policies off (every call split over all threads): what torch does;
* ``sleeping``: spin count 0 (threads sleep at once), the policies off;
* ``adaptive``: rnnkit's default (``kernels/_wait.py``: sleeping while the run delay says other
  work holds the cores);
* ``1 thread``: torch on one thread (no OpenMP region at all): whether one thread alone slows
  when the other core is busy (vCPUs that share a physical core would show it here).

Per way: the median wall time of a step, the CPU time of the whole process per step (all
threads: a spinning thread burns CPU while it waits) and the run delay (the time this
process's threads were ready but waited for a core) per step.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from load import load, workload, write_section  # noqa: E402

LOADS = ["idle", "one busy core"]


def ways(train: Callable[[], object]) -> dict[str, Callable[[], None]]:
    import torch

    from rnnkit.kernels import _omp, _threads, _wait

    spin = _omp.spin_count()
    full = torch.get_num_threads()

    def way(spins: int | None, threads: int) -> Callable[[], None]:
        def run() -> None:
            torch.set_num_threads(threads)
            _threads.POLICY.enabled = _wait.WAIT.enabled = spins is None  # fixed ways: all off
            if spin is not None and spins is not None:
                spin.value = spins
            try:
                train()
            finally:
                _threads.POLICY.enabled = _wait.WAIT.enabled = True
                torch.set_num_threads(full)

        return run

    out = {"adaptive": way(None, full), "1 thread": way(_omp.DEFAULT_SPINS, 1)}
    if spin is not None:  # no libgomp to steer (portable mode, another OpenMP): adaptive only
        out["spinning"] = way(_omp.DEFAULT_SPINS, full)
        out["sleeping"] = way(0, full)
    return out


def delay_ns() -> int:
    from rnnkit.kernels import _wait

    return sum((_wait.run_delays() or {}).values())


def measure(fns: dict[str, Callable[[], None]], rounds: int, per: int) -> dict[str, list[float]]:
    """Per way: median wall ms, CPU ms and run delay ms per step."""
    got: dict[str, list[tuple[float, float, float]]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            fn()  # the switch of way settles
            for _ in range(per):
                d, c, t = delay_ns(), time.process_time(), time.perf_counter()
                fn()
                wall = time.perf_counter() - t
                got[k].append((wall, time.process_time() - c, (delay_ns() - d) * 1e-9))
    return {k: [statistics.median(x[i] for x in v) * 1e3 for i in range(3)] for k, v in got.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--names", default="W1 LSTM b32,W1 GRU b32,W1 SimpleRNN b32")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--per-round", type=int, default=5)
    ap.add_argument("--write", type=Path, help="replace this section of a markdown file")
    a = ap.parse_args(argv)
    from workloads import build_rnnkit

    from rnnkit.kernels import threads_chosen

    stamp = (f"bench/wait.py: {platform.machine()}, {os.cpu_count()} cores, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")  # fmt: skip
    lines = ["### How threads wait, and the step under load (median per step)", "", f"({stamp}.)",
             "", "| workload | load | way | wall | CPU (all threads) | run delay |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for name in a.names.split(","):
        steps = build_rnnkit(workload(name.strip()))
        for _ in range(3):
            steps.train()
        for kind in LOADS:
            with load(kind, name):
                res = measure(ways(steps.train), a.rounds, a.per_round)
            for way, (wall, cpu, delay) in res.items():
                lines.append(f"| {name} | {kind} | {way} | {wall:.2f} ms | {cpu:.2f} ms | "
                             f"{delay:.2f} ms |")  # fmt: skip
            lines.append(f"| {name} | {kind} | adaptive chose | {threads_chosen()} | | |")
            print("\n".join(lines[-len(res) - 1 :]), flush=True)
    text = "\n".join(lines) + "\n"
    if a.write:
        write_section(a.write, "wait", text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
