"""fit / evaluate / predict on a Dataset, a DataLoader or an iterable of batches: the same
result as arrays, Keras's steps_per_epoch rules, and exact resume with a seeded DataLoader."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rnnkit.training import evaluate, fit, predict


def _data(n: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)
    return x, y, rng.uniform(0.5, 2.0, n).astype(np.float32)


def _module() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))


def _weights(m: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in m.parameters()]


def test_dataloader_and_dataset_train_as_arrays() -> None:
    x, y, sw = _data()
    kw: dict = {"loss": "mse", "optimizer": "adam", "epochs": 3, "batch_size": 6, "verbose": 0}
    ref = _module()
    h_ref = fit(ref, x, y, sample_weight=sw, shuffle=False, **kw)
    loader = DataLoader(TensorDataset(*map(torch.from_numpy, (x, y, sw))), batch_size=6)
    via_loader = _module()
    h_loader = fit(via_loader, loader, None, **kw)
    assert h_loader.history == h_ref.history
    assert all(torch.equal(a, b) for a, b in zip(_weights(ref), _weights(via_loader), strict=True))
    # a Dataset is shuffled by fit's generator exactly as arrays are
    shuffled = _module()
    fit(shuffled, x, y, sample_weight=sw, generator=torch.Generator().manual_seed(3), **kw)
    via_dataset = _module()
    dataset = TensorDataset(*map(torch.from_numpy, (x, y, sw)))
    fit(via_dataset, dataset, None, generator=torch.Generator().manual_seed(3), **kw)
    assert all(
        torch.equal(a, b) for a, b in zip(_weights(shuffled), _weights(via_dataset), strict=True)
    )
    logs = evaluate(ref, loader, None, loss="mse", verbose=0)
    assert logs["loss"] == pytest.approx(
        evaluate(ref, x, y, loss="mse", sample_weight=sw, verbose=0)["loss"], rel=1e-6
    )
    np.testing.assert_array_equal(predict(ref, loader), predict(ref, x))
    np.testing.assert_array_equal(predict(ref, dataset, batch_size=7), predict(ref, x))


def test_generator_with_steps_per_epoch_carries_over_between_epochs() -> None:
    x, y, _ = _data(40)
    taken: list[int] = []

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for i in range(0, 40, 5):
            taken.append(i)
            yield x[i : i + 5], y[i : i + 5]

    history = fit(_module(), batches(), None, loss="mse", optimizer="sgd", epochs=3,
                  steps_per_epoch=2, verbose=0)  # fmt: skip
    assert taken == [0, 5, 10, 15, 20, 25] and len(history.history["loss"]) == 3
    # a generator that runs out ends the epoch early; the next epochs get nothing more
    taken.clear()
    fit(_module(), batches(), None, loss="mse", optimizer="sgd", epochs=3, steps_per_epoch=5,
        verbose=0)  # fmt: skip
    assert taken == [0, 5, 10, 15, 20, 25, 30, 35]


def test_sized_loader_with_fewer_steps_starts_over_when_spent() -> None:
    x, y, _ = _data(12)
    seen: list[float] = []

    class Spy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 1)

        def forward(self, t: torch.Tensor) -> torch.Tensor:
            seen.append(float(t[0, 0]))
            return self.lin(t)

    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=4)
    fit(Spy(), loader, None, loss="mse", optimizer="sgd", epochs=3, steps_per_epoch=2, verbose=0)
    starts = [float(x[i, 0]) for i in (0, 4, 8, 0, 4)]
    assert seen == starts  # epoch 2 stops at the loader's end, epoch 3 starts it over


def test_resume_with_a_seeded_shuffling_dataloader_is_exact(tmp_path: Path) -> None:
    x, y, sw = _data(30)
    data = TensorDataset(*map(torch.from_numpy, (x, y, sw)))

    def run(epochs: int, folder: Path) -> tuple[nn.Module, dict]:
        loader = DataLoader(data, batch_size=7, shuffle=True,
                            generator=torch.Generator().manual_seed(11))  # fmt: skip
        module = _module()
        torch.manual_seed(5)  # the global RNG moves on between runs, as after a restart
        h = fit(module, loader, None, loss="mse", optimizer="adam", epochs=epochs, verbose=0,
                checkpoint_dir=folder)  # fmt: skip
        return module, h.history

    whole, h_whole = run(4, tmp_path / "whole")
    run(2, tmp_path / "parts")
    resumed, h_resumed = run(4, tmp_path / "parts")
    assert h_resumed == h_whole
    assert all(torch.equal(a, b) for a, b in zip(_weights(whole), _weights(resumed), strict=True))


def test_loader_errors_are_clear() -> None:
    x, y, sw = _data()
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=5)
    kw: dict = {"loss": "mse", "optimizer": "sgd", "verbose": 0}
    with pytest.raises(ValueError, match="expected no y with a Dataset, DataLoader or iterable"):
        fit(_module(), loader, y, **kw)
    with pytest.raises(ValueError, match="expected validation_data with a Dataset"):
        fit(_module(), loader, None, validation_split=0.2, **kw)
    with pytest.raises(ValueError, match=r"expected batches \(x, y\) or \(x, y, sample_weight\)"):
        fit(_module(), iter([x[:4]]), None, **kw)
    with pytest.raises(ValueError, match="expected steps for x >= 1, got 0"):
        fit(_module(), loader, None, steps_per_epoch=0, **kw)
