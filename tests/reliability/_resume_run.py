"""One training run for the exact-resume tests, run as a subprocess (``python _resume_run.py``).

    python _resume_run.py OUT CKPT KILL_EPOCH NO_RNG

trains an rk.Sequential GRU (dropout, recurrent_dropout, shuffle, validation split,
ReduceLROnPlateau, EarlyStopping with best weights, CSVLogger, a callback drawing from numpy's
and Python's global generators) for 6 epochs. ``CKPT`` "-" means no checkpointing, else
``fit(checkpoint_dir=CKPT, resume="auto")``. ``KILL_EPOCH`` >= 0 SIGKILLs the process in the
middle of that (0-based) epoch. ``NO_RNG`` "1" disables the restoring of the RNG states (the
control that must make a resumed run differ). The result goes to ``OUT/result.safetensors``
and ``OUT/result.json``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

torch.set_num_threads(1)

import rnnkit as rk  # noqa: E402
from rnnkit import layers  # noqa: E402
from rnnkit.training import Callback, CSVLogger, EarlyStopping, ReduceLROnPlateau  # noqa: E402

EPOCHS = 6


class Chaos(Callback):
    """Stateless: records the epochs run, draws from numpy/python RNGs, kills on request."""

    def __init__(self, out: Path, kill_epoch: int) -> None:
        super().__init__()
        self.out = out
        self.kill_epoch = kill_epoch
        self.epoch = -1
        self.last_weights: dict[str, torch.Tensor] = {}

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch
        with open(self.out / "epochs_run.txt", "a", encoding="utf-8") as f:
            f.write(f"{epoch}\n")

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.epoch == self.kill_epoch and batch == 2:
            os.kill(os.getpid(), signal.SIGKILL)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        assert logs is not None
        logs["np_draw"] = float(np.random.random())
        logs["py_draw"] = random.random()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        # before EarlyStopping restores the best weights (callbacks run in list order)
        self.last_weights = {k: v.detach().clone() for k, v in self.module.state_dict().items()}


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 7, 3)).astype(np.float32)
    y = (0.3 * x[:, :, 0].sum(1, keepdims=True) + np.sin(x[:, -1, 1:2])).astype(np.float32)
    return x, y


def main(out: Path, ckpt: str, kill_epoch: int, no_rng: bool) -> None:
    if no_rng:
        import rnnkit.training.checkpoint.resume as checkpoint

        checkpoint.restore_rng_states = lambda state, generator: None
    out.mkdir(parents=True, exist_ok=True)
    x, y = data()
    rk.set_seed(0)
    model = rk.Sequential(
        [
            rk.Input((7, 3)),
            layers.GRU(6, dropout=0.25, recurrent_dropout=0.25),
            layers.Dense(1),
        ]
    )
    model.compile(rk.optimizers.Adam(learning_rate=0.02), "mse", metrics=["mae"])
    chaos = Chaos(out, kill_epoch)
    callbacks = [
        chaos,
        ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10.0),
        EarlyStopping(monitor="val_loss", patience=100, restore_best_weights=True),
        CSVLogger(out / "log.csv"),
    ]
    kwargs: dict[str, Any] = {} if ckpt == "-" else {"checkpoint_dir": ckpt, "resume": "auto"}
    history = model.fit(
        x, y, epochs=EPOCHS, batch_size=8, shuffle=True, validation_split=0.25, verbose=0,
        callbacks=callbacks, global_clipnorm=5.0, **kwargs,
    )
    assert model.optimizer is not None
    opt = model.optimizer.state_dict()
    tensors = {f"best/{k}": v.contiguous() for k, v in model.state_dict().items()}
    tensors |= {f"last/{k}": v.contiguous() for k, v in chaos.last_weights.items()}
    tensors["rng/torch"] = torch.get_rng_state()
    other: dict[str, Any] = {}
    for pid, pstate in opt["state"].items():
        for key, value in pstate.items():
            if isinstance(value, torch.Tensor):
                tensors[f"opt/{pid}/{key}"] = value.contiguous()
            else:
                other[f"{pid}/{key}"] = repr(value)
    save_file(tensors, out / "result.safetensors")
    result = {
        "history": history.history,
        "epoch": history.epoch,
        "lr": [g["lr"] for g in model.optimizer.param_groups],
        "param_groups": [{k: repr(v) for k, v in g.items()} for g in opt["param_groups"]],
        "opt_other": other,
        "numpy_rng": repr(np.random.get_state(legacy=False)),
        "python_rng": repr(random.getstate()),
        "csv": (out / "log.csv").read_text(encoding="utf-8"),
        "epochs_run": (out / "epochs_run.txt").read_text(encoding="utf-8").split(),
    }
    (out / "result.json").write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1")
