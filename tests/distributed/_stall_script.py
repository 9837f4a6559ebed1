"""A resumable two-process run for the failure tests: ``python _stall_script.py OUT``.

Each rank writes its pid to ``OUT/pid-r{rank}``; ``fit`` checkpoints every epoch in
``OUT/checkpoints`` (resuming from there when run again); with ``$STALL_SCRIPT_HOLD`` set, the
ranks sleep that many seconds at the end of epoch 3 (before its checkpoint), so that a test
can stop or kill a rank mid-run once ``epoch-0002`` exists, however slow the machine; rank 0
finally writes ``OUT/weights.safetensors``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

import rnnkit as rk
from rnnkit import training

EPOCHS = 5
HOLD_AT = 2  # epoch 3 (0-based 2)


class Hold(training.Callback):
    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch == HOLD_AT:
            time.sleep(float(os.environ.get("STALL_SCRIPT_HOLD", "0")))


def run(out: Path) -> None:
    rank = training.get_rank()
    (out / f"pid-r{rank}").write_text(str(os.getpid()))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 5, 3))  # (samples, time, features)
    y = np.tanh(x[:, :, 0].mean(axis=1, keepdims=True))  # (samples, 1)
    torch.manual_seed(0)
    m = rk.Sequential([rk.layers.Input((5, 3)), rk.layers.GRU(6, dropout=0.2),
                       rk.layers.Dense(1)]).double()
    m.compile("adam", "mse")
    m.fit(x, y, batch_size=16, epochs=EPOCHS, shuffle=True, verbose=0, callbacks=[Hold()],
          distributed=True, checkpoint_dir=out / "checkpoints")
    if rank == 0:
        weights = {k: v.detach().clone().contiguous() for k, v in m.state_dict().items()}
        save_file(weights, str(out / "weights.safetensors"))


if __name__ == "__main__":
    run(Path(sys.argv[1]))
