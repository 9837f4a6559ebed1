"""rnnkit.load_keras: Keras files built here with Keras 3 (torch backend) predict alike in rnnkit.

Every file is written in this test run (nothing binary is committed):

* Keras 3 ``.keras`` files and Keras 3's legacy ``.h5`` writer (``model.save("x.h5")``), for
  Sequential and functional models covering every layer rnnkit imports, masks with holes
  anywhere (Masking, Embedding(mask_zero=True)), custom and repeated layer names and a shared
  layer;
* Keras 2 ``.h5`` files: Keras 3 cannot write the Keras 2 dialect (its legacy writer stores a
  Keras 3 config), so those are written with h5py following the documented Keras 2 layout
  (``model_config`` JSON in the tf.keras 2 dialect, ``model_weights/<layer>`` groups with
  ``weight_names`` such as ``lstm/lstm_cell/kernel:0``), with the weights of an equivalent Keras 3
  model that gives the expected predictions.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # must precede the first keras import

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import rnnkit as rk  # noqa: E402
import rnnkit.io  # noqa: E402, F401  (rk.io until the package exports it)
from rnnkit.io import KerasImportError, load_keras  # noqa: E402

# Keras 3.15's Variable.__array__ lacks numpy 2's `copy` keyword (get_weights()).
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

ATOL = 1e-5
L = keras.layers
B, T = 6, 11


# -- helpers ---------------------------------------------------------------------------------------
def randomize(model: Any, seed: int) -> None:
    """Random weights everywhere (biases too), so layout or gate-order bugs cannot hide."""
    rng = np.random.default_rng(seed)
    model.set_weights(
        [rng.normal(0.0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()]
    )


def holes(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A (batch, time) bool array of masked steps anywhere, leaving each row one valid step."""
    h = rng.random(shape) < 0.35
    h[np.arange(shape[0]), rng.integers(0, shape[1], shape[0])] = False
    return h


def seq(
    rng: np.random.Generator, features: int, mask_value: float | None = None, time: int = T
) -> np.ndarray:
    x = rng.normal(0.0, 1.0, (B, time, features)).astype(np.float32)
    if mask_value is not None:
        x[holes(rng, (B, time))] = mask_value
    return x


def ids(rng: np.random.Generator, vocab: int, time: int = T) -> np.ndarray:
    x = rng.integers(1, vocab, (B, time)).astype(np.int32)
    x[holes(rng, (B, time))] = 0
    return x


def as_list(x: Any) -> list[Any]:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def assert_same_predictions(
    model: rk.Sequential | rk.Model, kmodel: Any, inputs: list[np.ndarray]
) -> None:
    want = as_list(kmodel.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0))
    model.eval()
    with torch.no_grad():
        got = as_list(model(*[torch.as_tensor(x) for x in inputs]))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert tuple(g.shape) == w.shape
        np.testing.assert_allclose(g.numpy(), w, rtol=0, atol=ATOL)
    # also through rnnkit's own predict (batched, inference mode)
    got_p = as_list(model.predict(inputs if len(inputs) > 1 else inputs[0], batch_size=4))
    for g, w in zip(got_p, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=ATOL)


# -- Keras 3 models --------------------------------------------------------------------------------
def sequential_recurrent() -> tuple[Any, list[np.ndarray]]:
    m = keras.Sequential(
        [
            keras.Input((None, 4)),
            L.Masking(0.0),
            L.LSTM(5, return_sequences=True, unit_forget_bias=False),
            L.Bidirectional(L.GRU(3, reset_after=False, return_sequences=True), merge_mode="ave"),
            L.Dropout(0.3),
            L.Bidirectional(
                L.SimpleRNN(4, activation="relu", return_sequences=True), merge_mode="mul"
            ),
            L.SimpleRNN(4, go_backwards=True, zero_output_for_mask=True, return_sequences=True),
            L.GRU(3, activation="softsign"),
            L.Dense(2, activation="softmax"),
        ]
    )
    return m, [seq(np.random.default_rng(1), 4, mask_value=0.0)]


def sequential_embedding() -> tuple[Any, list[np.ndarray]]:
    m = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            L.Embedding(20, 6, mask_zero=True),
            L.GRU(5, return_sequences=True),
            L.TimeDistributed(L.Dense(3, activation="tanh")),
            L.Activation("elu"),
            L.Bidirectional(L.LSTM(4, use_bias=False, recurrent_activation="hard_sigmoid")),
            L.Dense(1),
        ]
    )
    return m, [ids(np.random.default_rng(2), 20)]


def sequential_conv() -> tuple[Any, list[np.ndarray]]:
    m = keras.Sequential(
        [
            keras.Input((14, 3)),
            L.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu"),
            L.Conv1D(5, 3, strides=2, padding="same", activation="gelu"),
            L.MaxPooling1D(2),
            L.LSTM(3, return_sequences=True, go_backwards=True),
            L.GlobalMaxPooling1D(),
            L.Dense(2, activation="sigmoid"),
        ]
    )
    return m, [seq(np.random.default_rng(3), 3, time=14)]


def sequential_flatten() -> tuple[Any, list[np.ndarray]]:
    m = keras.Sequential(
        [
            keras.Input((10, 3)),
            L.Conv1D(4, 2, use_bias=False),
            L.MaxPooling1D(3, strides=1, padding="same"),
            L.Flatten(),
            L.Activation("swish"),
            L.Dense(2),
        ]
    )
    return m, [seq(np.random.default_rng(4), 3, time=10)]


def functional() -> tuple[Any, list[np.ndarray]]:
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    signal = keras.Input((None, 3), name="signal")
    e = L.Embedding(12, 4, mask_zero=True, name="embed")(tokens)
    # names that do not follow the class (the .keras weight paths do): an LSTM called "gru"
    enc, h, c = L.LSTM(5, return_sequences=True, return_state=True, name="gru")(e)
    dec = L.GRU(5, return_sequences=True, name="lstm")(enc)
    pooled = L.GlobalAveragePooling1D()(dec)  # masked mean
    m = L.Masking(-1.0)(signal)
    b = L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="sum")(m)
    c1 = L.Conv1D(4, 3, padding="same")(signal)
    p = L.MaxPooling1D(2, padding="same")(c1)
    g = L.GlobalAveragePooling1D()(p)
    last = L.SimpleRNN(4)(b)
    shared = L.Dense(4, activation="tanh", name="shared")
    added = L.Add()([shared(g), shared(last)])
    cat = L.Concatenate()([pooled, h, added])
    out = L.Dense(2, name="head")(cat)
    td = L.TimeDistributed(L.Dense(2))(dec)
    model = keras.Model([tokens, signal], [out, td])
    rng = np.random.default_rng(5)
    return model, [ids(rng, 12), seq(rng, 3, mask_value=-1.0)]


MODELS = {
    "sequential_recurrent": sequential_recurrent,
    "sequential_embedding": sequential_embedding,
    "sequential_conv": sequential_conv,
    "sequential_flatten": sequential_flatten,
    "functional": functional,
}


@pytest.mark.parametrize("fmt", [".keras", ".h5"])
@pytest.mark.parametrize("name", list(MODELS))
def test_keras3_files_predict_like_keras(name: str, fmt: str, tmp_path: Path) -> None:
    kmodel, inputs = MODELS[name]()
    randomize(kmodel, seed=len(name))
    path = tmp_path / f"model{fmt}"
    kmodel.save(path)
    model = load_keras(path)
    assert isinstance(model, rk.Model if name == "functional" else rk.Sequential)
    assert model.count_params() == kmodel.count_params()
    assert_same_predictions(model, kmodel, inputs)


def test_layer_options_are_carried_over(tmp_path: Path) -> None:
    kmodel = keras.Sequential(
        [
            keras.Input((None, 3)),
            L.LSTM(
                4,
                return_sequences=True,
                dropout=0.25,
                recurrent_dropout=0.1,
                stateful=False,
                unit_forget_bias=False,
                name="enc",
            ),
            L.Bidirectional(L.GRU(2, reset_after=False, go_backwards=False), merge_mode="concat"),
            L.Dropout(0.4),
        ]
    )
    kmodel.save(tmp_path / "m.keras")
    model = load_keras(tmp_path / "m.keras")
    enc, bi, drop = model.layers
    cfg = enc.get_config()
    assert (
        cfg["name"],
        cfg["units"],
        cfg["dropout"],
        cfg["recurrent_dropout"],
        cfg["unit_forget_bias"],
        cfg["return_sequences"],
    ) == ("enc", 4, 0.25, 0.1, False, True)
    assert isinstance(bi, rk.layers.Bidirectional) and bi.merge_mode == "concat"
    assert bi.backward_layer.go_backwards and not bi.forward_layer.go_backwards
    assert bi.forward_layer.cell.reset_after is False
    assert drop.rate == 0.4
    # the loaded model saves and reloads as an rnnkit file
    model.save(tmp_path / "m.rnnkit")
    again = rk.load_model(tmp_path / "m.rnnkit")
    assert [type(l).__name__ for l in again.layers] == ["LSTM", "Bidirectional", "Dropout"]


# -- Keras 2 files (documented layout, written with h5py) ------------------------------------------
def _k2_layer(cls: str, name: str, **config: Any) -> dict[str, Any]:
    return {
        "class_name": cls,
        "config": {"name": name, "trainable": True, "dtype": "float32", **config},
    }


def _k2_rnn(cls: str, name: str, units: int, **config: Any) -> dict[str, Any]:
    base = {
        "units": units,
        "activation": "tanh",
        "use_bias": True,
        "return_sequences": False,
        "return_state": False,
        "go_backwards": False,
        "stateful": False,
        "unroll": False,
        "time_major": False,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "recurrent_initializer": {
            "class_name": "Orthogonal",
            "config": {"gain": 1.0, "seed": None},
        },
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": None,
        "recurrent_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "recurrent_constraint": None,
        "bias_constraint": None,
    }
    if cls != "SimpleRNN":
        base.update(recurrent_activation="sigmoid", implementation=2)
    if cls == "LSTM":
        base["unit_forget_bias"] = True
    return _k2_layer(cls, name, **{**base, **config})


def write_keras2_h5(
    path: Path, config: dict[str, Any], weights: dict[str, list[tuple[str, np.ndarray]]]
) -> None:
    """A Keras 2 (tf.keras 2.x) full-model .h5 file."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        g = f.create_group("model_weights")
        g.attrs["keras_version"] = "2.15.0"
        g.attrs["backend"] = "tensorflow"
        g.attrs["layer_names"] = [n.encode("utf8") for n in weights]
        for layer, items in weights.items():
            lg = g.create_group(layer)
            lg.attrs["weight_names"] = [n.encode("utf8") for n, _ in items]
            for n, a in items:
                lg.create_dataset(n, data=a)


def _cell_names(prefix: str, cell: str, bias: bool = True) -> list[str]:
    names = [f"{prefix}/{cell}/kernel:0", f"{prefix}/{cell}/recurrent_kernel:0"]
    return names + [f"{prefix}/{cell}/bias:0"] if bias else names


def test_keras2_sequential_h5(tmp_path: Path) -> None:
    # The equivalent Keras 3 model gives the weights and the expected predictions.
    kmodel = keras.Sequential(
        [
            keras.Input((None, 4)),
            L.Masking(0.0, name="masking"),
            L.LSTM(3, return_sequences=True, name="lstm"),
            L.Bidirectional(L.GRU(2, reset_after=True), name="bidirectional"),
            L.Dense(2, activation="softmax", name="dense"),
        ]
    )
    randomize(kmodel, seed=11)
    lstm, bi, dense = (kmodel.get_layer(n) for n in ("lstm", "bidirectional", "dense"))
    # Keras 2.x: no InputLayer entry, batch_input_shape on the first layer.
    config = {
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "layers": [
                _k2_layer("Masking", "masking", mask_value=0.0, batch_input_shape=[None, None, 4]),
                _k2_rnn("LSTM", "lstm", 3, return_sequences=True),
                _k2_layer(
                    "Bidirectional",
                    "bidirectional",
                    merge_mode="concat",
                    layer=_k2_rnn("GRU", "gru", 2, reset_after=True),
                ),
                _k2_layer("Dense", "dense", units=2, activation="softmax", use_bias=True),
            ],
        },
    }
    bw = bi.get_weights()
    weights = {
        "masking": [],
        "lstm": list(zip(_cell_names("lstm", "lstm_cell"), lstm.get_weights())),
        "bidirectional": list(
            zip(
                _cell_names("bidirectional/forward_gru", "gru_cell")
                + _cell_names("bidirectional/backward_gru", "gru_cell"),
                bw,
            )
        ),
        "dense": list(zip(["dense/kernel:0", "dense/bias:0"], dense.get_weights())),
    }
    write_keras2_h5(tmp_path / "k2.h5", config, weights)
    model = load_keras(tmp_path / "k2.h5")
    assert_same_predictions(model, kmodel, [seq(np.random.default_rng(6), 4, mask_value=0.0)])


def test_keras2_functional_h5(tmp_path: Path) -> None:
    tokens = keras.Input((None,), dtype="int32", name="input_1")
    signal = keras.Input((None, 3), name="input_2")
    e = L.Embedding(9, 4, mask_zero=True, name="embedding")(tokens)
    r = L.SimpleRNN(3, return_sequences=True, name="simple_rnn")(e)
    pooled = L.GlobalAveragePooling1D(name="global_average_pooling1d")(r)
    g = L.GRU(2, reset_after=False, name="gru")(L.Masking(-1.0, name="masking")(signal))
    out = L.Dense(1, name="dense")(L.Concatenate(name="concatenate")([pooled, g]))
    kmodel = keras.Model([tokens, signal], out)
    randomize(kmodel, seed=12)

    def node(*names: str) -> list[list[list[Any]]]:
        return [[[n, 0, 0, {}] for n in names]]

    def entry(layer: dict[str, Any], *inbound: str) -> dict[str, Any]:
        return {
            **layer,
            "name": layer["config"]["name"],
            "inbound_nodes": node(*inbound) if inbound else [],
        }

    layers = [
        entry(
            {
                "class_name": "InputLayer",
                "config": {
                    "batch_input_shape": [None, None],
                    "dtype": "int32",
                    "sparse": False,
                    "ragged": False,
                    "name": "input_1",
                },
            }
        ),
        entry(
            {
                "class_name": "InputLayer",
                "config": {
                    "batch_input_shape": [None, None, 3],
                    "dtype": "float32",
                    "sparse": False,
                    "ragged": False,
                    "name": "input_2",
                },
            }
        ),
        entry(
            _k2_layer(
                "Embedding",
                "embedding",
                input_dim=9,
                output_dim=4,
                mask_zero=True,
                input_length=None,
            ),
            "input_1",
        ),
        entry(_k2_rnn("SimpleRNN", "simple_rnn", 3, return_sequences=True), "embedding"),
        entry(
            _k2_layer(
                "GlobalAveragePooling1D",
                "global_average_pooling1d",
                data_format="channels_last",
                keepdims=False,
            ),
            "simple_rnn",
        ),
        entry(_k2_layer("Masking", "masking", mask_value=-1.0), "input_2"),
        entry(_k2_rnn("GRU", "gru", 2, reset_after=False), "masking"),
        entry(_k2_layer("Concatenate", "concatenate", axis=-1), "global_average_pooling1d", "gru"),
        entry(
            _k2_layer("Dense", "dense", units=1, activation="linear", use_bias=True), "concatenate"
        ),
    ]
    config = {
        "class_name": "Functional",
        "config": {
            "name": "model",
            "layers": layers,
            "input_layers": [["input_1", 0, 0], ["input_2", 0, 0]],
            "output_layers": ["dense", 0, 0],  # tf.keras 2 writes a single output unnested
        },
    }
    get = kmodel.get_layer
    weights = {
        "embedding": [("embedding/embeddings:0", get("embedding").get_weights()[0])],
        "simple_rnn": list(
            zip(_cell_names("simple_rnn", "simple_rnn_cell"), get("simple_rnn").get_weights())
        ),
        "gru": list(zip(_cell_names("gru", "gru_cell"), get("gru").get_weights())),
        "dense": list(zip(["dense/kernel:0", "dense/bias:0"], get("dense").get_weights())),
    }
    write_keras2_h5(tmp_path / "k2f.h5", config, weights)
    model = load_keras(tmp_path / "k2f.h5")
    assert isinstance(model, rk.Model)
    rng = np.random.default_rng(7)
    assert_same_predictions(model, kmodel, [ids(rng, 9), seq(rng, 3, mask_value=-1.0)])


def test_keras2_hard_sigmoid_is_refused(tmp_path: Path) -> None:
    config = {
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [
                _k2_rnn(
                    "LSTM",
                    "lstm",
                    2,
                    recurrent_activation="hard_sigmoid",
                    batch_input_shape=[None, None, 3],
                ),
            ],
        },
    }
    lstm = [np.zeros((3, 8), np.float32), np.zeros((2, 8), np.float32), np.zeros(8, np.float32)]
    write_keras2_h5(
        tmp_path / "hs.h5", config, {"lstm": list(zip(_cell_names("lstm", "lstm_cell"), lstm))}
    )
    with pytest.raises(KerasImportError, match="hard_sigmoid"):
        load_keras(tmp_path / "hs.h5")


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", [".keras", ".h5"])
def test_unsupported_layers_are_named(fmt: str, tmp_path: Path) -> None:
    kmodel = keras.Sequential(
        [
            keras.Input((None, 4)),
            L.LSTM(3, return_sequences=True),
            L.GaussianNoise(0.1, name="noise"),
            L.TimeDistributed(L.UnitNormalization(name="unit")),
            L.Dense(1),
        ]
    )
    kmodel.save(tmp_path / f"m{fmt}")
    with pytest.raises(KerasImportError, match=r"noise \(GaussianNoise\), unit \(UnitNorm"):
        load_keras(tmp_path / f"m{fmt}")


def test_keras_ops_between_layers_are_refused(tmp_path: Path) -> None:
    x = keras.Input((None, 3))
    y = keras.ops.tanh(L.Dense(2)(x))
    kmodel = keras.Model(x, L.LSTM(2)(y))
    kmodel.save(tmp_path / "ops.keras")
    with pytest.raises(KerasImportError, match="operation"):
        load_keras(tmp_path / "ops.keras")


def test_weights_only_and_foreign_files_are_refused(tmp_path: Path) -> None:
    kmodel = keras.Sequential([keras.Input((None, 2)), L.GRU(2)])
    kmodel.save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(KerasImportError, match="weights-only"):
        load_keras(tmp_path / "w.weights.h5")
    (tmp_path / "junk.keras").write_bytes(b"not a model")
    with pytest.raises(KerasImportError, match="expected a Keras"):
        load_keras(tmp_path / "junk.keras")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_keras(tmp_path / "missing.keras")


def test_unbuilt_sequential_is_refused(tmp_path: Path) -> None:
    config = {
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [_k2_layer("Dense", "dense", units=2, activation="linear", use_bias=True)],
        },
    }
    write_keras2_h5(tmp_path / "u.h5", config, {"dense": []})
    with pytest.raises(KerasImportError, match="known input shape"):
        load_keras(tmp_path / "u.h5")


def test_wrong_weight_shapes_are_refused(tmp_path: Path) -> None:
    config = {
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [
                _k2_layer(
                    "Dense",
                    "dense",
                    units=2,
                    activation="linear",
                    use_bias=True,
                    batch_input_shape=[None, 3],
                )
            ],
        },
    }
    write_keras2_h5(
        tmp_path / "bad.h5",
        config,
        {
            "dense": [
                ("dense/kernel:0", np.zeros((4, 2), np.float32)),
                ("dense/bias:0", np.zeros(2, np.float32)),
            ]
        },
    )
    with pytest.raises(KerasImportError, match=r"shape \(3, 2\), got \(4, 2\)"):
        load_keras(tmp_path / "bad.h5")


def test_missing_h5py_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kmodel = keras.Sequential([keras.Input((None, 2)), L.GRU(2)])
    kmodel.save(tmp_path / "m.keras")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r"rnnkit\[keras\]"):
        load_keras(tmp_path / "m.keras")


def test_imported_model_exports_to_onnx(tmp_path: Path) -> None:
    import onnxruntime as ort

    kmodel, inputs = sequential_embedding()  # int32 ids, mask_zero, TimeDistributed, Bidirectional
    randomize(kmodel, seed=21)
    kmodel.save(tmp_path / "m.keras")
    model = load_keras(tmp_path / "m.keras")
    info = rk.io.export_onnx(model, tmp_path / "m.onnx")
    sess = ort.InferenceSession(str(info.path), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"input": inputs[0]})
    np.testing.assert_allclose(got, kmodel.predict(inputs[0], verbose=0), atol=1e-4, rtol=1e-4)
