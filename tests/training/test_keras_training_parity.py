"""Training parity with Keras 3 (torch backend): the same initial weights and data,
``shuffle=False``, 5 epochs; the losses agree to 1e-4 and the final weights to 1e-3 (relative).

Covered: masked outputs (Embedding(mask_zero) and Masking before sequence outputs, with and
without per-step sample weights), ``sample_weight``, ``class_weight``, ``evaluate`` with
sample weights, and every optimizer rnnkit offers by name and by spec.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # must precede the first keras import

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import rnnkit as rk  # noqa: E402
import rnnkit.io  # noqa: E402, F401
from rnnkit.training import optimizers  # noqa: E402

# Keras 3.15's Variable.__array__ lacks numpy 2's `copy` keyword (get_weights()).
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

KL, RL = keras.layers, rk.layers
B, T, EPOCHS = 24, 7, 5


def _randomize(model: Any, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0.0, 0.4, w.shape).astype(np.float32) for w in model.get_weights()]
    model.set_weights(weights)
    return weights


def _train_both(
    build_keras: Callable[[], Any],
    build_rnnkit: Callable[[], Any],
    compile_args: tuple[Any, Any, Any],
    x: Any,
    y: np.ndarray,
    seed: int = 0,
    **fit_kwargs: Any,
) -> tuple[Any, Any, Any, Any]:
    """Fit the Keras and the rnnkit model from the same weights; returns both models and
    histories after checking them."""
    km, rm = build_keras(), build_rnnkit()
    rm.set_weights(_randomize(km, seed))
    k_opt, r_opt, loss = compile_args
    km.compile(optimizer=k_opt, loss=loss, metrics=["accuracy"] if "entropy" in loss else None)
    rm.compile(optimizer=r_opt, loss=loss, metrics=["accuracy"] if "entropy" in loss else None)
    kh = km.fit(x, y, batch_size=8, epochs=EPOCHS, shuffle=False, verbose=0, **fit_kwargs)
    rh = rm.fit(x, y, batch_size=8, epochs=EPOCHS, shuffle=False, verbose=0, **fit_kwargs)
    for key, values in kh.history.items():
        np.testing.assert_allclose(rh.history[key], values, rtol=1e-4, atol=1e-6, err_msg=key)
    for i, (kw, rw) in enumerate(zip(km.get_weights(), rm.get_weights(), strict=True)):
        np.testing.assert_allclose(rw, kw, rtol=1e-3, atol=1e-5, err_msg=f"weight {i}")
    return km, rm, kh, rh


def _tagger_data(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Token ids with zero padding at the ends and holes, and a label per step."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 9, (B, T))
    for i, n in enumerate(rng.integers(2, T + 1, B)):
        x[i, n:] = 0  # padded tails of different lengths
    x[rng.random((B, T)) < 0.15] = 0  # and holes
    x[:, 0] = rng.integers(1, 9, B)
    y = rng.integers(0, 3, (B, T))
    return x, y


def _tagger(lib: Any) -> Callable[[], Any]:
    layers = KL if lib is keras else RL
    inputs = keras.Input((T,)) if lib is keras else rk.Input((T,))
    seq = keras.Sequential if lib is keras else rk.Sequential
    return lambda: seq(
        [
            inputs,
            layers.Embedding(9, 4, mask_zero=True),
            layers.LSTM(5, return_sequences=True),
            layers.Dense(3, activation="softmax"),
        ]
    )


def test_masked_sequence_outputs_leave_masked_steps_out_of_loss_and_metrics() -> None:
    x, y = _tagger_data()
    _, rm, _, rh = _train_both(
        _tagger(keras),
        _tagger(rk),
        (keras.optimizers.Adam(0.05), optimizers.Adam(0.05), "sparse_categorical_crossentropy"),
        x,
        y,
        validation_data=(x[:8], y[:8]),
    )
    # and the mask is what changes the loss: every step counted gives another value
    plain = rk.training.losses.get("sparse_categorical_crossentropy")
    with torch.no_grad():
        y_pred = rm(x)
        masked = float(plain(torch.from_numpy(y), y_pred, None, y_pred._keras_mask))
        every = float(plain(torch.from_numpy(y), y_pred))
    assert abs(masked - every) > 1e-3
    assert masked == pytest.approx(rm.evaluate(x, y, batch_size=B, verbose=0)[0], rel=1e-5)


def _regressor(lib: Any) -> Callable[[], Any]:
    layers = KL if lib is keras else RL
    inputs = keras.Input((T, 2)) if lib is keras else rk.Input((T, 2))
    seq = keras.Sequential if lib is keras else rk.Sequential
    return lambda: seq(
        [
            inputs,
            layers.Masking(0.0),
            layers.GRU(4, return_sequences=True),
            layers.Dense(1),
        ]
    )


def test_masking_layer_with_per_step_sample_weights() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(B, T, 2)).astype(np.float32)
    x[rng.random((B, T)) < 0.3] = 0.0  # masked steps
    y = rng.normal(size=(B, T, 1)).astype(np.float32)
    sw = rng.uniform(0.2, 2.0, (B, T)).astype(np.float32)
    _train_both(
        _regressor(keras),
        _regressor(rk),
        (keras.optimizers.SGD(0.05), optimizers.SGD(0.05), "mse"),
        x,
        y,
        sample_weight=sw,
    )


def _classifier(lib: Any) -> Callable[[], Any]:
    layers = KL if lib is keras else RL
    inputs = keras.Input((T, 3)) if lib is keras else rk.Input((T, 3))
    seq = keras.Sequential if lib is keras else rk.Sequential
    return lambda: seq([inputs, layers.SimpleRNN(6), layers.Dense(3, activation="softmax")])


def _classes(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(B, T, 3)).astype(np.float32), rng.integers(0, 3, B)


def test_sample_weight_in_fit_and_evaluate() -> None:
    x, y = _classes()
    sw = np.random.default_rng(4).uniform(0.0, 3.0, B).astype(np.float32)
    km, rm, _, _ = _train_both(
        _classifier(keras),
        _classifier(rk),
        (
            keras.optimizers.RMSprop(0.01),
            optimizers.RMSprop(0.01),
            "sparse_categorical_crossentropy",
        ),
        x,
        y,
        sample_weight=sw,
        validation_data=(x[:10], y[:10], sw[:10]),
    )
    k = km.evaluate(x, y, sample_weight=sw, batch_size=8, verbose=0, return_dict=True)
    r = rm.evaluate(x, y, sample_weight=sw, batch_size=8, verbose=0, return_dict=True)
    assert set(k) == set(r)
    for key in k:
        assert r[key] == pytest.approx(k[key], rel=1e-5), key
    kt = km.test_on_batch(x[:8], y[:8], sample_weight=sw[:8], return_dict=True)
    rt = rm.test_on_batch(x[:8], y[:8], sample_weight=sw[:8], return_dict=True)
    assert rt["loss"] == pytest.approx(float(kt["loss"]), rel=1e-5)


@pytest.mark.parametrize("one_hot", [False, True])
def test_class_weight(one_hot: bool) -> None:
    x, y = _classes(5)
    loss = "categorical_crossentropy" if one_hot else "sparse_categorical_crossentropy"
    targets = np.eye(3, dtype=np.float32)[y] if one_hot else y
    _train_both(
        _classifier(keras),
        _classifier(rk),
        (keras.optimizers.Adam(0.02), optimizers.Adam(0.02), loss),
        x,
        targets,
        class_weight={0: 0.5, 1: 2.0, 2: 1.25},
        validation_split=0.25,
    )


def _dense(lib: Any) -> Callable[[], Any]:
    layers = KL if lib is keras else RL
    inputs = keras.Input((T, 2)) if lib is keras else rk.Input((T, 2))
    seq = keras.Sequential if lib is keras else rk.Sequential
    return lambda: seq([inputs, layers.LSTM(3), layers.Dense(2)])


OPTIMIZERS: list[tuple[str, Any, Any]] = [
    ("sgd", "sgd", "sgd"),
    ("sgd_momentum", keras.optimizers.SGD(0.05, momentum=0.9), optimizers.SGD(0.05, 0.9)),
    (
        "sgd_nesterov",
        keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
        optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    ),
    ("adam", "adam", "adam"),
    (
        "adam_amsgrad",
        keras.optimizers.Adam(0.01, amsgrad=True),
        optimizers.Adam(0.01, amsgrad=True),
    ),
    ("adamw", "adamw", "adamw"),
    (
        "adamw_decay",
        keras.optimizers.AdamW(0.01, weight_decay=0.1),
        optimizers.AdamW(0.01, weight_decay=0.1),
    ),
    ("rmsprop", "rmsprop", "rmsprop"),
    ("adagrad", keras.optimizers.Adagrad(0.05), optimizers.Adagrad(0.05)),
    ("adagrad_by_name", "adagrad", "adagrad"),
    ("adadelta", keras.optimizers.Adadelta(1.0), optimizers.Adadelta(1.0)),
    ("adamax", keras.optimizers.Adamax(0.02), optimizers.Adamax(0.02)),
    ("nadam", keras.optimizers.Nadam(0.02), optimizers.Nadam(0.02)),
    ("nadam_by_name", "nadam", "nadam"),
    (
        "rmsprop_centered_momentum",
        keras.optimizers.RMSprop(0.005, momentum=0.5, centered=True),
        optimizers.RMSprop(0.005, momentum=0.5, centered=True),
    ),
]


@pytest.mark.parametrize(("name", "k_opt", "r_opt"), OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_each_optimizer_trains_as_keras(name: str, k_opt: Any, r_opt: Any) -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=(B, T, 2)).astype(np.float32)
    y = rng.normal(size=(B, 2)).astype(np.float32)
    if not isinstance(k_opt, str):  # a fresh Keras optimizer per run
        k_opt = k_opt.__class__.from_config(k_opt.get_config())
    _train_both(_dense(keras), _dense(rk), (k_opt, r_opt, "mse"), x, y)


def test_model_call_on_numpy_and_batch_methods() -> None:
    km, rm = _classifier(keras)(), _classifier(rk)()
    rm.set_weights(_randomize(km, 7))
    x, y = _classes(8)
    expected = keras.ops.convert_to_numpy(km(x))
    np.testing.assert_allclose(rm(x).detach().numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(rm.predict_on_batch(x), km.predict_on_batch(x), atol=1e-5)
    km.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rm.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert rm.train_on_batch(x, y) == pytest.approx(float(km.train_on_batch(x, y)), rel=1e-5)
    for kw, rw in zip(km.get_weights(), rm.get_weights(), strict=True):
        np.testing.assert_allclose(rw, kw, rtol=1e-4, atol=1e-6)


def test_generator_and_dataloader_with_steps_per_epoch() -> None:
    x, y = _classes(9)
    sw = np.random.default_rng(10).uniform(0.5, 2.0, B).astype(np.float32)

    def batches() -> Any:
        while True:
            for i in range(0, B, 8):
                yield x[i : i + 8], y[i : i + 8], sw[i : i + 8]

    km, rm = _classifier(keras)(), _classifier(rk)()
    rm.set_weights(_randomize(km, 11))
    for m, opt in ((km, keras.optimizers.SGD(0.1)), (rm, optimizers.SGD(0.1))):
        m.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    kh = km.fit(batches(), epochs=EPOCHS, steps_per_epoch=2, shuffle=False, verbose=0)
    rh = rm.fit(batches(), epochs=EPOCHS, steps_per_epoch=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(rh.history["loss"], kh.history["loss"], rtol=1e-4)
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=8)
    k = km.evaluate(loader, verbose=0)
    r = rm.evaluate(loader, verbose=0)
    assert r == pytest.approx(float(k), rel=1e-5)
    for kw, rw in zip(km.get_weights(), rm.get_weights(), strict=True):
        np.testing.assert_allclose(rw, kw, rtol=1e-3, atol=1e-5)


def test_weights_h5_files_go_both_ways(tmp_path: Path) -> None:
    km, rm = _tagger(keras)(), _tagger(rk)()
    _randomize(km, 12)
    km.save_weights(tmp_path / "keras.weights.h5")
    rm.load_weights(tmp_path / "keras.weights.h5")
    x, _ = _tagger_data(13)
    np.testing.assert_allclose(rm.predict(x), km.predict(x, verbose=0), atol=1e-5)
    _randomize(rm, 14)
    rm.save_weights(tmp_path / "rnnkit.weights.h5")
    km.load_weights(tmp_path / "rnnkit.weights.h5")
    np.testing.assert_allclose(km.predict(x, verbose=0), rm.predict(x), atol=1e-5)
    other = rk.Sequential([rk.Input((T,)), RL.Embedding(9, 4), RL.GRU(5), RL.Dense(3)])
    with pytest.raises(rk.io.KerasImportError):
        other.load_weights(tmp_path / "rnnkit.weights.h5")
