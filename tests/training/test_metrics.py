"""Metrics: Keras's choice for "accuracy" and sample-weighted epoch means."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.training import evaluate, fit, get_metric, metrics

from ._helpers import Fixed


def _acc(name: str, y_true: torch.Tensor, y_pred: torch.Tensor, **kw: object) -> float:
    m = get_metric(name, **kw)  # type: ignore[arg-type]
    m.update_state(y_true, y_pred)
    return m.result()


def test_accuracy_picks_sparse_categorical_for_int_labels() -> None:
    y_pred = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    labels = torch.tensor([1, 1, 1, 0])  # argmax: 1, 0, 1, 0 -> 3 of 4 right
    assert _acc("accuracy", labels, y_pred) == 0.75
    assert _acc("acc", labels[:, None], y_pred) == 0.75


def test_accuracy_picks_categorical_for_one_hot() -> None:
    y_pred = torch.tensor([[0.1, 0.2, 0.7], [0.5, 0.3, 0.2], [0.2, 0.5, 0.3]])
    onehot = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    assert _acc("accuracy", onehot, y_pred) == pytest.approx(2 / 3)


def test_accuracy_picks_binary_for_one_unit_or_bce() -> None:
    y_pred = torch.tensor([[0.9], [0.4], [0.51], [0.2]])
    y_true = torch.tensor([[1.0], [1.0], [0.0], [0.0]])  # > 0.5: 1, 0, 1, 0 -> 2 of 4 right
    assert _acc("accuracy", y_true, y_pred) == 0.5
    multi = torch.tensor([[0.9, 0.1], [0.6, 0.7]])
    multi_true = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # element-wise: 1, 1, 0, 1
    assert _acc("accuracy", multi_true, multi, binary_loss=True) == 0.75
    assert isinstance(metrics.get("accuracy"), metrics.AutoAccuracy)


def test_mae_mse_metrics() -> None:
    y_true, y_pred = torch.zeros(2, 2), torch.tensor([[1.0, 3.0], [2.0, 2.0]])
    assert _acc("mae", y_true, y_pred) == 2.0
    assert _acc("mse", y_true, y_pred) == pytest.approx((5.0 + 4.0) / 2)


def test_epoch_metrics_are_sample_weighted_with_short_last_batch() -> None:
    # 10 samples, batch 4 -> batches of 4, 4, 2; predictions fixed per sample id
    probs = np.array([0.9, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.9, 0.1], np.float32)[:, None]
    y = np.array([1, 1, 1, 1, 1, 1, 1, 0, 1, 1], np.float32)[:, None]
    x = np.arange(10, dtype=np.float32)[:, None]
    module = Fixed(probs)
    hist = fit(
        module,
        x,
        y,
        loss="mse",
        optimizer="sgd",
        metrics=["accuracy", "mae"],
        batch_size=4,
        shuffle=False,
        verbose=0,
    )
    correct = ((probs > 0.5) == (y > 0.5)).astype(np.float64)
    assert hist.history["accuracy"] == [pytest.approx(correct.mean())]  # 6 / 10
    assert correct.mean() != pytest.approx(
        np.mean([correct[:4].mean(), correct[4:8].mean(), correct[8:].mean()])
    )
    assert hist.history["loss"] == [pytest.approx(np.mean((probs - y) ** 2), rel=1e-6)]
    assert hist.history["mae"] == [pytest.approx(np.mean(np.abs(probs - y)), rel=1e-6)]
    logs = evaluate(module, x, y, loss="mse", metrics=["accuracy"], batch_size=3, verbose=0)
    assert logs == {"loss": pytest.approx(hist.history["loss"][0]), "accuracy": pytest.approx(0.6)}


def test_metric_names_and_errors() -> None:
    assert get_metric("mean_absolute_error").name == "mean_absolute_error"

    def hits(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return (y_true == y_pred).float()

    assert get_metric(hits).name == "hits"
    with pytest.raises(ValueError, match="expected a metric name"):
        get_metric("f1_of_doom")
    with pytest.raises(TypeError, match="got int"):
        get_metric(1)  # type: ignore[arg-type]
    m = get_metric("mae")
    assert np.isnan(m.result())
