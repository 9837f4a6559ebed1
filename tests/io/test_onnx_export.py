"""rnnkit.io.export_onnx: the exported graph runs in onnxruntime and matches rnnkit to 1e-4.

Every model is exported once (with the built-in check) and then compared with rnnkit at batch
sizes 1, 4, 64 and lengths 1, 13, 300, none of which the export's own check uses; masked
models get masked steps anywhere (Masking values / padding ids at random positions), not only
at the end. Weights are random, biases included.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import torch

import rnnkit as rk
from rnnkit import layers as L
from rnnkit.io import OnnxExportError, _onnx_graph, export_onnx

ATOL = RTOL = 1e-4
BATCHES = (1, 4, 64)
LENGTHS = (1, 13, 300)
VOCAB = 11


def randomize(model: torch.nn.Module, seed: int, scale: float = 0.5) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)


def sample(
    kind: str,
    batch: int,
    time: int,
    rng: np.random.Generator,
    features: int = 3,
    mask_value: float | None = None,
) -> np.ndarray:
    if kind == "ids":
        x = rng.integers(1, VOCAB, (batch, time))
        x[rng.random((batch, time)) < 0.3] = 0  # padding anywhere
        return x.astype(np.int64)
    x = rng.normal(0.0, 1.0, (batch, time, features)).astype(np.float32)
    if mask_value is not None:
        x[rng.random((batch, time)) < 0.3] = mask_value
    return x


def rnnkit_outputs(model: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    model.eval()
    with torch.no_grad():
        out = model(*[torch.as_tensor(x) for x in inputs])
    return [o.numpy() for o in (out if isinstance(out, (list, tuple)) else [out])]


def session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def assert_close(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, atol=ATOL, rtol=RTOL, equal_nan=True)


# -- models ---------------------------------------------------------------------------------------
Case = tuple[Callable[[], Any], list[str], float | None]  # model, input kinds, mask value


def seq(*layers: Any, shape: tuple[int | None, ...] = (None, 3), dtype: str = "float32") -> Any:
    return rk.Sequential([rk.Input(shape, dtype=dtype), *layers])


CASES: dict[str, Case] = {
    "lstm": (lambda: seq(L.LSTM(6, return_sequences=True), L.LSTM(4), L.Dense(2)), ["x"], None),
    "gru": (
        lambda: seq(L.GRU(5, return_sequences=True), L.Dense(2, activation="tanh")),
        ["x"],
        None,
    ),
    "gru_reset_before": (lambda: seq(L.GRU(5, reset_after=False, go_backwards=True)), ["x"], None),
    "simple_rnn": (
        lambda: seq(
            L.SimpleRNN(5, activation="relu", return_sequences=True), L.SimpleRNN(3, use_bias=False)
        ),
        ["x"],
        None,
    ),
    "indrnn": (lambda: seq(L.IndRNN(4, activation="tanh", return_sequences=True)), ["x"], None),
    "bidirectional": (
        lambda: seq(
            L.Bidirectional(L.LSTM(4, return_sequences=True)),
            L.Bidirectional(L.GRU(3), merge_mode="ave"),
        ),
        ["x"],
        None,
    ),
    "masking": (
        lambda: seq(
            L.Masking(0.0),
            L.LSTM(5, return_sequences=True, recurrent_activation="hard_sigmoid"),
            L.Bidirectional(L.GRU(3, return_sequences=True), merge_mode="mul"),
            L.SimpleRNN(4, go_backwards=True, return_sequences=True),
            L.TimeDistributed(L.Dense(3, activation="gelu")),
            L.GRU(2, zero_output_for_mask=True),
        ),
        ["x"],
        0.0,
    ),
    "lstm_projection_and_zoneout": (
        lambda: seq(
            L.Masking(0.0),
            L.LSTM(6, proj_size=3, zoneout=0.2, return_sequences=True),
            L.Bidirectional(L.GRU(4, zoneout=0.3, return_sequences=True)),
            L.LSTM(5, proj_size=2, go_backwards=True),
        ),
        ["x"],
        0.0,
    ),
    "layer_norm_lstm_gru": (
        lambda: seq(
            L.Masking(0.0),
            L.LayerNormLSTM(5, zoneout=0.2, return_sequences=True),
            L.Bidirectional(L.LayerNormGRU(3, return_sequences=True)),
            L.LayerNormGRU(4, go_backwards=True, use_bias=False, return_sequences=True),
            L.LayerNormLSTM(3, go_backwards=True, recurrent_activation="hard_sigmoid"),
        ),
        ["x"],
        0.0,
    ),
    "min_gru_min_lstm": (
        lambda: seq(
            L.Masking(0.0),
            L.MinGRU(5, return_sequences=True),
            L.Bidirectional(L.MinLSTM(3, return_sequences=True)),
            L.MinGRU(4, go_backwards=True),
        ),
        ["x"],
        0.0,
    ),
    "embedding_mask_zero": (
        lambda: seq(
            L.Embedding(VOCAB, 4, mask_zero=True),
            L.GRU(5, return_sequences=True, reset_after=False),
            L.Dropout(0.5),
            L.Bidirectional(L.LSTM(3, return_sequences=True)),
            L.GlobalAveragePooling1D(),
            L.Dense(2, activation="softmax"),
            shape=(None,),
            dtype="int64",
        ),
        ["ids"],
        None,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_export_matches_rnnkit_at_other_batches_and_lengths(name: str, tmp_path: Path) -> None:
    make, kinds, mask_value = CASES[name]
    torch.manual_seed(0)
    model = make()
    randomize(model, seed=len(name))
    info = export_onnx(model, tmp_path / "m.onnx")
    assert info.path == tmp_path / "m.onnx" and info.path.is_file()
    assert info.inputs == ("input",) and info.outputs == ("output",)
    sess = session(info.path)
    rng = np.random.default_rng(1)
    for batch in BATCHES:
        for time in LENGTHS:
            inputs = [sample(k, batch, time, rng, mask_value=mask_value) for k in kinds]
            got = sess.run(None, {"input": inputs[0]})
            assert_close(got, rnnkit_outputs(model, inputs))


def test_functional_model_with_branches_convolutions_and_states(tmp_path: Path) -> None:
    signal = rk.Input((None, 3), name="signal")
    tokens = rk.Input((None,), dtype="int64", name="tokens")
    a = L.Conv1D(4, 3, padding="same", strides=2, activation="relu")(signal)
    a = L.Conv1D(5, 2, padding="causal", dilation_rate=2)(a)
    a = L.MaxPooling1D(2, padding="same")(a)
    a = L.GlobalMaxPooling1D()(a)
    e = L.Embedding(VOCAB, 3, mask_zero=True)(tokens)
    r = L.LSTM(5, return_sequences=True)(e)
    pooled = L.GlobalAveragePooling1D()(r)
    _, h, c = L.LSTM(2, return_state=True)(e)
    shared = L.Dense(3, activation="swish")
    summed = L.Add()([shared(a), shared(pooled)])
    head = L.Dense(1)(L.Concatenate()([summed, h, c]))
    per_step = L.TimeDistributed(L.Dense(2))(
        L.Concatenate()([r, L.GRU(2, return_sequences=True)(e)])
    )
    model = rk.Model([signal, tokens], [head, per_step])
    randomize(model, seed=3)
    info = export_onnx(model, tmp_path / "f.onnx")
    assert info.inputs == ("signal", "tokens") and info.outputs == ("output_0", "output_1")
    sess = session(info.path)
    rng = np.random.default_rng(2)
    for batch, time in [(1, 13), (4, 300), (64, 7)]:
        inputs = [sample("x", batch, time, rng), sample("ids", batch, time, rng)]
        got = sess.run(None, dict(zip(info.inputs, inputs)))
        assert_close(got, rnnkit_outputs(model, inputs))


def test_a_mask_passed_by_keyword_travels_to_the_layers(tmp_path: Path) -> None:
    """``layer(x, mask=m)`` with ``m`` a (batch, time) 0/1 input (the classifier's network)."""
    values = rk.Input((20, 3), name="values")
    mask = rk.Input((20,), name="mask")
    c = L.Conv1D(4, 3, padding="same", activation="relu")(values)
    h = L.GRU(5)(c, mask=mask)
    pooled = L.GlobalAveragePooling1D()(c, mask=mask)
    model = rk.Model([values, mask], L.Dense(2)(L.Concatenate()([h, pooled])))
    randomize(model, seed=4)
    info = export_onnx(model, tmp_path / "k.onnx")  # verified in onnxruntime with holes
    sess = session(info.path)
    rng = np.random.default_rng(5)
    for batch, time in [(1, 20), (3, 9)]:
        keep = (rng.random((batch, time)) >= 0.4).astype(np.float32)
        keep[:, 0] = 1.0
        inputs = [sample("x", batch, time, rng), keep]
        got = sess.run(None, dict(zip(info.inputs, inputs)))
        assert_close(got, rnnkit_outputs(model, inputs))


def test_masked_pooling_pools_the_mask_as_the_classifier_does(tmp_path: Path) -> None:
    """The classifier's pooled network: MaskedMaxPooling1D of the values (given the mask)
    and of the mask itself (Reshape to (batch, time, 1) and back), any length, holes anywhere."""
    values = rk.Input((None, 3), name="values")
    mask = rk.Input((None,), name="mask")
    c = L.Conv1D(4, 3, padding="same", activation="relu")(values)
    c = L.MaskedMaxPooling1D(3)(c, mask=mask)  # (batch, ceil(T / 3), 4)
    c = L.Conv1D(4, 3, padding="same")(c)  # reads the windows of padding only: must be 0
    m = L.Reshape((-1,))(L.MaskedMaxPooling1D(3)(L.Reshape((-1, 1))(mask)))
    h = L.GRU(5)(c, mask=m)
    pooled = L.GlobalAveragePooling1D()(c, mask=m)
    model = rk.Model([values, mask], L.Dense(2)(L.Concatenate()([h, pooled])))
    randomize(model, seed=6)
    info = export_onnx(model, tmp_path / "p.onnx")  # verified in onnxruntime with holes
    sess = session(info.path)
    rng = np.random.default_rng(7)
    for batch, time in [(1, 1), (3, 7), (4, 30), (2, 301)]:
        keep = (rng.random((batch, time)) >= 0.4).astype(np.float32)
        keep[:, 0] = 1.0
        keep[0, time // 2:] = 0.0  # a padded tail
        inputs = [sample("x", batch, time, rng), keep]
        got = sess.run(None, dict(zip(info.inputs, inputs)))
        assert_close(got, rnnkit_outputs(model, inputs))


def test_valid_convolutions_and_flatten_keep_the_declared_length(tmp_path: Path) -> None:
    model = seq(
        L.Conv1D(4, 3, activation="elu"),
        L.MaxPooling1D(2),
        L.Flatten(),
        L.Activation("softplus"),
        L.Dense(2),
        shape=(12, 3),
    )
    randomize(model, seed=4)
    sess = session(export_onnx(model, tmp_path / "c.onnx").path)
    x = sample("x", 5, 12, np.random.default_rng(3))
    assert_close(sess.run(None, {"input": x}), rnnkit_outputs(model, [x]))


def test_with_states_streams_a_sequence_chunk_by_chunk(tmp_path: Path) -> None:
    model = seq(
        L.LSTM(5, return_sequences=True),
        L.GRU(4, return_sequences=True),
        L.SimpleRNN(3, return_sequences=True),
        L.Dense(2),
    )
    randomize(model, seed=5)
    info = export_onnx(model, tmp_path / "s.onnx", with_states=True)
    lstm, gru, rnn = (layer.name for layer in model.layers[:3])
    assert info.state_inputs == (f"{lstm}.h_in", f"{lstm}.c_in", f"{gru}.h_in", f"{rnn}.h_in")
    assert info.state_outputs == (f"{lstm}.h_out", f"{lstm}.c_out", f"{gru}.h_out", f"{rnn}.h_out")
    sess = session(info.path)
    assert [i.name for i in sess.get_inputs()] == ["input", *info.state_inputs]
    assert [o.name for o in sess.get_outputs()] == ["output", *info.state_outputs]
    batch = 4
    x = sample("x", batch, 60, np.random.default_rng(4))
    states = {
        n: np.zeros((batch, 5 if n.startswith(lstm) else 4 if n.startswith(gru) else 3), np.float32)
        for n in info.state_inputs
    }
    chunks = []
    for part in np.split(x, [1, 25, 26], axis=1):  # lengths 1, 24, 1, 34
        y, *finals = sess.run(None, {"input": part, **states})
        chunks.append(y)
        states = dict(zip(info.state_inputs, finals))
    assert_close([np.concatenate(chunks, axis=1)], rnnkit_outputs(model, [x]))
    # the last layer's final state is its last output (SimpleRNN: h == y)
    np.testing.assert_allclose(
        states[f"{rnn}.h_in"],
        rnnkit_outputs(seq(*model.layers[:3]), [x])[0][:, -1],
        atol=ATOL,
        rtol=RTOL,
    )


def test_with_states_on_bidirectional_and_masked_models(tmp_path: Path) -> None:
    # The export's own check compares every state output with rnnkit from random initial
    # states; here we also run it at another size.
    model = seq(L.Masking(0.0), L.Bidirectional(L.LSTM(3, return_sequences=True)), L.GRU(2))
    randomize(model, seed=6)
    info = export_onnx(model, tmp_path / "b.onnx", with_states=True, opset=18)
    assert len(info.state_inputs) == 5 and info.state_inputs[0].startswith("forward_")
    sess = session(info.path)
    rng = np.random.default_rng(5)
    x = sample("x", 64, 13, rng, mask_value=0.0)
    zeros = {
        n: np.zeros((64, 2 if i == 4 else 3), np.float32) for i, n in enumerate(info.state_inputs)
    }
    assert_close(sess.run(None, {"input": x, **zeros})[:1], rnnkit_outputs(model, [x]))


@pytest.mark.parametrize("opset", [13, 20])
def test_other_opsets(opset: int, tmp_path: Path) -> None:
    model = seq(L.Masking(0.0), L.GRU(3, return_sequences=True), L.GlobalAveragePooling1D())
    randomize(model, seed=7)
    info = export_onnx(model, tmp_path / "o.onnx", opset=opset)
    assert info.opset == opset
    x = sample("x", 4, 13, np.random.default_rng(6), mask_value=0.0)
    assert_close(session(info.path).run(None, {"input": x}), rnnkit_outputs(model, [x]))


def test_a_wrong_graph_is_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = seq(L.GRU(4))
    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous export")
    real = _onnx_graph.Builder.activation

    def wrong(self: Any, name: str, x: str) -> str:  # a bug: sigmoid where tanh belongs
        return real(self, "sigmoid" if name == "tanh" else name, x)

    monkeypatch.setattr(_onnx_graph.Builder, "activation", wrong)
    with pytest.raises(OnnxExportError, match="match rnnkit"):
        export_onnx(model, target)
    assert target.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temporary file left
    # without the check the (wrong) file is written: the check is what guards it
    export_onnx(model, target, check=False)
    assert target.read_bytes() != b"previous export"


def test_export_leaves_stateful_layers_and_modes_alone(tmp_path: Path) -> None:
    model = seq(L.LSTM(3, stateful=True), L.Dropout(0.5))
    model.train()
    model(torch.randn(2, 5, 3))  # carries states for batch 2
    lstm = model.layers[0]
    carried = [s.clone() for s in lstm._states]
    export_onnx(model, tmp_path / "st.onnx", with_states=True)
    assert model.training and lstm.stateful and not lstm.return_state
    assert all(torch.equal(a, b) for a, b in zip(lstm._states, carried))


def test_unsupported_models_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(OnnxExportError, match=r"'0' \(Linear\)|Linear"):
        export_onnx(
            rk.Sequential([rk.Input((None, 3)), torch.nn.Linear(3, 2)]), tmp_path / "x.onnx"
        )
    with pytest.raises(OnnxExportError, match="built"):
        export_onnx(rk.Sequential([L.LSTM(2)]), tmp_path / "x.onnx")
    with pytest.raises(OnnxExportError, match=r"TimeDistributed\(Conv1D\)"):
        export_onnx(seq(L.TimeDistributed(L.Conv1D(2, 1)), shape=(None, 4, 3)), tmp_path / "x.onnx")
    with pytest.raises(TypeError, match="Sequential or Model"):
        export_onnx(L.LSTM(2), tmp_path / "x.onnx")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="opset"):
        export_onnx(seq(L.LSTM(2)), tmp_path / "x.onnx", opset=7)
    assert not (tmp_path / "x.onnx").exists()


def test_missing_onnx_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"rnnkit\[onnx\]"):
        export_onnx(seq(L.LSTM(2)), tmp_path / "x.onnx")


def test_with_states_of_a_projected_lstm(tmp_path: Path) -> None:
    model = seq(L.LSTM(5, proj_size=2, return_sequences=True))
    randomize(model, seed=6)
    info = export_onnx(model, tmp_path / "p.onnx", with_states=True)  # checked on export
    shapes = {o.name: o.shape for o in session(info.path).get_outputs()}
    assert [shapes[n][1] for n in info.state_outputs] == [2, 5]  # h proj_size wide, c units


@pytest.mark.parametrize("opset", [13, 20])
def test_layer_norm_steps_at_other_opsets(opset: int, tmp_path: Path) -> None:
    """The layer norm's ReduceMean takes its axes as an attribute before opset 18."""
    model = seq(L.LayerNormLSTM(4, return_sequences=True), L.LayerNormGRU(3))
    randomize(model, seed=8)
    info = export_onnx(model, tmp_path / "ln.onnx", opset=opset)
    x = sample("x", 5, 9, np.random.default_rng(8))
    assert_close(session(info.path).run(None, {"input": x}), rnnkit_outputs(model, [x]))
