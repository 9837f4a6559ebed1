"""Keras parity of RNN(cell) (built-in and user-defined cells), StackedRNNCells,
TimeDistributed with per-step masks and stateful Bidirectional with reset_states()."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # must precede the first keras import

import zlib  # noqa: E402
from typing import Any  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import Tensor  # noqa: E402

import rnnkit as rk  # noqa: E402
from rnnkit import layers  # noqa: E402

from .test_keras_parity_layers import close, holes, rnd  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

B, T, D = 5, 7, 4


def tt(a: np.ndarray) -> Tensor:
    return torch.from_numpy(np.array(a))


def flat(x: Any) -> list[Any]:
    if isinstance(x, (list, tuple)):
        return [t for item in x for t in flat(item)]
    return [x]


class KMinimalCell(keras.layers.Layer):
    """Keras's documented user cell: h' = tanh(x W + h U) (one state), plus a second state."""

    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, 2]
        self.output_size = units

    def build(self, input_shape: Any) -> None:
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), name="rk")
        self.counter_weight = self.add_weight(shape=(2,), name="cw")

    def call(self, inputs: Any, states: Any) -> Any:
        h, c = states
        out = keras.ops.tanh(inputs @ self.kernel + h @ self.recurrent_kernel + c[:, :1])
        return out, [out, c * 0.5 + self.counter_weight]


@layers.register
class MinimalCell(layers.Layer):
    """The same cell written for rnnkit (Keras's protocol, the step named ``call``)."""

    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, 2]
        self.output_size = units

    def build(self, input_shape: Any) -> None:
        self.add_weight("kernel", (input_shape[-1], self.units), "glorot_uniform")
        self.add_weight("recurrent_kernel", (self.units, self.units), "orthogonal")
        self.add_weight("counter_weight", (2,), "zeros")

    def call(self, inputs: Tensor, states: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        h, c = states
        out = torch.tanh(inputs @ self.kernel + h @ self.recurrent_kernel + c[:, :1])
        return out, [out, c * 0.5 + self.counter_weight]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


def _cells(ns: Any, kind: str) -> Any:
    if kind == "user":
        return KMinimalCell(3) if ns is keras.layers else MinimalCell(3)
    if kind == "stacked":
        return ns.StackedRNNCells([ns.LSTMCell(3), ns.GRUCell(2), ns.SimpleRNNCell(4)])
    return {"lstm": ns.LSTMCell, "gru": ns.GRUCell, "simple": ns.SimpleRNNCell}[kind](3)


CASES = [(kind, seq, back, mask, state)
         for kind in ("lstm", "gru", "simple", "user", "stacked")
         for seq, back, mask, state in ((False, False, None, False), (True, True, "holes", True),
                                        (True, False, "holes", False), (False, True, None, True))]


@pytest.mark.parametrize("kind,seq,back,mask,state", CASES)
def test_rnn_of_a_cell(kind: str, seq: bool, back: bool, mask: str | None, state: bool) -> None:
    rng = np.random.default_rng(zlib.crc32(f"{kind}{seq}{back}{mask}{state}".encode()))
    kw = {"return_sequences": seq, "go_backwards": back, "return_state": True}
    k = keras.layers.RNN(_cells(keras.layers, kind), **kw)
    r = layers.RNN(_cells(layers, kind), **kw)
    k.build((None, T, D))
    r.ensure_built((None, T, D))
    ws = [rng.normal(0, 0.5, w.shape).astype(np.float32) for w in k.get_weights()]
    k.set_weights(ws)
    with torch.no_grad():
        for p, w in zip(r.keras_weights(), ws, strict=True):
            p.copy_(tt(w))
    assert r.count_params() == k.count_params()
    x = rnd(rng, B, T, D)
    call: dict[str, Any] = {}
    if mask:
        call["mask"] = tt(holes(rng))
    if state:
        call["initial_state"] = [tt(rnd(rng, B, s)) for s in r.state_sizes()]
    r.eval()
    with torch.no_grad():
        ours = r(tt(x), **call)
    kcall = dict(call)
    if state and kind == "stacked":  # Keras nests the states per cell
        s = call["initial_state"]
        kcall["initial_state"] = [[s[0], s[1]], s[2], s[3]]
    close(list(ours), flat(k(tt(x), **kcall)))
    if kind in ("user", "stacked"):
        assert r.last_engine == "loop"
    else:  # a built-in cell kind wrapped in RNN still runs on an engine of its kind
        assert r.last_engine in ("fused", "torch")


def test_known_cell_in_rnn_runs_fused_and_equals_the_layer() -> None:
    torch.manual_seed(0)
    cell = layers.LSTMCell(6)
    r = layers.RNN(cell, return_sequences=True)
    lstm = layers.LSTM(6, return_sequences=True)
    x = torch.randn(8, 9, 4)
    r(x)
    lstm(x)
    with torch.no_grad():
        for p, q in zip(lstm.keras_weights(), r.keras_weights(), strict=True):
            p.copy_(q)
    r.eval()
    lstm.eval()
    with torch.no_grad():
        torch.testing.assert_close(r(x), lstm(x))
    assert r.last_engine == "fused"
    torch.testing.assert_close(r.cell.state_size, [6, 6])


def test_user_cell_round_trips_through_rnnkit_files(tmp_path: Any) -> None:
    model = rk.Sequential([rk.Input((T, D)),
                           layers.RNN(layers.StackedRNNCells([MinimalCell(3), layers.GRUCell(2)]),
                                      return_sequences=True),
                           layers.RNN(MinimalCell(2))])
    x = torch.randn(3, T, D)
    model.save(tmp_path / "m.rnnkit")
    again = rk.load_model(tmp_path / "m.rnnkit")
    model.eval()
    again.eval()
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x))


def test_rnn_rejects_what_is_no_cell_and_cell_dropout() -> None:
    with pytest.raises(TypeError, match="state_size"):
        layers.RNN(layers.Dense(3))
    with pytest.raises(ValueError, match="applies its own dropout"):
        layers.RNN(MinimalCell(3), dropout=0.2)


@pytest.mark.parametrize("inner", ["lstm", "bidirectional", "gap", "dense"])
def test_time_distributed_passes_the_step_mask(inner: str) -> None:
    """Embedding(mask_zero) on (batch, outer, inner) ids: each outer step's mask reaches the
    wrapped layer, as Keras passes mask[:, t]."""
    rng = np.random.default_rng(zlib.crc32(inner.encode()))
    O, I = 4, 6  # noqa: E741, N806

    def inner_layer(ns: Any) -> Any:
        if inner == "lstm":
            return ns.LSTM(3, return_sequences=False)
        if inner == "bidirectional":
            return ns.Bidirectional(ns.GRU(2, return_sequences=True))
        if inner == "gap":
            return ns.GlobalAveragePooling1D()
        return ns.Dense(3)

    def build(ns: Any, inp: Any, model: Any) -> Any:
        x = inp((O, I), dtype="int32")
        e = ns.Embedding(7, 5, mask_zero=True)(x)
        return model(x, ns.TimeDistributed(inner_layer(ns))(e))

    km = build(keras.layers, keras.Input, keras.Model)
    rm = build(layers, rk.Input, rk.Model)
    ws = [rng.normal(0, 0.5, w.shape).astype(np.float32) for w in km.get_weights()]
    km.set_weights(ws)
    rm.set_weights(ws)
    ids = rng.integers(1, 7, (B, O, I)).astype(np.int32)
    ids[rng.random((B, O, I)) < 0.35] = 0
    ids[:, :, 0] = 1  # each inner sequence keeps a step
    close(rm.predict(ids), km.predict(ids, verbose=0))


def test_time_distributed_after_a_masked_lstm() -> None:
    rng = np.random.default_rng(3)

    def build(ns: Any, inp: Any, model: Any) -> Any:
        x = inp((T, D))
        h = ns.LSTM(4, return_sequences=True)(ns.Masking()(x))
        h = ns.TimeDistributed(ns.Dense(3, activation="tanh"))(h)
        return model(x, ns.GRU(2)(h))

    km = build(keras.layers, keras.Input, keras.Model)
    rm = build(layers, rk.Input, rk.Model)
    ws = [rng.normal(0, 0.5, w.shape).astype(np.float32) for w in km.get_weights()]
    km.set_weights(ws)
    rm.set_weights(ws)
    x = rnd(rng, B, T, D)
    x[holes(rng)] = 0
    close(rm.predict(x), km.predict(x, verbose=0))


@pytest.mark.parametrize("cls", ["LSTM", "GRU"])
def test_stateful_bidirectional_reset_states(cls: str) -> None:
    rng = np.random.default_rng(4)
    k_in = keras.Input(batch_shape=(B, T, D))
    k = keras.layers.Bidirectional(getattr(keras.layers, cls)(3, stateful=True))
    km = keras.Model(k_in, k(k_in))
    r_in = rk.Input(batch_shape=(B, T, D))
    r = layers.Bidirectional(getattr(layers, cls)(3, stateful=True))
    rm = rk.Model(r_in, r(r_in))
    ws = [rng.normal(0, 0.5, w.shape).astype(np.float32) for w in km.get_weights()]
    km.set_weights(ws)
    rm.set_weights(ws)
    rm.eval()
    x1, x2 = rnd(rng, B, T, D), rnd(rng, B, T, D)
    with torch.no_grad():
        for x in (x1, x2):
            close(rm(tt(x)), km(tt(x)))
        k.reset_states()
        r.reset_states()
        close(rm(tt(x2)), km(tt(x2)))


@pytest.mark.parametrize("back", [False, True])
def test_zero_output_for_mask_last_step_masked_matches_keras(back: bool) -> None:
    """The last output is zeros when the last step is masked (zero_output_for_mask), also when
    the trailing steps are masked in every row."""
    rng = np.random.default_rng(5)
    k = keras.layers.GRU(3, zero_output_for_mask=True, go_backwards=back)
    r = layers.GRU(3, zero_output_for_mask=True, go_backwards=back)
    k.build((None, T, D))
    r.ensure_built((None, T, D))
    ws = [rng.normal(0, 0.5, w.shape).astype(np.float32) for w in k.get_weights()]
    k.set_weights(ws)
    with torch.no_grad():
        for p, w in zip(r.keras_weights(), ws, strict=True):
            p.copy_(tt(w))
    x = rnd(rng, B, T, D)
    m = np.ones((B, T), bool)
    m[:, -2:] = False  # trailing steps masked in every row
    m[0, 2] = False
    r.eval()
    for engine in ("loop", "fused"):
        r.engine = engine
        with torch.no_grad():
            close(r(tt(x), mask=tt(m)), k(tt(x), mask=tt(m)))
