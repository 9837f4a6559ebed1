"""Loss functions against hand-computed Keras values (Keras order: loss(y_true, y_pred))."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rnnkit.training import get_loss, losses

T = torch.from_numpy
EPS = 1e-7


def test_sparse_cce_on_probabilities_clips_and_renormalises() -> None:
    p = np.array([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5], [0.2, 0.2, 0.6]], np.float32)
    y = np.array([0, 0, 2])
    # hand: rows sum to 1; the zero probability is clipped to 1e-7
    expected = -(np.log(0.7) + np.log(EPS) + np.log(0.6)) / 3
    got = float(get_loss("sparse_categorical_crossentropy")(T(y), T(p)))
    assert got == pytest.approx(expected, rel=1e-5)
    assert got > 5  # the clipped term dominates: -log(1e-7) / 3 = 5.37
    # labels of shape (batch, 1) are squeezed like Keras
    assert float(losses.SparseCategoricalCrossentropy()(T(y[:, None]), T(p))) == pytest.approx(got)


def test_categorical_cce_normalises_by_sum_first() -> None:
    p = np.array([[1.4, 0.4, 0.2], [0.2, 0.2, 0.6]], np.float32)  # first row sums to 2
    y = np.array([[1, 0, 0], [0, 0, 1]], np.float32)
    expected = -(np.log(0.7) + np.log(0.6)) / 2
    assert float(get_loss("categorical_crossentropy")(T(y), T(p))) == pytest.approx(
        expected, rel=1e-6
    )


def test_binary_crossentropy_clips_probabilities() -> None:
    p = np.array([[1.0], [0.25], [0.0]], np.float32)
    y = np.array([[0.0], [1.0], [0.0]], np.float32)
    pc = np.clip(p, np.float32(EPS), np.float32(1 - EPS)).astype(np.float64)
    expected = np.mean(-(y * np.log(pc) + (1 - y) * np.log(1 - pc)))
    got = float(get_loss("binary_crossentropy")(T(y), T(p)))
    assert got == pytest.approx(expected, rel=1e-4)
    assert np.isfinite(got)
    # rank-1 targets against (batch, 1) predictions: expanded, not broadcast to (3, 3)
    assert float(get_loss("binary_crossentropy")(T(y[:, 0]), T(p))) == pytest.approx(got)


def test_mse_mae_mean_over_last_axis_then_batch() -> None:
    y_pred = np.array([[[1.0, 2.0]], [[0.0, 4.0]]], np.float32)  # (2, 1, 2)
    y_true = np.zeros_like(y_pred)
    assert float(get_loss("mse")(T(y_true), T(y_pred))) == pytest.approx((2.5 + 8.0) / 2)
    assert float(get_loss("mae")(T(y_true), T(y_pred))) == pytest.approx((1.5 + 2.0) / 2)
    per_sample = losses.mean_squared_error(T(y_true), T(y_pred))
    assert per_sample.shape == (2, 1)
    # (n,) targets with (n, 1) predictions do not broadcast to (n, n)
    y1 = np.array([1.0, 2.0, 3.0], np.float32)
    assert float(get_loss("mse")(T(y1), T(y1[:, None] + 1))) == pytest.approx(1.0)


def test_from_logits_matches_probabilities() -> None:
    torch.manual_seed(0)
    logits = torch.randn(5, 4)
    labels = torch.tensor([0, 1, 2, 3, 1])
    onehot = torch.nn.functional.one_hot(labels, 4).float()
    probs = logits.softmax(-1)
    a = losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    b = losses.SparseCategoricalCrossentropy()(labels, probs)
    c = losses.CategoricalCrossentropy(from_logits=True)(onehot, logits)
    assert float(a) == pytest.approx(float(b), rel=1e-5)
    assert float(a) == pytest.approx(float(c), rel=1e-5)
    z = torch.randn(6, 1)
    yb = (torch.rand(6, 1) > 0.5).float()
    assert float(losses.BinaryCrossentropy(from_logits=True)(yb, z)) == pytest.approx(
        float(losses.BinaryCrossentropy()(yb, torch.sigmoid(z))), rel=1e-5
    )


def test_callables_keras_order_and_torch_modules_torch_order() -> None:
    labels = torch.tensor([2, 0, 1])
    logits = torch.randn(3, 3)
    torch_ce = get_loss(nn.CrossEntropyLoss())  # torch module: called module(y_pred, y_true)
    keras_ce = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert float(torch_ce(labels, logits)) == pytest.approx(float(keras_ce(labels, logits)))

    seen = []

    def my_loss(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        seen.append((y_true, y_pred))
        return (y_pred - y_true).abs()  # per-sample values are averaged like Keras

    yt, yp = torch.zeros(4, 1), torch.ones(4, 1) * 2
    assert float(get_loss(my_loss)(yt, yp)) == 2.0
    assert seen[0][0] is yt and seen[0][1] is yp


def test_reduction_options() -> None:
    yt, yp = torch.zeros(2, 1), torch.tensor([[1.0], [3.0]])
    assert float(losses.MeanAbsoluteError(reduction="sum")(yt, yp)) == 4.0
    assert losses.MeanAbsoluteError(reduction="none")(yt, yp).tolist() == [1.0, 3.0]
    with pytest.raises(ValueError, match="expected reduction"):
        losses.MeanAbsoluteError(reduction="mean")


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="expected a loss name"):
        get_loss("hinge_of_doom")
    with pytest.raises(TypeError, match="expected a loss name, Loss object or callable, got int"):
        get_loss(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected y_true with the shape"):
        get_loss("mse")(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"expected labels in \[0, 3\)"):
        get_loss("sparse_categorical_crossentropy")(torch.tensor([0, 3]), torch.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match="expected labels of shape"):
        get_loss("sparse_categorical_crossentropy")(torch.zeros(2, 3).long(), torch.ones(2, 3))
    with pytest.raises(ValueError, match="expected integer class labels"):
        get_loss("sparse_categorical_crossentropy")(torch.tensor([0.5, 1.0]), torch.ones(2, 3))
