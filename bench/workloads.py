"""The seeds' workloads, and one runner per framework (each runs in its own process).

A workload is a small model and a batch; a runner builds the model in its framework, times one
training step (forward + backward + Adam) and one inference call, and returns median
milliseconds. Frameworks: ``rnnkit``, ``torch`` (PyTorch nn.*), ``torch_ftz`` (the same with
``torch.set_flush_denormal(True)``), ``keras_jax`` and ``keras_torch`` (Keras 3 on each backend).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Workload:
    name: str
    cell: str  # "lstm", "gru", "simple_rnn"
    batch: int
    time: int
    features: int  # input features (or the embedding dim with ``vocab``)
    units: tuple[int, ...]  # stacked recurrent layers; all but the last return sequences
    outputs: int
    loss: str = "classes"  # "classes": one label per sequence; "regression"; "per_step"
    vocab: int = 0  # token ids -> Embedding(vocab, features) first
    mask: bool = False  # post-padded sequences of random lengths (Masking / packed sequences)
    recurrent_dropout: float = 0.0
    quick: bool = False  # part of ``--quick``
    extra: dict[str, Any] = field(default_factory=dict)


def _w1(cell: str, batch: int, **kw: Any) -> Workload:
    label = {"lstm": "LSTM", "gru": "GRU", "simple_rnn": "SimpleRNN"}[cell]
    suffix = " mask" if kw.get("mask") else ""
    suffix += " rdrop0.2" if kw.get("recurrent_dropout") else ""
    return Workload(f"W1 {label} b{batch}{suffix}", cell, batch, 200, 3, (32, 32), 12, **kw)


WORKLOADS: list[Workload] = [
    _w1("lstm", 32, quick=True),
    _w1("gru", 32, quick=True),
    _w1("simple_rnn", 32, quick=True),
    _w1("lstm", 256, quick=True),
    _w1("gru", 256),
    _w1("simple_rnn", 256),
    _w1("lstm", 32, mask=True, quick=True),
    _w1("gru", 32, mask=True),
    _w1("simple_rnn", 32, mask=True),
    _w1("lstm", 32, recurrent_dropout=0.2, quick=True),
    _w1("gru", 32, recurrent_dropout=0.2),
    _w1("simple_rnn", 32, recurrent_dropout=0.2),
    Workload("W2 LSTM64 b64", "lstm", 64, 33, 1, (64,), 1, loss="regression", quick=True),
    Workload(
        "W3 GRU256 b64", "gru", 64, 100, 64, (256,), 65, loss="per_step", vocab=65, quick=True
    ),
    Workload("W4 LSTM128 b128", "lstm", 128, 28, 28, (128,), 10, quick=True),
]


def make_data(w: Workload, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs, targets and (for masked workloads) lengths, as NumPy arrays."""
    rng = np.random.default_rng(seed)
    if w.vocab:
        x = rng.integers(1, w.vocab, size=(w.batch, w.time)).astype(np.int64)
    else:
        x = rng.standard_normal((w.batch, w.time, w.features)).astype(np.float32)
    lengths = np.full(w.batch, w.time, dtype=np.int64)
    if w.mask:
        lengths = rng.integers(w.time // 2, w.time + 1, size=w.batch)
        lengths[0] = w.time
        for b, n in enumerate(lengths):
            x[b, n:] = 0
    if w.loss == "regression":
        y = rng.standard_normal((w.batch, w.outputs)).astype(np.float32)
    elif w.loss == "per_step":
        y = rng.integers(0, w.outputs, size=(w.batch, w.time)).astype(np.int64)
    else:
        y = rng.integers(0, w.outputs, size=(w.batch,)).astype(np.int64)
    return {"x": x, "y": y, "lengths": lengths}


@dataclass(frozen=True)
class Steps:
    """A built model's training step and inference call (each runs one batch)."""

    train: Callable[[], Any]
    infer: Callable[[], Any]
    model: Any  # rnnkit: its recurrent layers; else the framework's model


def median_ms(fn: Callable[[], Any], warmup: int, reps: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def torch_loss(w: Workload, out: Any, y: Any) -> Any:
    """The workload's loss on torch tensors (rnnkit and PyTorch nn.* alike)."""
    import torch.nn.functional as F

    if w.loss == "regression":
        return F.mse_loss(out, y)
    if w.loss == "per_step":
        return F.cross_entropy(out.reshape(-1, w.outputs), y.reshape(-1))
    return F.cross_entropy(out, y)


# ---------------------------------------------------------------------------------------------
# rnnkit


def build_rnnkit(w: Workload, data: dict[str, np.ndarray] | None = None) -> Steps:
    import torch

    import rnnkit as rk
    from rnnkit import layers

    torch.manual_seed(0)
    rnn = {"lstm": layers.LSTM, "gru": layers.GRU, "simple_rnn": layers.SimpleRNN}[w.cell]
    stack: list[Any] = []
    if w.vocab:
        stack += [rk.Input((w.time,), dtype="int64"), layers.Embedding(w.vocab, w.features)]
    else:
        stack += [rk.Input((w.time, w.features))]
    if w.mask:
        stack.append(layers.Masking(0.0))
    recurrent = []
    for i, units in enumerate(w.units):
        seq = i < len(w.units) - 1 or w.loss == "per_step"
        layer = rnn(units, return_sequences=seq, recurrent_dropout=w.recurrent_dropout)
        recurrent.append(layer)
        stack.append(layer)
    stack.append(layers.Dense(w.outputs))
    model = rk.Sequential(stack)
    data = make_data(w) if data is None else data
    x = torch.from_numpy(data["x"])
    y = torch.from_numpy(data["y"])
    opt = rk.optimizers.Adam(1e-3).build(model.parameters())  # what compile("adam") builds

    def loss_fn(out: torch.Tensor) -> torch.Tensor:
        return torch_loss(w, out, y)

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x)).backward()
        opt.step()

    def train() -> None:
        if not model.training:
            model.train()
        train_step()

    def infer() -> None:
        if model.training:
            model.eval()
        with torch.inference_mode():
            model(x)

    return Steps(train, infer, recurrent)


def run_rnnkit(w: Workload, warmup: int, reps: int) -> dict[str, Any]:
    steps = build_rnnkit(w)
    train = median_ms(steps.train, warmup, reps)
    train_engines = sorted({str(r.last_engine) for r in steps.model})
    inf = median_ms(steps.infer, warmup, reps)
    infer_engines = sorted({str(r.last_engine) for r in steps.model})
    return {
        "train_ms": train,
        "infer_ms": inf,
        "engine": f"train: {'/'.join(train_engines)}, infer: {'/'.join(infer_engines)}",
    }


# ---------------------------------------------------------------------------------------------
# PyTorch nn.*


def build_torch(
    w: Workload, data: dict[str, np.ndarray] | None = None, flush_denormal: bool = False
) -> Steps | str:
    """The training step and inference call of PyTorch nn.* (packed sequences when masked), or
    why there is none."""
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    if w.recurrent_dropout:
        return "nn.LSTM/GRU/RNN have no recurrent dropout"
    if flush_denormal:
        torch.set_flush_denormal(True)
    torch.manual_seed(0)
    rnn_cls = {"lstm": nn.LSTM, "gru": nn.GRU, "simple_rnn": nn.RNN}[w.cell]

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(w.vocab, w.features) if w.vocab else None
            sizes = [w.features, *w.units]
            self.rnns = nn.ModuleList(
                rnn_cls(sizes[i], sizes[i + 1], batch_first=True) for i in range(len(w.units))
            )
            self.head = nn.Linear(w.units[-1], w.outputs)

        def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
            h = self.emb(x) if self.emb is not None else x
            if lengths is not None:
                packed: Any = pack_padded_sequence(
                    h, lengths, batch_first=True, enforce_sorted=False
                )
                for rnn in self.rnns:
                    packed, state = rnn(packed)
                last = (state[0] if isinstance(state, tuple) else state)[-1]
                if w.loss == "per_step":
                    h = pad_packed_sequence(packed, batch_first=True, total_length=w.time)[0]
                    return self.head(h)
                return self.head(last)
            for rnn in self.rnns:
                h, _ = rnn(h)
            return self.head(h if w.loss == "per_step" else h[:, -1])

    model = Net()
    data = make_data(w) if data is None else data
    x = torch.from_numpy(data["x"])
    y = torch.from_numpy(data["y"])
    lengths = torch.from_numpy(data["lengths"]) if w.mask else None
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)  # torch's fastest Adam

    def loss_fn(out: torch.Tensor) -> torch.Tensor:
        return torch_loss(w, out, y)

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x, lengths)).backward()
        opt.step()

    def train() -> None:
        if not model.training:
            model.train()
        train_step()

    def infer() -> None:
        if model.training:
            model.eval()
        with torch.inference_mode():
            model(x, lengths)

    return Steps(train, infer, model)


def run_torch(w: Workload, warmup: int, reps: int, flush_denormal: bool = False) -> dict[str, Any]:
    steps = build_torch(w, flush_denormal=flush_denormal)
    if isinstance(steps, str):
        return {"na": steps}
    train = median_ms(steps.train, warmup, reps)
    return {"train_ms": train, "infer_ms": median_ms(steps.infer, warmup, reps)}


# ---------------------------------------------------------------------------------------------
# Keras 3 (the backend is chosen by KERAS_BACKEND before this process imports keras)


def build_keras(w: Workload, data: dict[str, np.ndarray] | None = None) -> Steps:
    import keras

    keras.utils.set_random_seed(0)
    rnn = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simple_rnn": keras.layers.SimpleRNN}
    stack: list[Any] = []
    if w.vocab:
        stack += [keras.Input((w.time,), dtype="int32")]
        stack += [keras.layers.Embedding(w.vocab, w.features)]
    else:
        stack += [keras.Input((w.time, w.features))]
    if w.mask:
        stack.append(keras.layers.Masking(0.0))
    for i, units in enumerate(w.units):
        seq = i < len(w.units) - 1 or w.loss == "per_step"
        stack.append(
            rnn[w.cell](units, return_sequences=seq, recurrent_dropout=w.recurrent_dropout)
        )
    stack.append(keras.layers.Dense(w.outputs))
    model = keras.Sequential(stack)
    if w.loss == "regression":
        loss: Any = "mse"
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    data = make_data(w) if data is None else data
    x = data["x"].astype(np.int32) if w.vocab else data["x"]
    y = data["y"]
    return Steps(lambda: model.train_on_batch(x, y), lambda: model.predict_on_batch(x), model)


def run_keras(w: Workload, warmup: int, reps: int) -> dict[str, Any]:
    steps = build_keras(w)
    train = median_ms(steps.train, warmup, reps)
    inf = median_ms(steps.infer, warmup, reps)
    return {"train_ms": train, "infer_ms": inf}


def run(framework: str, w: Workload, warmup: int, reps: int) -> dict[str, Any]:
    if framework == "rnnkit":
        return run_rnnkit(w, warmup, reps)
    if framework == "torch":
        return run_torch(w, warmup, reps)
    if framework == "torch_ftz":
        return run_torch(w, warmup, reps, flush_denormal=True)
    if framework in ("keras_jax", "keras_torch"):
        backend = framework.split("_")[1]
        if os.environ.get("KERAS_BACKEND") != backend:
            raise RuntimeError(f"expected KERAS_BACKEND={backend} for {framework}")
        return run_keras(w, warmup, reps)
    raise ValueError(f"expected a framework name, got {framework!r}")
