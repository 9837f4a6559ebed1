"""model.save("m.keras") writes a Keras 3 archive: keras.saving.load_model opens it and
predicts what rnnkit predicts (1e-5), for models of every layer with a Keras counterpart (masks,
Bidirectional, stacks, functional graphs, Embedding mask_zero, Conv1D, TimeDistributed,
attention, cells); what Keras cannot represent is an error naming the layer."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # must precede the first keras import

import json  # noqa: E402
import zipfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import rnnkit as rk  # noqa: E402
from rnnkit import layers as L  # noqa: E402
from rnnkit.io import KerasExportError, load_keras  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",
    "ignore:.*does not support masking.*:UserWarning",
)

B, T = 5, 8
Built = tuple[Any, list[np.ndarray]]


def rng_for(name: str) -> np.random.Generator:
    return np.random.default_rng(sum(map(ord, name)))


def randomize(model: Any, rng: np.random.Generator) -> None:
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            w = torch.from_numpy(rng.normal(0.0, 0.5, tuple(t.shape)).astype(np.float32))
            t.copy_(w.abs() + 0.1 if "moving_variance" in name else w)


def seq(
    rng: np.random.Generator, features: int, masked: bool = False, time: int = T
) -> np.ndarray:
    x = rng.normal(0.0, 1.0, (B, time, features)).astype(np.float32)
    if masked:
        h = rng.random((B, time)) < 0.35
        h[:, 0] = False
        x[h] = 0.0
    return x


def ids(rng: np.random.Generator, vocab: int, time: int = T) -> np.ndarray:
    x = rng.integers(1, vocab, (B, time)).astype(np.int64)
    x[:, 1:][rng.random((B, time - 1)) < 0.35] = 0
    return x


def masked_stack(rng: np.random.Generator) -> Built:
    m = rk.Sequential([
        rk.Input((T, 3)), L.Masking(), L.LSTM(5, return_sequences=True, unit_forget_bias=False),
        L.Bidirectional(L.GRU(3, return_sequences=True, reset_after=False), merge_mode="ave"),
        L.Bidirectional(L.SimpleRNN(2, activation="relu", return_sequences=True),
                        merge_mode="mul"),
        L.SimpleRNN(3, go_backwards=True, zero_output_for_mask=True, return_sequences=True),
        L.Dropout(0.2), L.GRU(4, activation="softsign", recurrent_activation="hard_sigmoid"),
        L.Dense(2, activation="softmax"),
    ])
    return m, [seq(rng, 3, masked=True)]


def embedding_text(rng: np.random.Generator) -> Built:
    m = rk.Sequential([
        rk.Input((T,), dtype="int64"), L.Embedding(20, 6, mask_zero=True),
        L.LSTM(5, return_sequences=True), L.TimeDistributed(L.Dense(4, activation="tanh")),
        L.SpatialDropout1D(0.1), L.Bidirectional(L.LSTM(3, use_bias=False)),
        L.Dense(1, activation="sigmoid"),
    ])
    return m, [ids(rng, 20)]


def conv_and_shapes(rng: np.random.Generator) -> Built:
    m = rk.Sequential([
        rk.Input((T, 3)), L.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu"),
        L.Conv1D(5, 2, strides=2, padding="same", activation="gelu"), L.MaxPooling1D(2),
        L.AveragePooling1D(2, strides=1, padding="same"), L.BatchNormalization(),
        L.LayerNormalization(epsilon=0.01), L.Permute((2, 1)), L.Flatten(),
        L.Dense(6, activation="mish"), L.RepeatVector(3), L.Reshape((3, 2, 3)),
        L.Reshape((3, 6)), L.GRU(3, activation="relu6"), L.Activation("hard_silu"),
    ])
    return m, [seq(rng, 3)]


def functional_graph(rng: np.random.Generator) -> Built:
    a, b = rk.Input((T, 4)), rk.Input((T,), dtype="int64")
    shared = L.Dense(4, activation="tanh")
    x = L.LSTM(4, return_sequences=True)(shared(L.Masking()(a)))
    y = L.Embedding(9, 4, mask_zero=True)(b)
    z = L.Add()([x, shared(y)])
    h = L.Concatenate()([z, L.GRU(3, return_sequences=True)(y)])
    out1 = L.GlobalAveragePooling1D()(h)
    out2 = L.GlobalMaxPooling1D()(L.Conv1D(2, 3)(a))
    return rk.Model([a, b], [out1, out2]), [seq(rng, 4, masked=True), ids(rng, 9)]


def states_and_attention(rng: np.random.Generator) -> Built:
    enc_in, dec_in = rk.Input((T, 3)), rk.Input((5, 2))
    enc, h, c = L.LSTM(4, return_sequences=True, return_state=True)(L.Masking()(enc_in))
    dec = L.LSTM(4, return_sequences=True)(dec_in, initial_state=[h, c])
    _, fh, fc, bh, bc = L.Bidirectional(L.LSTM(2, return_state=True))(enc_in)
    dec2 = L.Bidirectional(L.LSTM(2, return_sequences=True))(dec, initial_state=[fh, fc, bh, bc])
    ctx = L.Attention(use_scale=True)([dec, enc])
    add = L.AdditiveAttention()([dec, enc])
    mha = L.MultiHeadAttention(2, 3, value_dim=2, output_shape=5)(dec, enc)
    h2 = L.Concatenate()([dec2, ctx, add, mha])
    h2 = L.MultiHeadAttention(1, 4)(h2, h2, use_causal_mask=True)
    return rk.Model([enc_in, dec_in], L.TimeDistributed(L.Dense(2))(h2)), [
        seq(rng, 3, masked=True), seq(rng, 2, time=5)]


def cells(rng: np.random.Generator) -> Built:
    m = rk.Sequential([
        rk.Input((T, 3)), L.Masking(),
        L.RNN(L.StackedRNNCells([L.LSTMCell(4), L.GRUCell(3, reset_after=False),
                                 L.SimpleRNNCell(2)]), return_sequences=True),
        L.RNN(L.LSTMCell(3), go_backwards=True, return_sequences=True),
        L.Bidirectional(L.RNN(L.GRUCell(2), return_sequences=True), merge_mode="sum"),
        L.RNN(L.SimpleRNNCell(3)),
    ])
    return m, [seq(rng, 3, masked=True)]


def attention_calls(rng: np.random.Generator) -> Built:
    q_in, v_in, k_in = rk.Input((5, 4)), rk.Input((T, 4)), rk.Input((T, 3))
    am = rk.Input((5, T), dtype="bool")
    out, scores = L.Attention(score_mode="concat")([q_in, v_in], return_attention_scores=True,
                                                  use_causal_mask=True)
    mha = L.MultiHeadAttention(2, 3)(q_in, v_in, k_in, attention_mask=am)
    fw, bw = L.Bidirectional(L.GRU(2, return_sequences=True), merge_mode=None)(v_in)
    y = L.Concatenate()([out, mha, scores])
    mask = rng.random((B, 5, T)) > 0.3
    mask[:, :, 0] = True
    return rk.Model([q_in, v_in, k_in, am], [y, fw, bw]), [
        rng.normal(size=(B, 5, 4)).astype(np.float32), seq(rng, 4), seq(rng, 3), mask]


MODELS: dict[str, Callable[[np.random.Generator], Built]] = {
    f.__name__: f for f in (masked_stack, embedding_text, conv_and_shapes, functional_graph,
                            states_and_attention, cells, attention_calls)
}


def _as_list(x: Any) -> list[np.ndarray]:
    return [np.asarray(t) for t in x] if isinstance(x, (list, tuple)) else [np.asarray(x)]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras_opens_what_rnnkit_saves(name: str, tmp_path: Path) -> None:
    rng = rng_for(name)
    model, inputs = MODELS[name](rng)
    randomize(model, rng)
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        json.loads(z.read("config.json"))
    ours = _as_list(model.predict(inputs if len(inputs) > 1 else inputs[0]))
    kmodel = keras.saving.load_model(path)
    theirs = _as_list(kmodel.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0))
    assert kmodel.count_params() == model.count_params()
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    again = _as_list(load_keras(path).predict(inputs if len(inputs) > 1 else inputs[0]))
    for a, b in zip(ours, again, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


@pytest.mark.parametrize("bad,match", [
    (lambda: L.IndRNN(3), "'ind'.*IndRNN"),
    (lambda: L.LSTM(3, engine="loop"), "engine"),
    (lambda: L.RNN(L.IndRNNCell(3)), "IndRNNCell"),
])
def test_what_keras_cannot_represent_is_an_error_naming_the_layer(
    bad: Callable[[], Any], match: str, tmp_path: Path
) -> None:
    layer = bad()
    layer.name = "ind" if isinstance(layer, L.IndRNN) else layer.name
    model = rk.Sequential([rk.Input((T, 2)), layer])
    with pytest.raises(KerasExportError, match=match):
        model.save(tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()
    model.save(tmp_path / "m.rnnkit")  # rnnkit's own file keeps every layer
    x = torch.randn(2, T, 2)
    model.eval()
    torch.testing.assert_close(rk.load_model(tmp_path / "m.rnnkit").eval()(x), model(x))


def test_rnnkit_archive_and_h5_paths(tmp_path: Path) -> None:
    model = rk.Sequential([rk.Input((T, 2)), L.GRU(3)])
    model.save(tmp_path / "m.rnnkit")
    with zipfile.ZipFile(tmp_path / "m.rnnkit") as z:
        assert "model.safetensors" in z.namelist()
    with pytest.raises(ValueError, match=r"expected a \.keras or \.rnnkit path"):
        model.save(tmp_path / "m.h5")


def test_stateful_model_with_batch_shape_round_trips(tmp_path: Path) -> None:
    rng = rng_for("stateful")
    x_in = rk.Input(batch_shape=(B, T, 3))
    y = L.Bidirectional(L.LSTM(3, stateful=True, return_sequences=True))(x_in)
    model = rk.Model(x_in, L.GRU(2, stateful=True)(y))
    randomize(model, rng)
    model.save(tmp_path / "s.keras")
    kmodel = keras.saving.load_model(tmp_path / "s.keras")
    x = seq(rng, 3)
    model.eval()
    for _ in range(2):  # states carried into the second call alike
        with torch.no_grad():
            ours = model(torch.as_tensor(x)).numpy()
        np.testing.assert_allclose(ours, kmodel.predict(x, batch_size=B, verbose=0), atol=1e-5)
