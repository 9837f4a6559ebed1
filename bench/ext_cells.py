"""LayerNormLSTM/GRU, zoneout and LSTM projection: the reference loop against the fused CPU
engine (its split kernels, ``kernels/_fused_ext.py``), and the plain fused LSTM/GRU beside them.

One training step (forward, backward, Adam) and one inference call of one recurrent layer
returning sequences, batch 32, 64 features, 128 units (``--units``), 100 steps. The engines take
turns: every round runs every (layer, engine) pair (one warm-up, then the median of ``--reps``
timed calls), and the table holds the median over the rounds, so that a change in the
machine's load hits all alike.

    python bench/ext_cells.py --threads 2 --rounds 3
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch

from rnnkit import layers

Call = Callable[[], None]

LAYERS: dict[str, Callable[[int], layers.RNN]] = {
    "LayerNormLSTM": lambda u: layers.LayerNormLSTM(u, return_sequences=True),
    "LayerNormGRU": lambda u: layers.LayerNormGRU(u, return_sequences=True),
    "LSTM zoneout=0.1": lambda u: layers.LSTM(u, zoneout=0.1, return_sequences=True),
    "GRU zoneout=0.1": lambda u: layers.GRU(u, zoneout=0.1, return_sequences=True),
    "LSTM proj_size=u/2": lambda u: layers.LSTM(u, proj_size=u // 2, return_sequences=True),
    "LSTM (plain)": lambda u: layers.LSTM(u, return_sequences=True),
    "GRU (plain)": lambda u: layers.GRU(u, return_sequences=True),
}


def _calls(
    make: Callable[[int], layers.RNN], engine: str, x: torch.Tensor, units: int
) -> tuple[Call, Call]:
    torch.manual_seed(0)
    layer = make(units)
    layer.engine = engine
    layer.ensure_built(tuple(x.shape))
    opt = torch.optim.Adam(layer.parameters(), lr=1e-3)

    def train() -> None:
        layer.train()
        opt.zero_grad(set_to_none=True)
        layer(x).square().mean().backward()
        opt.step()

    def infer() -> None:
        layer.eval()
        with torch.no_grad():
            layer(x)

    return train, infer


def _time(fn: Call, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--time", type=int, default=100)
    ap.add_argument("--units", type=int, default=128)
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--no-loop", action="store_true", help="fused only (the loop is slow)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.randn(args.batch, args.time, args.features)
    engines = ("fused",) if args.no_loop else ("loop", "fused")
    calls = {
        (n, e): _calls(m, e, x, args.units) for n in LAYERS for e in engines for m in [LAYERS[n]]
    }
    results: dict[tuple[str, str, str], list[float]] = {}
    for _ in range(args.rounds):
        for (name, engine), (train, infer) in calls.items():
            results.setdefault((name, engine, "train"), []).append(_time(train, args.reps))
            results.setdefault((name, engine, "infer"), []).append(_time(infer, args.reps))
    print(
        f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{args.threads} threads; batch {args.batch}, time {args.time}, "
        f"features {args.features}, units {args.units}; ms, median of {args.rounds} rounds"
    )
    head = "| layer | " + " | ".join(f"{e} train | {e} infer" for e in engines)
    print(head + (" | train speed-up | infer speed-up |" if len(engines) == 2 else " |"))
    print("|" + "---|" * (1 + 2 * len(engines) + (2 if len(engines) == 2 else 0)))
    for name in LAYERS:
        ms = {
            (e, k): 1e3 * statistics.median(results[(name, e, k)])
            for e in engines
            for k in ("train", "infer")
        }
        row = f"| {name} | " + " | ".join(
            f"{ms[(e, 'train')]:.1f} | {ms[(e, 'infer')]:.1f}" for e in engines
        )
        if len(engines) == 2:
            row += (
                f" | {ms[('loop', 'train')] / ms[('fused', 'train')]:.1f}x"
                f" | {ms[('loop', 'infer')] / ms[('fused', 'infer')]:.1f}x"
            )
        print(row + " |")


if __name__ == "__main__":
    main()
