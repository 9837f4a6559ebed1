"""MinGRU training against rnnkit's fused GRU and PyTorch's nn.GRU.

One training step (forward, backward, Adam) of one recurrent layer returning sequences, at the
same units, batch and input features, for sequence lengths 64 to 4,096; MinGRU on its default
engine on CPU (the fused numba kernels) and on the log-space parallel scan ("scan"). The models
take turns:
every round runs every (length, model) pair once (one warm-up step, then the median of
``--reps`` timed steps), and the table holds the median over the rounds, so that a change in the
machine's load hits all models alike.

    python bench/mingru.py --threads 2 --rounds 3 --reps 3 --torch-max-length 1024 --torch-reps 1 \
        --scan-max-length 512
    python bench/mingru.py --threads 1 --clock cpu   # CPU time of the one thread: on a loaded
                                                     # machine, the work without the waiting
    python bench/mingru.py ... --write bench/RESULTS.md   # also replace its table there
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from rnnkit import layers

Step = Callable[[], None]


def _trainer(
    module: nn.Module, x: torch.Tensor, run: Callable[[torch.Tensor], torch.Tensor]
) -> Step:
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = run(x).square().mean()
        loss.backward()
        opt.step()

    return step


def make_steps(batch: int, time_steps: int, features: int, units: int) -> dict[str, Step]:
    """One training step per model, on the same random input."""
    torch.manual_seed(0)
    x = torch.randn(batch, time_steps, features)
    mingru = layers.MinGRU(units, return_sequences=True)
    mingru_scan = layers.MinGRU(units, return_sequences=True, engine="scan")
    gru = layers.GRU(units, return_sequences=True)
    for layer in (mingru, mingru_scan, gru):
        layer.ensure_built((None, time_steps, features))
    torch_gru = nn.GRU(features, units, batch_first=True)
    return {
        "MinGRU (fused)": _trainer(mingru, x, mingru),
        "MinGRU (scan)": _trainer(mingru_scan, x, mingru_scan),
        "GRU (rnnkit fused)": _trainer(gru, x, gru),
        "nn.GRU": _trainer(torch_gru, x, lambda v: torch_gru(v)[0]),
    }


def median_ms(step: Step, reps: int, clock: Callable[[], float] = time.perf_counter) -> float:
    step()  # warm-up (and the JIT's first compile)
    times = []
    for _ in range(reps):
        start = clock()
        step()
        times.append((clock() - start) * 1000.0)
    return statistics.median(times)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="64,128,256,512,1024,2048,4096")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall", help="cpu: the thread's CPU time"
    )
    parser.add_argument(
        "--torch-max-length", type=int, default=4096, help="skip nn.GRU above this length"
    )
    parser.add_argument("--torch-reps", type=int, default=0, help="nn.GRU's reps (0: --reps)")
    parser.add_argument(
        "--scan-max-length", type=int, default=1024, help="skip MinGRU (scan) above this length"
    )
    parser.add_argument(
        "--write", type=Path, help="also replace the table's marked section of this markdown file"
    )
    return parser


def _measure(
    args: argparse.Namespace, lengths: list[int], clock: Callable[[], float]
) -> dict[tuple[int, str], list[float]]:
    """Every (length, model) pair's median step time per round, the models taking turns."""
    results: dict[tuple[int, str], list[float]] = {}
    for r in range(args.rounds):
        for t in lengths:
            steps = make_steps(args.batch, t, args.features, args.units)
            for name, step in steps.items():
                reps = args.reps
                if name == "MinGRU (scan)" and t > args.scan_max_length:
                    continue
                if name == "nn.GRU":
                    if t > args.torch_max_length:
                        continue
                    reps = args.torch_reps or args.reps
                results.setdefault((t, name), []).append(median_ms(step, reps, clock))
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    return results


def _table(
    results: dict[tuple[int, str], list[float]], lengths: list[int], names: list[str]
) -> list[str]:
    header = [
        "steps",
        *(f"{n} ms" for n in names),
        "scan / fused MinGRU",
        "fused GRU / MinGRU",
        "nn.GRU / MinGRU",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for t in lengths:
        ms = {n: statistics.median(results[(t, n)]) for n in names if (t, n) in results}
        cells = [f"{ms[n]:.1f}" if n in ms else "n/a" for n in names]
        base = ms[names[0]]
        ratios = [f"{ms[n] / base:.1f}x" if n in ms else "n/a" for n in names[1:]]
        lines.append("| " + " | ".join([str(t), *cells, *ratios]) + " |")
    return lines


def write_section(path: Path, text: str) -> None:
    """Replace (or append) this script's marked block of ``path``."""
    begin, end = "<!-- bench/mingru.py table begin -->", "<!-- bench/mingru.py table end -->"
    old = path.read_text() if path.exists() else ""
    block = f"{begin}\n{text}\n{end}"
    if begin in old and end in old:
        new = old[: old.index(begin)] + block + old[old.index(end) + len(end) :]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(new)


def main() -> None:
    parser = _parser()
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.clock == "cpu" and args.threads != 1:
        parser.error(
            f"expected --threads 1 with --clock cpu (one thread's time), got {args.threads}"
        )
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    lengths = [int(v) for v in args.lengths.split(",")]
    load_before = os.getloadavg()
    results = _measure(args, lengths, clock)
    load_after = os.getloadavg()
    names = list(make_steps(args.batch, 4, args.features, args.units))
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    caption = (
        f"`python bench/mingru.py {' '.join(sys.argv[1:])}` ({stamp}): "
        f"batch {args.batch}, {args.features} features, {args.units} units, "
        f"{args.threads} threads, {args.clock} clock; median of {args.reps} steps, "
        f"median over {args.rounds} rounds; "
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}; load average "
        f"before {load_before[0]:.1f}, after {load_after[0]:.1f}"
    )
    lines = _table(results, lengths, names)
    print("\n" + caption + "\n")
    print("\n".join(lines))
    if args.write:
        write_section(args.write, caption + "\n\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
