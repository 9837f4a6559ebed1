"""An rnnkit LSTM against ``nn.LSTM`` inside the same ``torch.compile``d model.

    python bench/compiled.py                 # W1 shapes: batch 32, 200 steps, 3 features, 32 units
    python bench/compiled.py --rounds 3

The model: the recurrent layer, then a Linear head on its last output, compiled with the default
(inductor) backend. rnnkit's LSTM is one ``rnnkit::fused_recurrence`` custom op in the graph;
``nn.LSTM`` cannot be captured in one graph. Columns: ``fullgraph``, whether
``torch.compile(fullgraph=True)`` compiles the model; ``graphs``, Dynamo's graph count from
``torch._dynamo.explain`` (0 where Dynamo runs the module eagerly); training, one step (forward
+ backward + Adam), median ms; inference, one forward under ``torch.no_grad()``, median ms.
Each round runs both models in turn in this process; the table gives the median over rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from rnnkit import layers


class Head(nn.Module):
    def __init__(self, rnn: nn.Module, units: int, torch_style: bool) -> None:
        super().__init__()
        self.rnn, self.linear, self.torch_style = rnn, nn.Linear(units, 4), torch_style

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.torch_style:
            return self.linear(self.rnn(x)[0][:, -1])  # nn.LSTM: (outputs, (h, c))
        return self.linear(self.rnn(x))  # rnnkit LSTM: the last output


def _median_ms(fn: Callable[[], Any], warmup: int, reps: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def _measure(model: nn.Module, x: torch.Tensor, y: torch.Tensor, warmup: int, reps: int) -> dict:
    compiled = torch.compile(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def train() -> None:
        opt.zero_grad()
        nn.functional.cross_entropy(compiled(x), y).backward()
        opt.step()

    def infer() -> None:
        with torch.no_grad():
            compiled(x)

    graphs = torch._dynamo.explain(model)(x).graph_count
    torch._dynamo.reset()
    try:
        torch.compile(model, fullgraph=True)(x)
        fullgraph = "yes"
    except Exception as exc:  # Dynamo's Unsupported, or whatever it raises on a graph break
        fullgraph = f"no ({type(exc).__name__})"
    torch._dynamo.reset()
    return {"train": _median_ms(train, warmup, reps), "infer": _median_ms(infer, warmup, reps),
            "graphs": graphs, "fullgraph": fullgraph}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--time", type=int, default=200)
    ap.add_argument("--features", type=int, default=3)
    ap.add_argument("--units", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=11)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", DeprecationWarning)  # torch's own, on importing inductor
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.time, args.features)
    y = torch.randint(0, 4, (args.batch,))
    rnnkit_lstm = layers.LSTM(args.units)
    rnnkit_lstm.ensure_built((None, None, args.features))
    models = {
        "rnnkit LSTM": Head(rnnkit_lstm, args.units, torch_style=False),
        "nn.LSTM": Head(nn.LSTM(args.features, args.units, batch_first=True), args.units, True),
    }
    runs: dict[str, list[dict]] = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            torch._dynamo.reset()
            runs[name].append(_measure(model, x, y, args.warmup, args.reps))
    shape = f"b{args.batch}, {args.time} x {args.features} -> {args.units}"
    threads = torch.get_num_threads()
    print(f"| model ({shape}, {threads} thread(s)) | fullgraph | graphs | train ms | infer ms |")
    print("|---|---|---|---|---|")
    for name, rs in runs.items():
        train = statistics.median(r["train"] for r in rs)
        infer = statistics.median(r["infer"] for r in rs)
        print(f"| {name} | {rs[0]['fullgraph']} | {rs[0]['graphs']} | {train:.1f} | {infer:.2f} |")


if __name__ == "__main__":
    main()
