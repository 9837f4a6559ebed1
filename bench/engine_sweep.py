"""Inference time of PyTorch's own op ("torch" engine, oneDNN) over the fused kernels, per cell.

Run from the repository root:  PYTHONPATH=src python bench/engine_sweep.py [--threads 1 2]

Prints, per (time steps, features, units) shape and batch size, the ratio
``time(torch engine) / time(fused engine)`` of one float32 layer call under
``torch.inference_mode()``: above 1 the fused kernels are faster. The automatic dispatch's
inference rule (``rnnkit.kernels._plan._native_inference_wins``) is read off this table.
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable

import torch

from rnnkit import layers

SHAPES = [(200, 3, 32), (200, 32, 32), (33, 1, 64), (28, 28, 128), (100, 64, 256)]
BATCHES = (8, 32, 64, 128, 256)
CELLS = {"lstm": layers.LSTM, "gru": layers.GRU, "simple_rnn": layers.SimpleRNN}


def best_us(fn: Callable[[], object], number: int = 20) -> float:
    with torch.inference_mode():
        for _ in range(3):
            fn()
        return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def sweep(cell: str, threads: int) -> list[str]:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    lines = []
    for time, features, units in SHAPES:
        ratios = []
        for batch in BATCHES:
            x = torch.randn(batch, time, features)
            fused = CELLS[cell](units, engine="fused")
            fused(x)
            native = CELLS[cell](units, engine="torch")
            native(x)
            native.load_state_dict(fused.state_dict())
            fused.eval()
            native.eval()
            ratio = best_us(lambda n=native, x=x: n(x)) / best_us(lambda f=fused, x=x: f(x))
            ratios.append(f"{ratio:.2f}")
        shape = f"{time} x {features} -> {units}"
        lines.append(f"| {cell} | {threads} | {shape} | " + " | ".join(ratios) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--cells", nargs="+", default=list(CELLS), choices=list(CELLS))
    args = ap.parse_args()
    batches = " | ".join(f"b{b}" for b in BATCHES)
    print(f"| cell | threads | time x features -> units | {batches} |")
    print("|---|---|---|" + "---|" * len(BATCHES))
    for cell in args.cells:
        for threads in args.threads:
            for line in sweep(cell, threads):
                print(line, flush=True)


if __name__ == "__main__":
    main()
