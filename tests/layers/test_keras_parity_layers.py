"""Keras parity of the normalisation, shape, pooling and dropout layers and the activations
(Keras 3 on the torch backend, random weights, 1e-5 on outputs), masks included."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # must precede the first keras import

from typing import Any  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import rnnkit as rk  # noqa: E402
from rnnkit import layers  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

ATOL = 1e-5
B, T, D = 5, 7, 4


def rnd(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(0.0, 1.0, shape).astype(np.float32)


def holes(rng: np.random.Generator, batch: int = B, time: int = T) -> np.ndarray:
    m = rng.random((batch, time)) > 0.4
    m[0] = False  # a fully masked sequence
    m[1] = True
    return m


def kout(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return [kout(t) for t in x]
    return keras.ops.convert_to_numpy(x)


def close(ours: Any, theirs: Any) -> None:
    ours = ours if isinstance(ours, (list, tuple)) else [ours]
    theirs = theirs if isinstance(theirs, (list, tuple)) else [theirs]
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        a = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        b = kout(b)
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=0, atol=ATOL)


def pair(cls: str, *args: Any, input_shape: Any, rng: np.random.Generator, **kwargs: Any) -> Any:
    k = getattr(keras.layers, cls)(*args, **kwargs)
    r = getattr(layers, cls)(*args, **kwargs)
    k.build(input_shape)
    r.ensure_built([(None, *s[1:]) for s in input_shape] if isinstance(input_shape, list)
                   else (None, *input_shape[1:]))
    ws = [rng.normal(0.0, 0.5, w.shape).astype(np.float32) for w in k.get_weights()]
    k.set_weights(ws)
    params = r.keras_weights()
    assert [tuple(p.shape) for p in params] == [w.shape for w in ws]
    with torch.no_grad():
        for p, w in zip(params, ws, strict=True):
            p.copy_(torch.from_numpy(w))
    assert r.count_params() == k.count_params()
    r.eval()
    return k, r


@pytest.mark.parametrize("name", ["mish", "relu6", "leaky_relu", "hard_silu", "hard_swish",
                                  "log_softmax", "hard_tanh", "tanh_shrink", "log_sigmoid",
                                  "hard_sigmoid", "gelu", "softplus"])
def test_activations(name: str) -> None:
    rng = np.random.default_rng(1)
    x = rnd(rng, B, T, D) * 4
    k, r = pair("Dense", 3, activation=name, input_shape=(None, T, D), rng=rng)
    close(r(torch.from_numpy(x)), k(x))
    close(layers.Activation(name)(torch.from_numpy(x)), keras.layers.Activation(name)(x))


@pytest.mark.parametrize("axis", [-1, [1, 2]])  # Keras on torch fails on axis=1 alone
@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False)])
def test_layer_normalization(axis: Any, center: bool, scale: bool) -> None:
    rng = np.random.default_rng(2)
    x = rnd(rng, B, T, D) * 3 + 1
    k, r = pair("LayerNormalization", axis=axis, center=center, scale=scale, epsilon=1e-2,
                input_shape=(None, T, D), rng=rng)
    close(r(torch.from_numpy(x)), k(x))


@pytest.mark.parametrize("rank", [2, 3])
@pytest.mark.parametrize("center,scale", [(True, True), (False, False)])
def test_batch_normalization_inference(rank: int, center: bool, scale: bool) -> None:
    rng = np.random.default_rng(3)
    shape = (B, D) if rank == 2 else (B, T, D)
    x = rnd(rng, *shape) * 2
    k, r = pair("BatchNormalization", center=center, scale=scale, input_shape=(None, *shape[1:]),
                rng=rng)
    k.moving_variance.assign(np.abs(kout(k.moving_variance)) + 0.1)
    with torch.no_grad():
        r.moving_variance.copy_(torch.from_numpy(kout(k.moving_variance)))
    close(r(torch.from_numpy(x)), k(x, training=False))


@pytest.mark.parametrize("masked", [False, True])
def test_batch_normalization_training_step_and_moving_statistics(masked: bool) -> None:
    rng = np.random.default_rng(4)
    x = rnd(rng, B, T, D) * 2 + 0.5
    k, r = pair("BatchNormalization", momentum=0.9, input_shape=(None, T, D), rng=rng)
    k.moving_variance.assign(np.abs(kout(k.moving_variance)) + 0.1)
    with torch.no_grad():
        r.moving_variance.copy_(torch.from_numpy(kout(k.moving_variance)))
    m = holes(rng) if masked else None
    r.train()
    ours = r(torch.from_numpy(x), mask=None if m is None else torch.from_numpy(m))
    theirs = k(x, training=True, mask=m)
    close(ours, theirs)
    close([r.moving_mean, r.moving_variance], [k.moving_mean, k.moving_variance])


def test_batch_normalization_not_trainable_uses_moving_statistics() -> None:
    r = layers.BatchNormalization(trainable=False)
    r.ensure_built((None, D))
    r.train()
    x = torch.randn(B, D)
    torch.testing.assert_close(r(x), x / torch.sqrt(torch.tensor(1.0 + 1e-3)))
    assert [n for n, _ in r.named_parameters()] == ["gamma", "beta"]
    assert [n for n, _ in r.named_buffers()] == ["moving_mean", "moving_variance"]


@pytest.mark.parametrize("target", [(T * D,), (D, T), (-1, 2), (T, 2, 2)])
def test_reshape(target: tuple[int, ...]) -> None:
    rng = np.random.default_rng(5)
    x = rnd(rng, B, T, D)
    k, r = pair("Reshape", target, input_shape=(None, T, D), rng=rng)
    close(r(torch.from_numpy(x)), k(x))
    assert r.compute_output_shape((None, T, D)) == k.compute_output_shape((None, T, D))


@pytest.mark.parametrize("dims", [(2, 1), (1, 2)])
def test_permute_and_repeat_vector(dims: tuple[int, int]) -> None:
    rng = np.random.default_rng(6)
    x = rnd(rng, B, T, D)
    k, r = pair("Permute", dims, input_shape=(None, T, D), rng=rng)
    close(r(torch.from_numpy(x)), k(x))
    k, r = pair("RepeatVector", 3, input_shape=(None, D), rng=rng)
    close(r(torch.from_numpy(x[:, 0])), k(x[:, 0]))


@pytest.mark.parametrize("pool,strides,padding,time", [
    (2, None, "valid", 7), (3, 1, "same", 7), (2, 1, "same", 7), (3, 2, "same", 8),
    (2, 2, "same", 7), (4, 3, "valid", 9), (3, 3, "same", 7),
])
def test_average_pooling1d(pool: int, strides: int | None, padding: str, time: int) -> None:
    rng = np.random.default_rng(7)
    x = rnd(rng, B, time, D)
    k, r = pair("AveragePooling1D", pool, strides=strides, padding=padding,
                input_shape=(None, time, D), rng=rng)
    close(r(torch.from_numpy(x)), k(x))
    assert r.compute_output_shape((None, time, D)) == k.compute_output_shape((None, time, D))


def test_spatial_dropout1d_drops_whole_channels() -> None:
    r = layers.SpatialDropout1D(0.5)
    x = torch.ones(64, T, D)
    r.train()
    y = r(x)
    assert torch.all((y == 0).all(dim=1) | (y == 2).all(dim=1))  # one draw per (sample, channel)
    assert 0 < (y == 0).float().mean() < 1
    r.eval()
    assert torch.equal(r(x), x)
    assert r.compute_mask(x, torch.ones(64, T, dtype=torch.bool)) is not None  # passes masks


def test_masked_sequence_through_new_layers_matches_keras() -> None:
    """Masking -> LSTM(seq) -> LayerNorm -> BatchNorm -> SpatialDropout -> LSTM: masks pass."""
    rng = np.random.default_rng(8)
    x = rnd(rng, B, T, D)
    x[holes(rng)] = 0.0
    ks = keras.Sequential([
        keras.Input((T, D)), keras.layers.Masking(), keras.layers.LSTM(5, return_sequences=True),
        keras.layers.LayerNormalization(), keras.layers.BatchNormalization(),
        keras.layers.SpatialDropout1D(0.3), keras.layers.GRU(3),
    ])
    ours = rk.Sequential([
        rk.Input((T, D)), layers.Masking(), layers.LSTM(5, return_sequences=True),
        layers.LayerNormalization(), layers.BatchNormalization(),
        layers.SpatialDropout1D(0.3), layers.GRU(3),
    ])
    ws = [rng.normal(0, 0.5, w.shape).astype(np.float32) for w in ks.get_weights()]
    ws[-4] = np.abs(ws[-4]) + 0.1  # moving variance (BatchNorm's 4th weight) > 0
    ks.set_weights(ws)
    ours.set_weights(ws)
    assert ours.count_params() == ks.count_params()
    close(ours.predict(x), ks.predict(x, verbose=0))


def test_input_batch_shape() -> None:
    inp = rk.Input(batch_shape=(4, T, D))
    assert inp.shape == (4, T, D)
    out = layers.LSTM(3, stateful=True)(inp)
    model = rk.Model(inp, out)
    again = rk.model_from_config(model.get_config())
    assert again.inputs[0].shape == (4, T, D)
    with pytest.raises(ValueError, match="either shape/batch_size or batch_shape"):
        rk.Input((T, D), batch_shape=(4, T, D))
    with pytest.raises(ValueError, match="batch_size"):
        rk.Input(batch_shape=(0, T, D))


def test_summary_counts_moving_statistics_as_non_trainable() -> None:
    model = rk.Sequential([rk.Input((T, D)), layers.Dense(3), layers.BatchNormalization()])
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Total params: 27" in text  # 15 + 4 * 3, as Keras counts
    assert "Trainable params: 21" in text
    assert "Non-trainable params: 6" in text
    assert model.count_params() == 27


def test_batch_and_layer_normalization_train_like_keras() -> None:
    """3 epochs of SGD on masked sequences: batch statistics (masked steps left out), moving
    statistics and gradients through both normalisations end at Keras's weights."""
    rng = np.random.default_rng(9)

    def build(ns: Any, inp: Any, model: Any) -> Any:
        x = inp((T, D))
        h = ns.LSTM(4, return_sequences=True)(ns.Masking()(x))
        h = ns.LayerNormalization()(ns.BatchNormalization(momentum=0.8)(h))
        return model(x, ns.Dense(1)(ns.GlobalAveragePooling1D()(h)))

    km = build(keras.layers, keras.Input, keras.Model)
    rm = build(layers, rk.Input, rk.Model)
    ws = [rng.normal(0, 0.5, tuple(v.shape)).astype(np.float32) for v in km.weights]
    ws = [np.abs(w) + 0.5 if "moving_variance" in v.path else w for w, v in zip(ws, km.weights)]
    km.set_weights(ws)
    rm.set_weights(ws)
    x = rnd(rng, 16, T, D)
    x[:4, 4:] = 0.0
    y = rnd(rng, 16, 1)
    km.compile("sgd", "mse")
    rm.compile("sgd", "mse")
    rm.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    km.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(rm.get_weights(), km.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
