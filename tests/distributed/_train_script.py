"""Training run shared by the distributed tests.

``python _train_script.py OUT_DIR`` under ``torch.distributed.run`` trains data-parallel;
:func:`run` with ``distributed=False`` is the one-process reference. Both write
``OUT_DIR/weights-{1,2}-r{rank}.safetensors`` (after the first and the second ``fit``),
``OUT_DIR/history-r{rank}.json`` and ``OUT_DIR/progress-r{rank}.txt``; the first ``fit`` also
has a rank-named ``ModelCheckpoint``, ``log_dir=OUT_DIR/logs-r{rank}`` and
``checkpoint_dir=OUT_DIR/checkpoints`` (written by rank 0 only).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

import rnnkit as rk
from rnnkit import training

SAMPLES = 100
BATCH = 33  # shards 17/16 on 2 ranks; the last batch of 1 row leaves rank 1 without rows
STOP_AT_BATCH = 1


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES + 21, 6, 3))  # (samples, time, features)
    y = np.tanh(x[:, :, 0].mean(axis=1, keepdims=True) + 0.3 * x[:, -1, 1:2])  # (samples, 1)
    return x[:SAMPLES], y[:SAMPLES], x[SAMPLES:], y[SAMPLES:]


def model() -> rk.Sequential:
    torch.manual_seed(0)
    m = rk.Sequential(
        [
            rk.layers.Input((6, 3)),
            rk.layers.GRU(8, return_sequences=True),
            rk.layers.LSTM(5),
            rk.layers.Dense(1),
        ]
    )
    m = m.double()
    # plain SGD: an update proportional to the gradient, so a wrongly scaled gradient shows
    m.compile(training.optimizers.SGD(learning_rate=0.2, momentum=0.5), "mse", metrics=["mae"])
    return m


class StopAtBatch(training.Callback):
    """Asks to stop after batch ``STOP_AT_BATCH`` when ``active`` (only on rank 0 in the
    distributed run: the other ranks must follow)."""

    def __init__(self, active: bool) -> None:
        super().__init__()
        self.active = active

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.active and batch == STOP_AT_BATCH:
            self.stop()


def _weights(m: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().contiguous() for k, v in m.state_dict().items()}


def run(out: Path, distributed: bool) -> None:
    rank = training.get_rank()
    x, y, xv, yv = data()
    m = model()
    # ranks' global RNGs differ (as after per-rank dropout): rank 0's shuffling seed must win
    torch.manual_seed(1234 + rank)
    with open(out / f"progress-r{rank}.txt", "w", encoding="utf-8") as stream:
        ckpt = training.ModelCheckpoint(
            out / f"ckpt-r{rank}-{{epoch}}.safetensors", save_weights_only=True, monitor="loss"
        )
        h1 = m.fit(
            x,
            y,
            batch_size=BATCH,
            epochs=2,
            shuffle=True,
            verbose=2,
            stream=stream,
            validation_data=(xv, yv),
            callbacks=[ckpt],
            distributed=distributed,
            log_dir=out / f"logs-r{rank}",
            checkpoint_dir=out / "checkpoints",
        )
        w1 = _weights(m)
        h2 = m.fit(
            x,
            y,
            batch_size=BATCH,
            epochs=3,
            initial_epoch=2,
            shuffle=True,
            verbose=2,
            stream=stream,
            callbacks=[StopAtBatch(active=rank == 0)],
            distributed=distributed,
        )
    save_file(w1, str(out / f"weights-1-r{rank}.safetensors"))
    save_file(_weights(m), str(out / f"weights-2-r{rank}.safetensors"))
    doc = {"fit1": h1.history, "fit2": h2.history, "world_size": training.get_world_size()}
    (out / f"history-r{rank}.json").write_text(json.dumps(doc), encoding="utf-8")


def count_checkpoint_writes(out: Path) -> None:
    """Record every ``fit(checkpoint_dir=...)`` write in ``out/checkpoint-writes-r{rank}.txt``
    (only in the torchrun processes)."""
    from rnnkit.training import epochs

    real = epochs.save_training_checkpoint

    def counting(*args: Any, **kwargs: Any) -> Any:
        with open(out / f"checkpoint-writes-r{training.get_rank()}.txt", "a") as f:
            f.write("write\n")
        return real(*args, **kwargs)

    epochs.save_training_checkpoint = counting  # type: ignore[assignment]


if __name__ == "__main__":
    count_checkpoint_writes(Path(sys.argv[1]))
    run(Path(sys.argv[1]), distributed=True)
