"""Optimizers: Keras defaults, Keras update rules, state kept across fit calls."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from rnnkit.training import Callback, fit, get_optimizer, keras_updates, optimizers, train_on_batch
from rnnkit.training.keras_updates import _keras_eps_step


def _param(values: list[float]) -> nn.Parameter:
    return nn.Parameter(torch.tensor(values, dtype=torch.float64))


def test_keras_default_hyperparameters() -> None:
    p = [_param([0.0])]
    adam = get_optimizer("adam", p)
    g = adam.param_groups[0]
    assert isinstance(adam, torch.optim.Adam)
    assert (g["lr"], g["betas"], g["eps"], g["amsgrad"]) == (1e-3, (0.9, 0.999), 1e-7, False)
    sgd = get_optimizer("SGD", p).param_groups[0]
    assert (sgd["lr"], sgd["momentum"], sgd["nesterov"]) == (0.01, 0.0, False)
    rms = get_optimizer("rmsprop", p).param_groups[0]
    assert (rms["lr"], rms["rho"], rms["eps"], rms["momentum"], rms["centered"]) == (
        1e-3,
        0.9,
        1e-7,
        0.0,
        False,
    )
    spec = get_optimizer("adam")
    assert isinstance(spec, optimizers.Adam) and spec.learning_rate == 1e-3
    assert optimizers.Adam(learning_rate=0.01).build(p).param_groups[0]["lr"] == 0.01


def test_rmsprop_follows_keras_update() -> None:
    w = _param([1.0, -1.0])
    opt = optimizers.RMSprop(learning_rate=0.1).build([w])
    grads = [
        torch.tensor([1e-4, 0.5], dtype=torch.float64),
        torch.tensor([2e-4, -0.3], dtype=torch.float64),
    ]
    v = torch.zeros(2, dtype=torch.float64)
    expected = w.detach().clone()
    for g in grads:
        w.grad = g.clone()
        opt.step()
        v = 0.9 * v + 0.1 * g**2
        expected -= 0.1 * g / torch.sqrt(v + 1e-7)  # Keras: sqrt(v + eps), not sqrt(v) + eps
    torch.testing.assert_close(w.detach(), expected, rtol=1e-12, atol=1e-12)


def test_adam_follows_keras_epsilon_placement() -> None:
    w = _param([0.5])
    opt = optimizers.Adam(learning_rate=0.1).build([w])
    m = v = 0.0
    expected = 0.5
    for t, g in enumerate([1e-6, 3e-6, -2e-6], start=1):  # tiny gradients: eps matters
        w.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        alpha = 0.1 * math.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        expected -= alpha * m / (math.sqrt(v) + 1e-7)
    assert float(w.detach()) == pytest.approx(expected, rel=1e-12)
    assert opt.param_groups[0]["eps"] == 1e-7  # restored after each step


@pytest.mark.parametrize(
    "spec",
    [optimizers.Adam(0.01), optimizers.Adam(0.01, amsgrad=True), optimizers.AdamW(0.01, 0.1)],
    ids=["adam", "amsgrad", "adamw"],
)
def test_adam_direct_fused_step_equals_torch_step(spec: optimizers.Adam) -> None:
    """From the second step on, KerasAdam calls torch's fused kernel itself; the other copy goes
    through ``torch.optim.Adam(W).step`` every step: the updates must be identical."""
    torch.manual_seed(0)
    shapes = [(3, 4), (4,), (2, 2)]
    a = [nn.Parameter(torch.randn(s)) for s in shapes]
    b = [nn.Parameter(p.detach().clone()) for p in a]
    fast, slow = spec.build(a), spec.build(b)
    torch_step = (
        torch.optim.AdamW if isinstance(slow, optimizers.KerasAdamW) else torch.optim.Adam
    ).step
    for step in range(5):
        for i, (pa, pb) in enumerate(zip(a, b, strict=True)):
            skip = step == 3 and i == 1  # a parameter without a gradient keeps its state
            g = None if skip else torch.randn(pa.shape)
            pa.grad, pb.grad = g, None if g is None else g.clone()
        fast.step()
        _keras_eps_step(slow, lambda: torch_step(slow))
        for pa, pb in zip(a, b, strict=True):
            torch.testing.assert_close(pa.detach(), pb.detach(), rtol=0, atol=0)
            sa, sb = fast.state[pa], slow.state[pb]
            assert sa.keys() == sb.keys()
            for key in sa:
                torch.testing.assert_close(sa[key], sb[key], rtol=0, atol=0)


def test_sgd_momentum_and_validation() -> None:
    w = _param([1.0])
    opt = optimizers.SGD(learning_rate=0.1, momentum=0.5).build([w])
    for _ in range(2):
        w.grad = torch.tensor([1.0], dtype=torch.float64)
        opt.step()
    assert float(w.detach()) == pytest.approx(1.0 - 0.1 - 0.15)  # Keras: m = 0.5 m - lr g; w += m
    with pytest.raises(ValueError, match="expected learning_rate > 0"):
        optimizers.Adam(learning_rate=0)
    with pytest.raises(ValueError, match="expected momentum > 0 with nesterov"):
        optimizers.SGD(nesterov=True)
    with pytest.raises(ValueError, match="expected an optimizer name"):
        get_optimizer("adagrad_of_doom")
    with pytest.raises(TypeError, match="got int"):
        get_optimizer(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one trainable parameter"):
        optimizers.SGD().build([])


class _GrabOptimizer(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.optim.Optimizer | None] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.seen.append(self.optimizer)


@pytest.mark.parametrize("optimizer", ["adam", optimizers.Adam()])
def test_state_persists_across_fit_calls(optimizer: str | optimizers.Adam) -> None:
    x, y = np.ones((8, 2), np.float32), np.zeros((8, 1), np.float32)
    module = nn.Linear(2, 1)
    grab = _GrabOptimizer()
    for _ in range(2):  # 2 steps per fit
        fit(
            module, x, y, loss="mse", optimizer=optimizer, batch_size=4, verbose=0, callbacks=[grab]
        )
    first, second = grab.seen
    assert first is second and first is not None
    assert int(first.state[module.weight]["step"]) == 4
    train_on_batch(module, x, y, loss="mse", optimizer=optimizer)  # continues the same Adam
    assert int(first.state[module.weight]["step"]) == 5
    other = nn.Linear(2, 1)  # another module gets its own optimizer
    fit(other, x, y, loss="mse", optimizer=optimizer, verbose=0, callbacks=[grab])
    assert grab.seen[-1] is not first


def test_prebuilt_torch_optimizer_is_used() -> None:
    module = nn.Linear(2, 1)
    opt = torch.optim.SGD(module.parameters(), lr=0.5)
    before = module.weight.detach().clone()
    fit(
        module,
        np.ones((4, 2), np.float32),
        np.zeros((4, 1), np.float32),
        loss="mse",
        optimizer=opt,
        batch_size=4,
        verbose=0,
    )
    grad = module.weight.grad
    assert grad is not None
    torch.testing.assert_close(module.weight.detach(), before - 0.5 * grad)


def test_portable_mode_never_calls_the_private_fused_kernel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``RNNKIT_PORTABLE=1``: every step goes through torch's public ``Adam.step``."""
    w = nn.Parameter(torch.randn(3))
    opt = optimizers.Adam(0.01).build([w])
    w.grad = torch.ones(3)
    opt.step()  # the first step creates the state (through torch)
    monkeypatch.setenv(keras_updates.PORTABLE_ENV, "1")
    assert keras_updates._fused_step(opt, decoupled=False) is False
    monkeypatch.delenv(keras_updates.PORTABLE_ENV)
    assert keras_updates._fused_step(opt, decoupled=False) is keras_updates._PRIVATE_FUSED_OK
