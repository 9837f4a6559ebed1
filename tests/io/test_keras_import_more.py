"""load_keras on the layers beyond the core set, RNN(cell)/StackedRNNCells, nested models,
initial_state passed between recurrent layers and the newer activations: each model is built
in Keras 3 (torch backend) with random weights, saved as .keras and as legacy .h5, loaded and
compared with Keras's predictions (1e-5)."""

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

import rnnkit as rk  # noqa: E402
from rnnkit.io import KerasImportError, load_keras  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",
    "ignore:.*HDF5 file.*:UserWarning",
    "ignore:.*does not support masking.*:UserWarning",
)

L = keras.layers
B, T = 6, 9
Built = tuple[Any, list[np.ndarray]]


def randomize(model: Any, seed: int) -> None:
    """Random weights (biases too); moving variances kept positive."""
    rng = np.random.default_rng(seed)
    ws = []
    for v in model.weights:
        w = rng.normal(0.0, 0.5, tuple(v.shape)).astype(np.float32)
        ws.append(np.abs(w) + 0.1 if "moving_variance" in v.path else w)
    model.set_weights(ws)


def holes(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    h = rng.random(shape) < 0.35
    h[np.arange(shape[0]), rng.integers(0, shape[1], shape[0])] = False
    return h


def seq(
    rng: np.random.Generator, features: int, masked: bool = False, time: int = T
) -> np.ndarray:
    x = rng.normal(0.0, 1.0, (B, time, features)).astype(np.float32)
    if masked:
        x[holes(rng, (B, time))] = 0.0
    return x


def ids(rng: np.random.Generator, vocab: int, time: int = T) -> np.ndarray:
    x = rng.integers(1, vocab, (B, time)).astype(np.int32)
    x[holes(rng, (B, time))] = 0
    return x


# -- models -----------------------------------------------------------------------------------
def new_layers_sequential() -> Built:
    m = keras.Sequential([
        keras.Input((T, 4)), L.Masking(), L.LSTM(6, return_sequences=True),
        L.LayerNormalization(epsilon=1e-2), L.BatchNormalization(momentum=0.9),
        L.SpatialDropout1D(0.2), L.AveragePooling1D(2, padding="same"),
        L.Permute((2, 1)), L.Reshape((-1,)), L.Dense(5, activation="mish"),
        L.RepeatVector(3), L.GRU(4, return_sequences=True, activation="relu6"),
        L.Flatten(), L.Dense(2, activation="leaky_relu"),
    ])
    return m, [seq(np.random.default_rng(1), 4, masked=True)]


def activations() -> Built:
    m = keras.Sequential([keras.Input((T, 3))] + [
        L.Dense(4, activation=a) for a in ("mish", "relu6", "leaky_relu", "hard_silu",
                                           "hard_swish", "log_softmax", "gelu")
    ] + [L.SimpleRNN(3, activation="hard_silu"), L.Activation("mish")])
    return m, [seq(np.random.default_rng(2), 3) * 3]


def seq2seq_initial_state() -> Built:
    enc_in = keras.Input((T, 3))
    dec_in = keras.Input((5, 2))
    _, h, c = L.LSTM(4, return_state=True)(L.Masking()(enc_in))
    dec = L.LSTM(4, return_sequences=True)(dec_in, initial_state=[h, c])
    _, g = L.GRU(3, return_state=True, go_backwards=True)(enc_in)
    dec2 = L.GRU(3, return_sequences=True)(dec, initial_state=g)
    out = L.TimeDistributed(L.Dense(2))(dec2)
    rng = np.random.default_rng(3)
    return keras.Model([enc_in, dec_in], out), [seq(rng, 3, masked=True), seq(rng, 2, time=5)]


def bidirectional_initial_state() -> Built:
    x_in = keras.Input((T, 3))
    s_in = [keras.Input((4,)) for _ in range(4)]
    y = L.Bidirectional(L.LSTM(4, return_sequences=True))(x_in, initial_state=s_in)
    rng = np.random.default_rng(4)
    return keras.Model([x_in, *s_in], y), [seq(rng, 3)] + [
        rng.normal(size=(B, 4)).astype(np.float32) for _ in range(4)
    ]


def attention_models() -> Built:
    src = keras.Input((T,), dtype="int32")
    e = L.Embedding(12, 5, mask_zero=True)(src)
    enc = L.LSTM(6, return_sequences=True)(e)
    dec = L.GRU(6, return_sequences=True)(e)
    ctx = L.Attention(use_scale=True)([dec, enc])
    add = L.AdditiveAttention()([dec, enc, enc])
    h = L.Concatenate()([dec, ctx, add])
    h = L.MultiHeadAttention(2, 3, value_dim=4, output_shape=5)(h, h, use_causal_mask=True)
    h = L.LayerNormalization()(h)
    return keras.Model(src, L.GlobalAveragePooling1D()(h)), [ids(np.random.default_rng(5), 12)]


def cells_and_stacks() -> Built:
    m = keras.Sequential([
        keras.Input((T, 4)), L.Masking(),
        L.RNN(L.StackedRNNCells([L.LSTMCell(5), L.GRUCell(3, reset_after=False),
                                 L.SimpleRNNCell(4)]), return_sequences=True),
        L.RNN(L.LSTMCell(3, dropout=0.2, recurrent_dropout=0.1), return_sequences=True,
              go_backwards=True),
        L.Bidirectional(L.RNN(L.GRUCell(2), return_sequences=True)),
        L.RNN(L.SimpleRNNCell(3, activation="relu")),
    ])
    return m, [seq(np.random.default_rng(6), 4, masked=True)]


def nested_models() -> Built:
    inner_seq = keras.Sequential([L.Dense(5, activation="tanh"), L.LayerNormalization()],
                                 name="inner_seq")
    a = keras.Input((T, 4))
    b = L.Dense(3)(a)
    inner_fn = keras.Model(a, [L.GRU(3, return_sequences=True)(b), b], name="inner_fn")
    x = keras.Input((T, 4))
    h = L.Dense(4, name="dense")(x)  # the same name as a layer of inner_fn
    y, z = inner_fn(h)
    y = inner_seq(L.Add()([y, z]))
    return keras.Model(x, L.LSTM(2)(y)), [seq(np.random.default_rng(7), 4)]


def sequential_with_nested() -> Built:
    inner = keras.Sequential([keras.Input((T, 3)), L.LSTM(4, return_sequences=True),
                              L.BatchNormalization()], name="block")
    m = keras.Sequential([keras.Input((T, 3)), inner, L.GRU(2)])
    return m, [seq(np.random.default_rng(8), 3)]


MODELS: dict[str, Callable[[], Built]] = {
    f.__name__: f for f in (new_layers_sequential, activations, seq2seq_initial_state,
                            bidirectional_initial_state, attention_models, cells_and_stacks,
                            nested_models, sequential_with_nested)
}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras_file_predicts_alike(name: str, fmt: str, tmp_path: Path) -> None:
    kmodel, inputs = MODELS[name]()
    randomize(kmodel, seed=len(name))
    path = tmp_path / f"m.{fmt}"
    kmodel.save(path)
    want = kmodel.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    model = load_keras(path)
    assert model.count_params() == kmodel.count_params()
    got = model.predict(inputs if len(inputs) > 1 else inputs[0], batch_size=4)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    model.eval()
    with torch.no_grad():
        again = model(*[torch.as_tensor(x) for x in inputs])
    np.testing.assert_allclose(again.numpy(), want, rtol=0, atol=1e-5)


def test_user_defined_keras_cell_is_refused(tmp_path: Path) -> None:
    @keras.saving.register_keras_serializable(package="t")
    class Cell(keras.layers.Layer):
        def __init__(self, units: int = 2, **kw: Any) -> None:
            super().__init__(**kw)
            self.units = self.state_size = units

        def call(self, x: Any, states: Any) -> Any:
            return x[:, : self.units], [x[:, : self.units]]

    m = keras.Sequential([keras.Input((T, 3)), L.RNN(Cell(2))])
    m.save(tmp_path / "c.keras")
    with pytest.raises(KerasImportError, match="runs no code from a file"):
        load_keras(tmp_path / "c.keras")
    assert isinstance(rk.layers.RNN(rk.layers.GRUCell(2)), rk.layers.RNN)


def attention_calls() -> Built:
    q_in, v_in, k_in = keras.Input((5, 4)), keras.Input((T, 4)), keras.Input((T, 3))
    am = keras.Input((5, T), dtype="bool")
    out, scores = L.Attention(score_mode="concat")([q_in, v_in], return_attention_scores=True,
                                                  use_causal_mask=True)
    mha = L.MultiHeadAttention(2, 3)(q_in, v_in, k_in, attention_mask=am)
    y = L.Concatenate()([out, mha, scores])
    rng = np.random.default_rng(9)
    mask = rng.random((B, 5, T)) > 0.3
    mask[:, :, 0] = True
    return keras.Model([q_in, v_in, k_in, am], y), [
        rng.normal(size=(B, 5, 4)).astype(np.float32), seq(rng, 4), seq(rng, 3), mask]


def shared_nested_model() -> Built:
    block = keras.Sequential([keras.Input((T, 4)), L.Dense(4, activation="tanh"),
                              L.BatchNormalization()], name="block")
    x = keras.Input((T, 4))
    y = block(block(x))
    return keras.Model(x, L.SimpleRNN(3)(y)), [seq(np.random.default_rng(10), 4)]


def stateful_batch_shape() -> Built:
    x = keras.Input(batch_shape=(B, T, 3))
    y = L.Bidirectional(L.GRU(3, stateful=True, return_sequences=True))(x)
    return keras.Model(x, L.LSTM(2, stateful=True)(y)), [seq(np.random.default_rng(11), 3)]


MODELS.update({f.__name__: f for f in (attention_calls, shared_nested_model,
                                       stateful_batch_shape)})


@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("name", ["attention_calls", "shared_nested_model"])
def test_more_keras_files_predict_alike(name: str, fmt: str, tmp_path: Path) -> None:
    test_keras_file_predicts_alike(name, fmt, tmp_path)


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_stateful_model_with_batch_shape(fmt: str, tmp_path: Path) -> None:
    kmodel, (x,) = stateful_batch_shape()
    randomize(kmodel, seed=3)
    kmodel.save(tmp_path / f"m.{fmt}")
    model = load_keras(tmp_path / f"m.{fmt}")
    assert model.inputs[0].shape == (B, T, 3)
    model.eval()
    for _ in range(2):  # the second call starts from the states the first left
        want = kmodel.predict(x, batch_size=B, verbose=0)
        with torch.no_grad():
            got = model(torch.as_tensor(x))
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-5)


# -- Keras 2 (tf.keras) dialect: initial states as extra inputs, nested models, new layers -----
def test_keras2_functional_initial_state_nested_and_new_layers(tmp_path: Path) -> None:
    from .test_keras_import import _cell_names, _k2_layer, _k2_rnn, write_keras2_h5

    enc_in = keras.Input((T, 3), name="input_1")
    dec_in = keras.Input((5, 2), name="input_2")
    _, h, c = L.LSTM(4, return_state=True, name="lstm")(enc_in)
    dec = L.LSTM(4, return_sequences=True, name="lstm_1")(dec_in, initial_state=[h, c])
    dec = L.LayerNormalization(name="layer_normalization")(dec)
    block = keras.Sequential([keras.Input((5, 4)), L.Dense(3, name="dense_1"),
                              L.BatchNormalization(name="batch_normalization")], name="block")
    out = L.Dense(2, name="dense")(block(dec))
    kmodel = keras.Model([enc_in, dec_in], out)
    randomize(kmodel, seed=21)
    get = kmodel.get_layer

    def entry(layer: dict[str, Any], *inbound: tuple[str, int]) -> dict[str, Any]:
        nodes = [[[n, 0, i, {}] for n, i in inbound]] if inbound else []
        return {**layer, "name": layer["config"]["name"], "inbound_nodes": nodes}

    def k2_input(name: str, shape: list[Any]) -> dict[str, Any]:
        return {"class_name": "InputLayer", "config": {
            "batch_input_shape": shape, "dtype": "float32", "sparse": False, "ragged": False,
            "name": name}}

    inner = {"class_name": "Sequential", "config": {"name": "block", "layers": [
        k2_input("input_3", [None, 5, 4]),
        _k2_layer("Dense", "dense_1", units=3, activation="linear", use_bias=True),
        _k2_layer("BatchNormalization", "batch_normalization", axis=[2], momentum=0.99,
                  epsilon=0.001, center=True, scale=True),
    ]}}
    layers = [
        entry(k2_input("input_1", [None, T, 3])),
        entry(k2_input("input_2", [None, 5, 2])),
        entry(_k2_rnn("LSTM", "lstm", 4, return_state=True), ("input_1", 0)),
        entry(_k2_rnn("LSTM", "lstm_1", 4, return_sequences=True),
              ("input_2", 0), ("lstm", 1), ("lstm", 2)),
        entry(_k2_layer("LayerNormalization", "layer_normalization", axis=[2], epsilon=0.001,
                        center=True, scale=True), ("lstm_1", 0)),
        entry(inner, ("layer_normalization", 0)),
        entry(_k2_layer("Dense", "dense", units=2, activation="linear", use_bias=True),
              ("block", 0)),
    ]
    config = {"class_name": "Functional", "config": {
        "name": "model", "layers": layers,
        "input_layers": [["input_1", 0, 0], ["input_2", 0, 0]],
        "output_layers": ["dense", 0, 0]}}
    bn = get("block").get_layer("batch_normalization").get_weights()
    weights = {
        "lstm": list(zip(_cell_names("lstm", "lstm_cell"), get("lstm").get_weights())),
        "lstm_1": list(zip(_cell_names("lstm_1", "lstm_cell_1"), get("lstm_1").get_weights())),
        "layer_normalization": list(zip(
            ["layer_normalization/gamma:0", "layer_normalization/beta:0"],
            get("layer_normalization").get_weights())),
        "block": list(zip(
            ["dense_1/kernel:0", "dense_1/bias:0", "batch_normalization/gamma:0",
             "batch_normalization/beta:0", "batch_normalization/moving_mean:0",
             "batch_normalization/moving_variance:0"],
            get("block").get_layer("dense_1").get_weights() + bn)),
        "dense": list(zip(["dense/kernel:0", "dense/bias:0"], get("dense").get_weights())),
    }
    write_keras2_h5(tmp_path / "k2.h5", config, weights)
    model = load_keras(tmp_path / "k2.h5")
    rng = np.random.default_rng(22)
    xs = [seq(rng, 3), seq(rng, 2, time=5)]
    np.testing.assert_allclose(model.predict(xs), kmodel.predict(xs, verbose=0), atol=1e-5)
