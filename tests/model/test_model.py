"""Sequential and functional models: summary, counts, fit/evaluate/predict, weights, save/load."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnkit as rk
from rnnkit import layers


def seed_model(cell: type[layers.RNN], classes: int = 12) -> rk.Sequential:
    """Seed 000's model: two recurrent layers of 32 on (200, 3) windows, softmax over classes."""
    return rk.Sequential(
        [
            rk.Input((200, 3)),
            cell(32, return_sequences=True),
            cell(32),
            layers.Dense(classes, activation="softmax"),
        ]
    )


def summary_text(model: rk.Sequential | rk.Model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


@pytest.mark.parametrize(
    "cell,counts,total",
    [
        (layers.SimpleRNN, ("1,152", "2,080", "396"), "3,628"),
        (layers.LSTM, ("4,608", "8,320", "396"), "13,324"),
    ],
)
def test_seed_000_parameter_tables(
    cell: type[layers.RNN], counts: tuple[str, ...], total: str
) -> None:
    text = summary_text(seed_model(cell))
    rows = [line for line in text.splitlines() if "(None" in line]
    assert [r.split("│")[3].strip() for r in rows] == list(counts)
    assert "(None, 200, 32)" in rows[0] and "(None, 32)" in rows[1] and "(None, 12)" in rows[2]
    assert f"Total params: {total}" in text
    assert "engine" in text


@pytest.mark.parametrize("d,u", [(3, 32), (7, 5)])
def test_gru_counts(d: int, u: int) -> None:
    for reset_after, extra in ((True, 2), (False, 1)):
        m = rk.Sequential([rk.Input((10, d)), layers.GRU(u, reset_after=reset_after)])
        assert m.count_params() == 3 * u * (d + u + extra)


def test_functional_summary_lists_inputs_and_connections() -> None:
    inp = rk.Input((20, 3), name="series")
    a = layers.LSTM(8, name="lstm_a")(inp)
    b = layers.GRU(8, name="gru_b")(inp)
    out = layers.Dense(1, name="head")(layers.Concatenate(name="merge")([a, b]))
    text = summary_text(rk.Model(inp, out, name="two_branches"))
    assert "series (InputLayer)" in text and "merge (Concatenate)" in text
    assert "lstm_a, gru_b" in text


def _toy_classification(n: int = 256, t: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, t, 2)).astype("float32")
    y = (x[:, :, 0].sum(1) > 0).astype("int64") + 2 * (x[:, -1, 1] > 0)
    return x, y


def test_fit_learns_evaluate_and_predict() -> None:
    rk.set_seed(0)
    x, y = _toy_classification()
    model = rk.Sequential(
        [rk.Input((12, 2)), layers.LSTM(16), layers.Dense(4, activation="softmax")]
    )
    model.compile(
        optimizer=rk.optimizers.Adam(learning_rate=0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    hist = model.fit(x, y, epochs=15, batch_size=32, validation_split=0.2, verbose=0)
    assert set(hist.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert hist.history["loss"][-1] < hist.history["loss"][0] * 0.7
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.6
    pred = model.predict(x[:50], batch_size=16)
    assert pred.shape == (50, 4)
    np.testing.assert_allclose(pred.sum(1), 1.0, atol=1e-5)


def test_fit_is_reproducible_with_a_seed() -> None:
    x, y = _toy_classification(64)

    def run(seed: int) -> list[np.ndarray]:
        rk.set_seed(seed)
        m = rk.Sequential(
            [
                rk.Input((12, 2)),
                layers.GRU(8, dropout=0.1, recurrent_dropout=0.1),
                layers.Dense(4, activation="softmax"),
            ]
        )
        m.compile("adam", "sparse_categorical_crossentropy")
        m.fit(x, y, epochs=2, batch_size=16, verbose=0)
        return m.get_weights()

    a, b, c = run(1), run(1), run(2)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not all(np.array_equal(p, q) for p, q in zip(a, c))


def test_save_and_load_predict_bit_identically(tmp_path: Path) -> None:
    rk.set_seed(3)
    inp = rk.Input((9, 4))
    x = layers.Masking()(inp)
    x = layers.Bidirectional(layers.LSTM(6, return_sequences=True))(x)
    x = layers.GRU(5)(x)
    out = layers.Dense(2, activation="softmax")(x)
    model = rk.Model(inp, out)
    data = np.random.default_rng(0).standard_normal((7, 9, 4)).astype("float32")
    data[:, :3] = 0.0
    path = tmp_path / "m.rnnkit"
    model.save(path)
    loaded = rk.load_model(path)
    assert np.array_equal(model.predict(data), loaded.predict(data))
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["config.json", "model.safetensors"]
        json.loads(z.read("config.json"))


def test_sequential_save_load_roundtrip(tmp_path: Path) -> None:
    model = seed_model(layers.GRU, classes=3)
    data = np.random.default_rng(1).standard_normal((4, 200, 3)).astype("float32")
    model.save(tmp_path / "s.rnnkit")
    again = rk.load_model(tmp_path / "s.rnnkit")
    assert np.array_equal(model.predict(data), again.predict(data))
    assert summary_text(again).count("GRU") == 2


def test_unknown_layer_in_config_is_refused(tmp_path: Path) -> None:
    model = rk.Sequential([rk.Input((5, 2)), layers.SimpleRNN(3)])
    path = tmp_path / "m.rnnkit"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        config = json.loads(z.read("config.json"))
        weights = z.read("model.safetensors")
    config["model"]["layers"][0]["class_name"] = "os.system"
    bad = tmp_path / "bad.rnnkit"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.safetensors", weights)
    with pytest.raises(ValueError, match="registered layer class"):
        rk.load_model(bad)


def test_set_weights_checks_count_and_shapes() -> None:
    model = seed_model(layers.LSTM)
    w = model.get_weights()
    assert [a.shape for a in w] == [
        (3, 128),
        (32, 128),
        (128,),
        (32, 128),
        (32, 128),
        (128,),
        (32, 12),
        (12,),
    ]
    with pytest.raises(ValueError, match="expected a list of 8"):
        model.set_weights(w[:-1])
    w[0] = np.zeros((4, 128))
    with pytest.raises(ValueError, match="expected weight 0 of shape"):
        model.set_weights(w)


def test_masks_flow_through_embedding_and_recurrent_layers() -> None:
    rk.set_seed(0)
    model = rk.Sequential(
        [rk.Input((6,), dtype="int64"), layers.Embedding(10, 4, mask_zero=True), layers.LSTM(3)]
    )
    ids = torch.tensor([[0, 0, 0, 5, 6, 7], [5, 6, 7, 0, 0, 0]])
    out = model(ids)
    alone = model(torch.tensor([[5, 6, 7]]))
    torch.testing.assert_close(out[0], alone[0])  # pre-padding is skipped
    torch.testing.assert_close(out[1], alone[0])  # post-padding carries the last output


def test_train_on_batch_and_double_precision() -> None:
    model = rk.Sequential([rk.Input((5, 2)), layers.SimpleRNN(4), layers.Dense(1)]).double()
    model.compile("sgd", "mse")
    x = np.random.default_rng(0).standard_normal((8, 5, 2))
    y = np.zeros((8, 1))
    first = model.train_on_batch(x, y)
    second = model.train_on_batch(x, y)
    assert isinstance(first, float) and second < first
    assert model.predict(x).dtype == np.float64


def test_compile_required_and_clear_errors() -> None:
    model = rk.Sequential([rk.Input((5, 2)), layers.SimpleRNN(4)])
    with pytest.raises(ValueError, match="compile"):
        model.fit(np.zeros((2, 5, 2)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="optimizer|expected"):
        model.compile(optimizer="adamw-nope", loss="mse")
        model.fit(np.zeros((2, 5, 2)), np.zeros((2, 4)), verbose=0)


def test_functional_encoder_decoder_with_symbolic_initial_state(tmp_path: Path) -> None:
    """Keras's seq2seq pattern: the encoder's final states start the decoder."""
    rk.set_seed(0)
    enc_in, dec_in = rk.Input((6, 3), name="enc"), rk.Input((4, 2), name="dec")
    _, h, c = layers.LSTM(5, return_state=True)(enc_in)
    dec = layers.LSTM(5, return_sequences=True)(dec_in, initial_state=[h, c])
    out = layers.TimeDistributed(layers.Dense(2))(dec)
    model = rk.Model([enc_in, dec_in], out)
    rng = np.random.default_rng(0)
    xe = rng.standard_normal((3, 6, 3)).astype("float32")
    xd = rng.standard_normal((3, 4, 2)).astype("float32")
    enc, dec_layer = model.layers[0], model.layers[1]
    with torch.no_grad():
        _, h0, c0 = enc(torch.from_numpy(xe))
        expected = model.layers[2](dec_layer(torch.from_numpy(xd), initial_state=[h0, c0]))
    got = model.predict([xe, xd])
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-6)
    model.save(tmp_path / "s2s.rnnkit")
    again = rk.load_model(tmp_path / "s2s.rnnkit")
    assert np.array_equal(again.predict([xe, xd]), got)
