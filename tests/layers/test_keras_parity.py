"""Keras parity: every rnnkit layer/option gives Keras 3's output for the same weights (1e-5).

Keras runs on the torch backend (no TensorFlow). Weights are random (never constant, so that a
gate-order or layout bug cannot hide), copied from the Keras layer into ours in Keras's order
(``keras_weights()`` / ``Model.set_weights``), and outputs are compared in float32 in inference
mode. Parameter counts are compared with Keras's ``count_params()``.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # must precede the first keras import

import itertools  # noqa: E402
import zlib  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import rnnkit as rk  # noqa: E402
from rnnkit import layers  # noqa: E402

# Keras 3.15's Variable.__array__ lacks numpy 2's `copy` keyword (get_weights()).
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

ATOL = 1e-5
B, T, D = 5, 7, 4  # batch, time, features of the layer tests
UNITS = 3


# -- helpers ---------------------------------------------------------------------------------------
def _np(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return [_np(t) for t in x]
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return keras.ops.convert_to_numpy(x)


def _as_list(x: Any) -> list[Any]:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def assert_same(ours: Any, theirs: Any, what: str = "") -> None:
    ours, theirs = _as_list(_np(ours)), _as_list(_np(theirs))
    assert len(ours) == len(theirs), what
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape, what
        assert a.dtype == np.float32, what
        np.testing.assert_allclose(a, b, rtol=0, atol=ATOL, err_msg=what)


def each_engine(layer: torch.nn.Module) -> Iterator[str]:
    """Force every engine in turn on every recurrent layer inside ``layer`` (auto included)."""
    rnns = [m for m in layer.modules() if isinstance(m, layers.RNN)]
    assert rnns
    try:
        for engine in rk.kernels.ENGINES:
            for rnn in rnns:
                rnn.engine = engine
                rnn.reset_states()
            yield engine
    finally:
        for rnn in rnns:
            rnn.engine = None


def assert_engines_match(layer: torch.nn.Module, run: Any, theirs: Any) -> None:
    """``run()`` (our call of ``layer``) equals Keras's ``theirs`` on every engine."""
    for engine in each_engine(layer):
        with torch.no_grad():
            ours = run()
        assert_same(ours, theirs, f"engine {engine!r}")


def randomize(klayer: Any, rng: np.random.Generator, scale: float = 0.5) -> list[np.ndarray]:
    """Give a built Keras layer/model random weights (biases included) and return them."""
    ws = [rng.normal(0.0, scale, w.shape).astype(np.float32) for w in klayer.get_weights()]
    klayer.set_weights(ws)
    return ws


def copy_into(rk_layer: layers.Layer, weights: list[np.ndarray]) -> None:
    params = rk_layer.keras_weights()
    assert [tuple(p.shape) for p in params] == [tuple(w.shape) for w in weights]
    with torch.no_grad():
        for p, w in zip(params, weights, strict=True):
            p.copy_(torch.from_numpy(w))


def pair(cls: str, *args: Any, input_shape: tuple[int | None, ...], rng: np.random.Generator,
         **kwargs: Any) -> tuple[Any, Any]:
    """The same layer in Keras and rnnkit, built, with the same random weights."""
    k = getattr(keras.layers, cls)(*args, **kwargs)
    r = getattr(layers, cls)(*args, **kwargs)
    k.build(input_shape)
    r.ensure_built((None, *input_shape[1:]))
    copy_into(r, randomize(k, rng))
    assert r.count_params() == k.count_params()
    return k, r


def time_mask(kind: str, rng: np.random.Generator, batch: int = B, time: int = T) -> np.ndarray:
    """A (batch, time) bool mask: pre-/post-padding, or random holes with an all-masked row."""
    lengths = np.array([time, time - 2, 1, time - 3, 3, time - 1, 2, time][:batch])
    steps = np.arange(time)[None, :]
    if kind == "post":
        return steps < lengths[:, None]
    if kind == "pre":
        return steps >= (time - lengths)[:, None]
    if kind == "holes":
        m = rng.random((batch, time)) > 0.4
        m[0] = False  # a fully masked sequence
        m[1] = True
        return m
    raise ValueError(kind)


def rnd(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(0.0, 1.0, shape).astype(np.float32)


def tt(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


# -- recurrent layers: the option matrix -----------------------------------------------------------
CELLS = {
    "simple": ("SimpleRNN", {}),
    "lstm": ("LSTM", {}),
    "gru": ("GRU", {"reset_after": True}),
    "gru_v1": ("GRU", {"reset_after": False}),
}
N_STATES = {"SimpleRNN": 1, "LSTM": 2, "GRU": 1}
MASKS = [None, ("call", "pre"), ("call", "post"), ("call", "holes"), ("layer", "holes"),
         ("layer", "pre")]
ACTS = [("tanh", "sigmoid"), ("relu", "hard_sigmoid"), ("softsign", "sigmoid")]
# (use_bias, initial_state, activations, dropout): cycled through the primary product
SECONDARY = list(itertools.product([True, False], [False, True], ACTS, [0.0, 0.3]))


def _rnn_cases() -> list[Any]:
    cases = []
    primary = itertools.product(CELLS, [False, True], [False, True], [False, True], MASKS)
    for i, (cell, seq, state, back, mask) in enumerate(primary):
        use_bias, init, acts, drop = SECONDARY[(i * 7) % len(SECONDARY)]
        mid = "nomask" if mask is None else "-".join(mask)
        cid = (f"{cell}-seq{int(seq)}-state{int(state)}-back{int(back)}-{mid}-bias{int(use_bias)}"
               f"-init{int(init)}-{acts[0]}-drop{drop}")
        cases.append(pytest.param(cell, seq, state, back, mask, use_bias, init, acts, drop, id=cid))
    return cases


def _rnn_kwargs(cell: str, acts: tuple[str, str], **kw: Any) -> tuple[str, dict[str, Any]]:
    cls, extra = CELLS[cell]
    kwargs = {**extra, "activation": acts[0], **kw}
    if cls != "SimpleRNN":
        kwargs["recurrent_activation"] = acts[1]
    return cls, kwargs


@pytest.mark.parametrize(
    "cell,return_sequences,return_state,go_backwards,mask,use_bias,initial_state,acts,dropout",
    _rnn_cases(),
)
def test_recurrent_layer_matches_keras(
    cell: str, return_sequences: bool, return_state: bool, go_backwards: bool,
    mask: tuple[str, str] | None, use_bias: bool, initial_state: bool, acts: tuple[str, str],
    dropout: float,
) -> None:
    key = f"{cell}{return_sequences}{return_state}{go_backwards}{mask}{use_bias}{initial_state}"
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    cls, kwargs = _rnn_kwargs(
        cell, acts, return_sequences=return_sequences, return_state=return_state,
        go_backwards=go_backwards, use_bias=use_bias, dropout=dropout, recurrent_dropout=dropout,
    )
    k, r = pair(cls, UNITS, input_shape=(None, T, D), rng=rng, **kwargs)
    x = rnd(rng, B, T, D)
    call: dict[str, Any] = {}
    k_call: dict[str, Any] = {}
    if initial_state:
        states = [rnd(rng, B, UNITS) for _ in range(N_STATES[cls])]
        call["initial_state"] = [tt(s) for s in states]
        k_call["initial_state"] = [tt(s) for s in states]
    k_x, r_x = tt(x), tt(x)
    if mask is not None:
        how, kind = mask
        m = time_mask(kind, rng)
        if how == "call":
            k_call["mask"] = call["mask"] = tt(m)
        else:  # a Masking layer in front (masked steps are all-zero feature vectors)
            x = x * m[:, :, None]
            k_x = keras.layers.Masking()(tt(x))
            masking = layers.Masking()
            r_x = masking(tt(x))
            call["mask"] = masking.compute_mask(tt(x), None)
            assert _np(call["mask"]).tolist() == m.tolist()
            if initial_state:  # Keras only auto-fills `mask` when the input is the one tensor arg
                k_call["mask"] = k_x._keras_mask
    theirs = k(k_x, training=False, **k_call)
    assert isinstance(r(r_x, training=False, **call), tuple) == return_state
    assert_engines_match(r, lambda: r(r_x, training=False, **call), theirs)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("acts", ACTS + [("elu", "hard_sigmoid"), ("linear", "sigmoid")])
@pytest.mark.parametrize("use_bias", [True, False])
def test_recurrent_activations_and_bias(cell: str, acts: tuple[str, str], use_bias: bool) -> None:
    rng = np.random.default_rng(7)
    cls, kwargs = _rnn_kwargs(cell, acts, use_bias=use_bias, return_sequences=True)
    k, r = pair(cls, UNITS, input_shape=(None, T, D), rng=rng, **kwargs)
    x = tt(rnd(rng, B, T, D))
    assert_engines_match(r, lambda: r(x, training=False), k(x, training=False))


@pytest.mark.parametrize("unit_forget_bias", [True, False])
def test_lstm_unit_forget_bias_initialisation(unit_forget_bias: bool) -> None:
    """The initial bias (zeros, ones on the forget gate) equals Keras's; outputs then agree."""
    rng = np.random.default_rng(3)
    k = keras.layers.LSTM(UNITS, unit_forget_bias=unit_forget_bias, return_sequences=True)
    r = layers.LSTM(UNITS, unit_forget_bias=unit_forget_bias, return_sequences=True)
    k.build((None, T, D))
    r.ensure_built((None, T, D))
    k_bias = k.get_weights()[2]
    np.testing.assert_array_equal(_np(r.cell.bias), k_bias)
    assert k_bias[UNITS:2 * UNITS].tolist() == [float(unit_forget_bias)] * UNITS
    ws = [rnd(rng, *w.shape) * 0.5 for w in k.get_weights()[:2]] + [k_bias]
    k.set_weights(ws)
    copy_into(r, ws)
    x = tt(rnd(rng, B, T, D))
    assert_engines_match(r, lambda: r(x, training=False), k(x, training=False))


def test_recurrent_dropout_is_inactive_at_inference_but_active_in_training() -> None:
    rng = np.random.default_rng(11)
    k, r = pair("LSTM", UNITS, input_shape=(None, T, D), rng=rng, dropout=0.5,
                recurrent_dropout=0.5, return_sequences=True)
    x = tt(rnd(rng, B, T, D))
    theirs = k(x, training=False)
    assert_engines_match(r, lambda: r(x, training=False), theirs)
    r.eval()
    assert_engines_match(r, lambda: r(x), theirs)
    r.train()
    with torch.no_grad():
        assert not np.allclose(_np(r(x, training=True)), _np(k(x, training=False)), atol=1e-3)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_stateful_two_batches_and_reset(cell: str, return_sequences: bool,
                                        go_backwards: bool) -> None:
    rng = np.random.default_rng(5)
    cls, kwargs = _rnn_kwargs(cell, ACTS[0], stateful=True, return_sequences=return_sequences,
                              go_backwards=go_backwards)
    k, r = pair(cls, UNITS, input_shape=(B, T, D), rng=rng, **kwargs)
    x1, x2 = tt(rnd(rng, B, T, D)), tt(rnd(rng, B, T, D))
    m2 = tt(time_mask("post", rng)) if go_backwards else None  # a mask on the second batch
    k1 = k(x1, training=False)
    k2 = k(x2, mask=m2, training=False)
    k.reset_states()
    k3 = k(x2, mask=m2, training=False)
    assert not np.allclose(_np(k3), _np(k2), atol=1e-4)  # the state was really carried
    for engine in each_engine(r):  # starts from reset states
        with torch.no_grad():
            assert_same(r(x1, training=False), k1, engine)
            assert_same(r(x2, mask=m2, training=False), k2, engine)
            r.reset_states()
            assert_same(r(x2, mask=m2, training=False), k3, engine)


# -- Bidirectional ---------------------------------------------------------------------------------
MERGES = ["concat", "sum", "mul", "ave", None]
BI_CELLS = ["simple", "lstm", "gru"]


def _bi_pair(cell: str, merge: str | None, rng: np.random.Generator, **kw: Any) -> tuple[Any, Any]:
    cls, kwargs = _rnn_kwargs(cell, ACTS[0], **kw)
    k = keras.layers.Bidirectional(getattr(keras.layers, cls)(UNITS, **kwargs), merge_mode=merge)
    r = layers.Bidirectional(getattr(layers, cls)(UNITS, **kwargs), merge_mode=merge)
    k.build((None, T, D))
    r.ensure_built((None, T, D))
    copy_into(r, randomize(k, rng))
    assert r.count_params() == k.count_params()
    return k, r


@pytest.mark.parametrize("cell", BI_CELLS)
@pytest.mark.parametrize("merge", MERGES)
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("mask", [None, "post", "holes"])
def test_bidirectional(cell: str, merge: str | None, return_sequences: bool,
                       mask: str | None) -> None:
    rng = np.random.default_rng(17)
    k, r = _bi_pair(cell, merge, rng, return_sequences=return_sequences)
    x = tt(rnd(rng, B, T, D))
    m = None if mask is None else tt(time_mask(mask, rng))
    assert_engines_match(r, lambda: r(x, mask=m, training=False), k(x, mask=m, training=False))


@pytest.mark.parametrize("cell", BI_CELLS)
@pytest.mark.parametrize("merge", MERGES)
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_return_state_initial_state(cell: str, merge: str | None,
                                                  return_sequences: bool) -> None:
    rng = np.random.default_rng(19)
    k, r = _bi_pair(cell, merge, rng, return_sequences=return_sequences, return_state=True)
    x = tt(rnd(rng, B, T, D))
    m = tt(time_mask("pre", rng))
    states = [tt(rnd(rng, B, UNITS)) for _ in range(2 * N_STATES[CELLS[cell][0]])]
    ours = r(x, mask=m, initial_state=states, training=False)
    theirs = k(x, mask=m, initial_state=states, training=False)
    assert len(ours) == len(theirs) == (2 if merge is None else 1) + len(states)
    assert_engines_match(r, lambda: r(x, mask=m, initial_state=states, training=False), theirs)


# -- other layers ----------------------------------------------------------------------------------
DENSE_ACTS = ["linear", "tanh", "sigmoid", "hard_sigmoid", "relu", "elu", "selu", "gelu",
              "softplus", "softsign", "swish", "silu", "exponential", "softmax"]


@pytest.mark.parametrize("activation", DENSE_ACTS)
def test_dense(activation: str) -> None:
    rng = np.random.default_rng(23)
    for use_bias, shape in ((True, (B, D)), (False, (B, T, D))):
        k, r = pair("Dense", 6, input_shape=(None, *shape[1:]), rng=rng, activation=activation,
                    use_bias=use_bias)
        x = tt(rnd(rng, *shape))
        assert_same(r(x), k(x))


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("kernel_size", [1, 2, 3])
@pytest.mark.parametrize("strides,dilation", [(1, 1), (2, 1), (3, 1), (1, 2), (1, 3)])
def test_conv1d(padding: str, kernel_size: int, strides: int, dilation: int) -> None:
    rng = np.random.default_rng(29)
    length = 11
    act, use_bias = ("relu", False) if strides == 3 or dilation == 3 else ("linear", True)
    k, r = pair("Conv1D", 5, kernel_size, strides=strides, padding=padding,
                dilation_rate=dilation, activation=act, use_bias=use_bias,
                input_shape=(None, length, D), rng=rng)
    x = tt(rnd(rng, B, length, D))
    ours = r(x)
    assert_same(ours, k(x))
    assert r.compute_output_shape((None, length, D)) == (None, *ours.shape[1:])


def test_conv1d_rejects_strides_with_dilation_like_keras() -> None:
    with pytest.raises(ValueError):
        keras.layers.Conv1D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="strides"):
        layers.Conv1D(2, 3, strides=2, dilation_rate=2)


@pytest.mark.parametrize("mask_zero", [False, True])
def test_embedding(mask_zero: bool) -> None:
    rng = np.random.default_rng(71)
    k, r = pair("Embedding", 12, 5, mask_zero=mask_zero, input_shape=(None, T), rng=rng)
    ids = tt(rng.integers(0, 12, (B, T)))
    assert_same(r(ids), k(ids))
    rm, km = r.compute_mask(ids, None), k.compute_mask(ids, None)
    if mask_zero:
        np.testing.assert_array_equal(_np(rm), _np(km))
    else:
        assert rm is None and km is None


@pytest.mark.parametrize("pool_size", [2, 3])
@pytest.mark.parametrize("strides", [None, 1, 2])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_max_pooling1d(pool_size: int, strides: int | None, padding: str) -> None:
    rng = np.random.default_rng(31)
    k = keras.layers.MaxPooling1D(pool_size, strides=strides, padding=padding)
    r = layers.MaxPooling1D(pool_size, strides=strides, padding=padding)
    for length in (8, 9):
        x = tt(rnd(rng, B, length, D) - 3.0)  # all negative: padding must not win the max
        ours = r(x)
        assert_same(ours, k(x))
        assert r.compute_output_shape((None, length, D)) == (None, *ours.shape[1:])
    assert r.count_params() == k.count_params() == 0


@pytest.mark.parametrize("mask", [None, "call", "layer"])
def test_global_average_pooling1d(mask: str | None) -> None:
    rng = np.random.default_rng(37)
    k, r = keras.layers.GlobalAveragePooling1D(), layers.GlobalAveragePooling1D()
    x = rnd(rng, B, T, D)
    m = time_mask("pre", rng)  # no fully masked row: Keras divides by zero there too
    if mask is None:
        assert_same(r(tt(x)), k(tt(x)))
    elif mask == "call":
        assert_same(r(tt(x), mask=tt(m)), k(tt(x), mask=tt(m)))
    else:
        x = x * m[:, :, None]
        km, rm = keras.layers.Masking(), layers.Masking()
        assert_same(r(rm(tt(x)), mask=rm.compute_mask(tt(x), None)), k(km(tt(x))))


def test_masking_outputs_and_mask() -> None:
    rng = np.random.default_rng(41)
    for value in (0.0, -1.0):
        x = rnd(rng, B, T, D)
        m = time_mask("holes", rng)
        x[~m] = value
        x[2, 3, 0] = value  # one feature equal to the mask value does not mask the step
        k, r = keras.layers.Masking(mask_value=value), layers.Masking(mask_value=value)
        assert_same(r(tt(x)), k(tt(x)))
        np.testing.assert_array_equal(_np(r.compute_mask(tt(x), None)),
                                      _np(k.compute_mask(tt(x), None)))
        assert r.count_params() == k.count_params() == 0


def test_flatten_time_distributed_dropout() -> None:
    rng = np.random.default_rng(43)
    x = tt(rnd(rng, B, T, D))
    assert_same(layers.Flatten()(x), keras.layers.Flatten()(x))
    k = keras.layers.TimeDistributed(keras.layers.Dense(6, activation="tanh"))
    r = layers.TimeDistributed(layers.Dense(6, activation="tanh"))
    k.build((None, T, D))
    r.ensure_built((None, T, D))
    copy_into(r, randomize(k, rng))
    assert r.count_params() == k.count_params()
    assert_same(r(x), k(x))
    kd, rd = keras.layers.Dropout(0.5), layers.Dropout(0.5)
    assert_same(rd(x, training=False), kd(x, training=False))
    rd.eval()
    assert_same(rd(x), kd(x, training=False))


# -- models ----------------------------------------------------------------------------------------
def _transfer(kmodel: Any, rmodel: Any, rng: np.random.Generator) -> None:
    """Random Keras weights -> ``rmodel.set_weights(kmodel.get_weights())``; orders must agree."""
    randomize(kmodel, rng, scale=0.3)
    kw = kmodel.get_weights()
    assert [w.shape for w in rmodel.get_weights()] == [w.shape for w in kw]
    rmodel.set_weights(kw)
    assert rmodel.count_params() == kmodel.count_params()
    for a, b in zip(rmodel.get_weights(), kw, strict=True):
        np.testing.assert_array_equal(a, b)


def _predict_same(kmodel: Any, rmodel: Any, x: Any) -> None:
    rmodel.eval()
    assert_engines_match(rmodel, lambda: rmodel.predict(x), kmodel.predict(x, verbose=0))


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
def test_seed_sequential_models(cls: str) -> None:
    """Input((200, 3)) -> RNN(32, return_sequences) -> RNN(32) -> Dense(12, softmax)."""
    rng = np.random.default_rng(47)

    def build(ns: Any) -> list[Any]:
        return [getattr(ns, cls)(32, return_sequences=True), getattr(ns, cls)(32),
                ns.Dense(12, activation="softmax")]

    kmodel = keras.Sequential([keras.Input((200, 3)), *build(keras.layers)])
    rmodel = rk.Sequential([rk.Input((200, 3)), *build(layers)])
    _transfer(kmodel, rmodel, rng)
    _predict_same(kmodel, rmodel, rnd(rng, 6, 200, 3))


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
def test_sequential_masking_bidirectional_dropout(cls: str) -> None:
    rng = np.random.default_rng(53)

    def build(ns: Any) -> list[Any]:
        rnn = getattr(ns, cls)
        return [ns.Masking(), ns.Bidirectional(rnn(6, return_sequences=True), merge_mode="sum"),
                ns.Dropout(0.4), rnn(5, return_sequences=True, go_backwards=True),
                ns.TimeDistributed(ns.Dense(4)), ns.GlobalAveragePooling1D(),
                ns.Dense(3, activation="softmax")]

    kmodel = keras.Sequential([keras.Input((T, D)), *build(keras.layers)])
    rmodel = rk.Sequential([rk.Input((T, D)), *build(layers)])
    _transfer(kmodel, rmodel, rng)
    x = rnd(rng, 8, T, D)
    x[:B] *= time_mask("holes", rng)[:, :, None]
    x[0, 0] = 1.0  # keep one step so that the pooled mean is defined
    _predict_same(kmodel, rmodel, x)


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("return_sequences,go_backwards", [(False, False), (True, True)])
def test_embedding_mask_zero_into_rnn(cls: str, return_sequences: bool,
                                      go_backwards: bool) -> None:
    rng = np.random.default_rng(59)

    def build(ns: Any) -> list[Any]:
        return [ns.Embedding(20, 6, mask_zero=True),
                getattr(ns, cls)(5, return_sequences=return_sequences, go_backwards=go_backwards),
                ns.Dense(2)]

    kmodel = keras.Sequential([keras.Input((T,), dtype="int32"), *build(keras.layers)])
    rmodel = rk.Sequential([rk.Input((T,), dtype="int64"), *build(layers)])
    _transfer(kmodel, rmodel, rng)
    ids = rng.integers(1, 20, (6, T))
    ids[0] = 0  # all padding
    ids[1, :3] = 0  # pre-padding
    ids[2, -2:] = 0  # post-padding
    ids[3, [1, 4]] = 0  # holes
    _predict_same(kmodel, rmodel, ids.astype(np.int32))


def _functional(ns: Any, inp_fn: Any, merge: str) -> tuple[Any, Any]:
    inp = inp_fn((T, D))
    m = ns.Masking()(inp)
    a = ns.LSTM(6, return_sequences=True)(m)
    b = ns.GRU(6, return_sequences=True, go_backwards=True)(m)
    c = ns.Conv1D(6, 3, padding="causal")(inp)
    if merge == "shared":  # one Dense used at two depths of the graph
        dense = ns.Dense(6, activation="tanh")
        x = ns.Add()([dense(inp), dense(ns.SimpleRNN(D, return_sequences=True)(c))])
        out = ns.LSTM(5)(ns.Concatenate()([x, a, b]))
    elif merge == "concat":
        x = ns.Concatenate()([a, b])
        x = ns.SimpleRNN(4)(x)
        y = ns.Dense(3, activation="relu")(ns.GlobalAveragePooling1D()(c))
        out = ns.Concatenate()([x, y])
    else:
        x = ns.Add()([a, b])
        x = ns.Add()([ns.TimeDistributed(ns.Dense(6))(x), c])
        out = ns.GlobalAveragePooling1D()(ns.LSTM(5, return_sequences=True)(x))
    return inp, ns.Dense(2)(out)


@pytest.mark.parametrize("merge", ["concat", "add", "shared"])
def test_functional_branches(merge: str) -> None:
    rng = np.random.default_rng(61)
    kin, kout = _functional(keras.layers, keras.Input, merge)
    rin, rout = _functional(layers, rk.Input, merge)
    kmodel, rmodel = keras.Model(kin, kout), rk.Model(rin, rout)
    _transfer(kmodel, rmodel, rng)
    x = rnd(rng, 8, T, D)
    x[:B] *= time_mask("post", rng)[:, :, None]
    x[0, 0] = 1.0
    _predict_same(kmodel, rmodel, x)


@pytest.mark.parametrize("merge", ["Concatenate", "Add"])
def test_merge_of_differently_masked_inputs(merge: str) -> None:
    """Two inputs with different masks merged, then an RNN that consumes the merged mask."""
    rng = np.random.default_rng(67)

    def graph(ns: Any, inp_fn: Any) -> tuple[Any, Any]:
        i1, i2 = inp_fn((T, D)), inp_fn((T, D))
        a = ns.LSTM(4, return_sequences=True)(ns.Masking()(i1))
        b = ns.GRU(4, return_sequences=True)(ns.Masking()(i2))
        x = getattr(ns, merge)()([a, b])
        return [i1, i2], ns.SimpleRNN(3, return_sequences=True)(x)

    kin, kout = graph(keras.layers, keras.Input)
    rin, rout = graph(layers, rk.Input)
    kmodel, rmodel = keras.Model(kin, kout), rk.Model(rin, rout)
    _transfer(kmodel, rmodel, rng)
    x1, x2 = rnd(rng, B, T, D), rnd(rng, B, T, D)
    x1 *= time_mask("post", rng)[:, :, None]
    x2 *= time_mask("pre", rng)[:, :, None]
    rmodel.eval()
    theirs = kmodel([tt(x1), tt(x2)], training=False)
    assert_engines_match(rmodel, lambda: rmodel(tt(x1), tt(x2)), theirs)


def test_keras_runs_on_torch() -> None:
    assert keras.backend.backend() == "torch"
