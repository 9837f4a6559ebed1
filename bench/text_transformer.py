"""A small character transformer (nanoGPT's CPU recipe, torch's own modules) against which
the Shakespeare demo's held-out bits per character is compared, for the same wall time on
the same split and cores.

Split: ``rnnkit.datasets.load_shakespeare()``; the last 10 % is held out (as
``rnnkit demo shakespeare``), the model trains on the rest. Model: character embedding +
learned positions, 4 pre-norm ``nn.TransformerEncoderLayer`` (d_model 128, 4 heads, feed
forward 512, dropout 0.0) under a causal mask, a linear head; context 128 characters, batch
32, AdamW 1e-3. Held-out score: mean cross-entropy of every character of the held-out part
read in consecutive blocks of ``context`` characters (each character sees the previous ones of
its block, as nanoGPT evaluates), in bits per character.

Usage (times are wall clock; say if the machine was loaded)::

    python bench/text_transformer.py --minutes 10 --threads 2
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.datasets import load_shakespeare


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
            x = torch.from_numpy(chunk[:n].reshape(-1, context))
            y = torch.from_numpy(chunk[1 : n + 1].reshape(-1, context))
            logits = model(x)
            total += float(nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                       y.reshape(-1), reduction="sum"))
            count += n
    model.train()
    return total / count / math.log(2.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    text = load_shakespeare()
    chars = sorted(set(text))
    lookup = {c: i for i, c in enumerate(chars)}
    ids = np.array([lookup[c] for c in text], dtype=np.int64)
    split = len(ids) - math.floor(0.1 * len(ids))
    train, held = ids[:split], ids[split:]
    model = CharTransformer(len(chars), args.context)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    rng = np.random.default_rng(args.seed)
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < args.minutes * 60:
        at = rng.integers(0, len(train) - args.context - 1, size=args.batch)
        x = torch.from_numpy(np.stack([train[i : i + args.context] for i in at]))
        y = torch.from_numpy(np.stack([train[i + 1 : i + args.context + 1] for i in at]))
        logits = model(x)
        loss = nn.functional.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps += 1
    seconds = time.perf_counter() - start
    bits = heldout_bits(model, held, args.context)
    print(json.dumps({"model": "char transformer 4x128 (torch modules)", "steps": steps,
                      "train_seconds": round(seconds, 1), "threads": args.threads,
                      "heldout_bits_per_char": round(bits, 3),
                      "params": sum(p.numel() for p in model.parameters())}))


if __name__ == "__main__":
    main()
