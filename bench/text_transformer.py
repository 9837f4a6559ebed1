"""The Shakespeare demo against a small character transformer (nanoGPT's CPU recipe, torch's
own modules), for the same wall time on the same split and cores: held-out bits per character.

Split: ``rnnkit.datasets.load_shakespeare()``; the last 10 % is held out (as
``rnnkit demo shakespeare``), both models train on the rest (the demo keeps the last 5 % of
that for early stopping). RNN: ``rnnkit demo shakespeare`` itself (its model and time budget);
its training seconds are the transformer's budget. Transformer: nanoGPT's "baby GPT" for CPUs
(``train_shakespeare_char.py`` with ``--block_size=64 --batch_size=12 --n_layer=4 --n_head=4
--n_embd=128 --dropout=0.0``): character embedding + learned positions, 4 pre-norm
``nn.TransformerEncoderLayer`` (d_model 128, 4 heads, feed forward 512) under a causal mask, a
linear head; AdamW (betas 0.9/0.99, weight decay 0.1 on matrices), gradient clipping 1.0, the
learning rate warmed up over 100 steps and then cosine-decayed from 1e-3 to 1e-4 over the
time budget (nanoGPT decays over its iterations). Held-out score: mean cross-entropy of every
held-out character read in consecutive blocks of ``context`` characters (each sees the previous
ones of its block, as nanoGPT evaluates); the demo reads the held-out text as one stream.

Usage (times are wall clock; say if the machine was loaded)::

    python bench/text_transformer.py --threads 2               # both (~21 min), the table
    python bench/text_transformer.py --model rnn --results text.jsonl          # ~10 min
    python bench/text_transformer.py --model transformer --results text.jsonl  # ~10 min,
    python bench/text_transformer.py --table text.jsonl        # the demo's seconds; table
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.datasets import load_shakespeare
from rnnkit.tasks import DEMOS

HELDOUT = 0.1
DEMO_MODEL = "rnnkit demo shakespeare"


class CharTransformer(nn.Module):
    """Embedding + positions -> causal pre-norm transformer encoder -> logits."""

    def __init__(self, vocab: int, context: int, width: int = 128, layers: int = 4,
                 heads: int = 4) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab, width)
        self.positions = nn.Embedding(context, width)
        block = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab)

    def forward(self, ids: Tensor) -> Tensor:
        steps = ids.shape[1]
        h = self.tokens(ids) + self.positions(torch.arange(steps))  # (batch, steps, width)
        causal = nn.Transformer.generate_square_subsequent_mask(steps)
        return self.head(self.norm(self.body(h, mask=causal, is_causal=True)))  # (b, s, vocab)


def heldout_bits(model: CharTransformer, ids: np.ndarray, context: int) -> float:
    """Bits per character of ``ids[1:]`` read in blocks of ``context`` characters."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(ids) - 1, context * 64):
            chunk = ids[start : start + context * 64 + 1]
            n = (len(chunk) - 1) // context * context
            if n == 0:
                break
            x = torch.from_numpy(chunk[:n].reshape(-1, context))  # (blocks, context)
            y = torch.from_numpy(chunk[1 : n + 1].reshape(-1, context))
            logits = model(x)  # (blocks, context, vocab)
            total += float(nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                       y.reshape(-1), reduction="sum"))
            count += n
    model.train()
    return total / count / math.log(2.0)


def learning_rate(step: int, progress: float, base: float = 1e-3, floor: float = 1e-4,
                  warmup: int = 100) -> float:
    """nanoGPT's schedule: linear warm-up over ``warmup`` steps, then a cosine from ``base``
    to ``floor`` over the budget (``progress``: the fraction of the time budget used)."""
    if step < warmup:
        return base * (step + 1) / warmup
    return floor + 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))) * (base - floor)


def _optimizer(model: nn.Module) -> torch.optim.AdamW:
    """AdamW as nanoGPT configures it: weight decay on the matrices only."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.99))


def train_transformer(seconds: float, context: int, batch: int, seed: int) -> dict[str, Any]:
    """Train the transformer on the demo's split for ``seconds``; its held-out figures."""
    torch.manual_seed(seed)
    text = load_shakespeare()
    chars = sorted(set(text))
    lookup = {c: i for i, c in enumerate(chars)}
    ids = np.array([lookup[c] for c in text], dtype=np.int64)
    split = len(ids) - math.floor(HELDOUT * len(ids))
    train, held = ids[:split], ids[split:]
    model = CharTransformer(len(chars), context)
    opt = _optimizer(model)
    rng = np.random.default_rng(seed)
    start, steps = time.perf_counter(), 0
    while (used := time.perf_counter() - start) < seconds:
        for group in opt.param_groups:
            group["lr"] = learning_rate(steps, used / seconds)
        at = rng.integers(0, len(train) - context - 1, size=batch)
        x = torch.from_numpy(np.stack([train[i : i + context] for i in at]))  # (batch, ctx)
        y = torch.from_numpy(np.stack([train[i + 1 : i + context + 1] for i in at]))
        logits = model(x)  # (batch, context, vocab)
        loss = nn.functional.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps += 1
    trained = time.perf_counter() - start
    return {"model": f"char transformer 4x128, context {context}, batch {batch} (torch "
                     "modules, nanoGPT CPU recipe)",
            "train_seconds": round(trained, 1), "steps": steps,
            "chars_per_second": round(steps * batch * context / trained),
            "heldout_bits_per_char": round(heldout_bits(model, held, context), 3),
            "params": sum(p.numel() for p in model.parameters())}


def train_demo(quick: bool = False) -> dict[str, Any]:
    """``rnnkit demo shakespeare`` (its model, budget and split; ``quick``: the demo's
    ``--quick`` run, a smoke test); its held-out figures."""
    with tempfile.TemporaryDirectory() as folder:
        run = DEMOS["shakespeare"].runner(Path(folder), quick, 0)
    m = run.metrics
    return {"model": DEMO_MODEL, "train_seconds": round(m["train_seconds"], 1),
            "steps": None, "chars_per_second": None,
            "heldout_bits_per_char": round(m["bits_per_char"], 3), "params": None}


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table."""
    lines = ["| model | threads | train s | steps | chars/s | held-out bits/char | params |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [r["model"], r["threads"], r["train_seconds"], r["steps"],
                 r["chars_per_second"], f"**{r['heldout_bits_per_char']:.3f}**", r["params"]]
        lines.append("| " + " | ".join("" if c is None else str(c) for c in cells) + " |")
    return "\n".join(lines)


def _demo_seconds(results: Path) -> float | None:
    """The training seconds of the last demo row of a results file (None without one)."""
    rows = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    demo = [r for r in rows if r["model"] == DEMO_MODEL]
    return float(demo[-1]["train_seconds"]) if demo else None


def _machine() -> str:
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {load}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", choices=("both", "rnn", "transformer"), default="both")
    parser.add_argument("--seconds", type=float, default=None,
                        help="the transformer's budget (default: the demo's training seconds)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="the demo's --quick run (a smoke test of this script)")
    parser.add_argument("--results", type=Path, default=None,
                        help="append each result as a JSON line to this file")
    parser.add_argument("--table", type=Path, default=None,
                        help="print the table of a --results file and exit")
    args = parser.parse_args()
    if args.table is not None:
        lines = args.table.read_text(encoding="utf-8").splitlines()
        print(table([json.loads(line) for line in lines if line.strip()]))
        return
    torch.set_num_threads(args.threads)
    rows: list[dict[str, Any]] = []
    seconds = args.seconds
    if args.model in ("both", "rnn"):
        rows.append(train_demo(args.quick))
        seconds = rows[-1]["train_seconds"] if seconds is None else seconds
    if seconds is None and args.results is not None and args.results.exists():
        seconds = _demo_seconds(args.results)
    if args.model in ("both", "transformer"):
        if seconds is None:
            parser.error("--model transformer needs --seconds, or a --results file holding "
                         "the demo's row")
        rows.append(train_transformer(seconds, args.context, args.batch, args.seed))
    for row in rows:
        row.update(threads=args.threads, machine=_machine())
        print(json.dumps(row))
        if args.results is not None:
            with args.results.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
