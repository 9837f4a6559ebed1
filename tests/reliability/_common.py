"""Shared helpers of the reliability tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SRC = ROOT / "src"


def script_env() -> dict[str, str]:
    """Environment for helper scripts: our sources first, one thread (bitwise-stable CPU)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"
    env["NUMBA_NUM_THREADS"] = "1"
    env["PYTHONHASHSEED"] = "random"
    return env


def start(script: str, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE / script), *map(str, args)],
        env=script_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def snapshot(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same_tensors(a: dict[str, Tensor], b: dict[str, Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def optimizer_snapshot(opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], str]:
    """Optimizer state as (tensors by name, repr of everything else), for exact comparison."""
    sd = opt.state_dict()
    tensors = {}
    other = []
    for pid, pstate in sd["state"].items():
        for key, value in pstate.items():
            if isinstance(value, Tensor):
                tensors[f"{pid}/{key}"] = value.detach().clone()
            else:
                other.append((pid, key, repr(value)))
    return tensors, repr((other, sd["param_groups"]))


def regression(n: int = 40, steps: int = 6, features: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, steps, features)).astype(np.float32)
    y = (0.5 * x[:, :, 0].sum(1, keepdims=True) + np.tanh(x[:, -1, 1:2])).astype(np.float32)
    return x, y


class TinyNet(nn.Module):
    """A small plain torch module (no rnnkit layers) for fast checkpoint tests."""

    def __init__(self, hidden: int = 4) -> None:
        super().__init__()
        self.rnn = nn.GRU(3, hidden, batch_first=True)
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(x)
        return self.head(self.drop(out[:, -1]))
