"""Keras parity of Attention, AdditiveAttention and MultiHeadAttention (Keras 3, torch
backend, random weights, 1e-5): scores modes, scales, causal masks, the query's and value's
masks (from Masking layers, as Keras fills them), attention_mask and returned scores."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # must precede the first keras import

import zlib  # noqa: E402
from typing import Any  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import rnnkit as rk  # noqa: E402
from rnnkit import layers  # noqa: E402

from .test_keras_parity_layers import close, holes, pair, rnd  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

B, TQ, TV, D = 5, 6, 7, 4


def tt(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a))


@pytest.mark.parametrize("cls,kwargs", [
    ("Attention", {}), ("Attention", {"use_scale": True}),
    ("Attention", {"score_mode": "concat"}),
    ("Attention", {"score_mode": "concat", "use_scale": True}),
    ("AdditiveAttention", {}), ("AdditiveAttention", {"use_scale": False}),
])
@pytest.mark.parametrize("with_key,masks,causal", [
    (False, None, False), (True, "value", True), (False, "both", False), (True, "both", True),
    (False, "value", False),
])
def test_attention_layers(cls: str, kwargs: dict[str, Any], with_key: bool, masks: str | None,
                          causal: bool) -> None:
    rng = np.random.default_rng(zlib.crc32(f'{cls}{kwargs}{with_key}{masks}{causal}'.encode()))
    shapes = [(None, TQ, D), (None, TV, D)] + ([(None, TV, D)] if with_key else [])
    k, r = pair(cls, input_shape=shapes, rng=rng, **kwargs)
    if r.keras_weights():  # scales away from 1 so that a missing scale shows
        ws = [w * 0 + rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in k.get_weights()]
        k.set_weights(ws)
        with torch.no_grad():
            for p, w in zip(r.keras_weights(), ws, strict=True):
                p.copy_(tt(w))
    xs = [rnd(rng, B, TQ, D), rnd(rng, B, TV, D)] + ([rnd(rng, B, TV, D)] if with_key else [])
    mask = None
    if masks is not None:
        qm = holes(rng, B, TQ) if masks == "both" else np.ones((B, TQ), bool)
        vm = holes(rng, B, TV)
        vm[0, 0] = True  # every row keeps one value (Keras's requirement)
        mask = [qm, vm]
    for scores in (False, True):
        ours = r([tt(x) for x in xs], mask=None if mask is None else [tt(m) for m in mask],
                 return_attention_scores=scores, use_causal_mask=causal)
        theirs = k([tt(x) for x in xs], mask=None if mask is None else [tt(m) for m in mask],
                   return_attention_scores=scores, use_causal_mask=causal)
        close(ours, theirs)
    if mask is not None:
        got = r.compute_mask(None, [tt(m) for m in mask])
        np.testing.assert_array_equal(got.numpy(), mask[0])


def _mha_models(rng: np.random.Generator, mask: str, kwargs: dict[str, Any],
                call: dict[str, Any], with_key: bool) -> tuple[Any, Any, list[np.ndarray]]:
    """The same functional model in Keras and rnnkit: Masking on query/value, then MHA."""
    def build(ns: Any, inp: Any, model: Any) -> Any:
        q_in, v_in = inp((TQ, D)), inp((TV, 3))
        ins = [q_in, v_in]
        q = ns.Masking()(q_in) if mask in ("query", "both") else q_in
        v = ns.Masking()(v_in) if mask in ("value", "both") else v_in
        args = [q, v]
        if with_key:
            k_in = inp((TV, 5))
            ins.append(k_in)
            args.append(k_in)
        out = ns.MultiHeadAttention(**kwargs)(*args, **call)
        return model(ins, out)

    km = build(keras.layers, keras.Input, keras.Model)
    rm = build(layers, rk.Input, rk.Model)
    ws = [rng.normal(0, 0.5, w.shape).astype(np.float32) for w in km.get_weights()]
    km.set_weights(ws)
    rm.set_weights(ws)
    assert rm.count_params() == km.count_params()
    q, v = rnd(rng, B, TQ, D), rnd(rng, B, TV, 3)
    if mask in ("query", "both"):
        q[holes(rng, B, TQ)] = 0.0
    if mask in ("value", "both"):
        h = holes(rng, B, TV)
        h[2] = False  # a query row of batch 0..: some value rows fully masked (row 0), some not
        v[h] = 0.0
    xs = [q, v] + ([rnd(rng, B, TV, 5)] if with_key else [])
    return km, rm, xs


@pytest.mark.parametrize("mask", [None, "query", "value", "both"])
@pytest.mark.parametrize("kwargs", [
    {"num_heads": 2, "key_dim": 3},
    {"num_heads": 3, "key_dim": 2, "value_dim": 4, "output_shape": 6},
    {"num_heads": 1, "key_dim": 5, "use_bias": False},
])
@pytest.mark.parametrize("variant", [0, 1])
def test_multi_head_attention(mask: str | None, kwargs: dict[str, Any], variant: int) -> None:
    causal, with_key = bool(variant ^ (mask in ("value", None))), bool(variant)
    rng = np.random.default_rng(zlib.crc32(f'{mask}{kwargs}{causal}{with_key}'.encode()))
    call = {"use_causal_mask": True} if causal else {}
    km, rm, xs = _mha_models(rng, mask, kwargs, call, with_key)
    close(rm.predict(xs), km.predict(xs, verbose=0))


@pytest.mark.parametrize("mask", [None, "value"])
def test_multi_head_attention_scores_and_attention_mask(mask: str | None) -> None:
    rng = np.random.default_rng(11)
    k = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)
    r = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    q, v = rnd(rng, B, TQ, D), rnd(rng, B, TV, 3)
    k(tt(q), tt(v))
    r(tt(q), tt(v))
    ws = [rng.normal(0, 0.5, w.shape).astype(np.float32) for w in k.get_weights()]
    k.set_weights(ws)
    with torch.no_grad():
        for p, w in zip(r.keras_weights(), ws, strict=True):
            p.copy_(tt(w))
    r.eval()
    am = rng.random((B, TQ, TV)) > 0.3
    am[0, 0] = False  # a fully masked query row
    vm = holes(rng, B, TV) if mask else None
    for scores in (False, True):
        ours = r(tt(q), tt(v), attention_mask=tt(am), return_attention_scores=scores,
                 value_mask=None if vm is None else tt(vm))
        theirs = k(tt(q), tt(v), attention_mask=tt(am), return_attention_scores=scores,
                   value_mask=None if vm is None else tt(vm))
        close(ours, theirs)


def test_attention_over_lstm_states_model() -> None:
    """The seeds' next step: Luong attention of decoder states over encoder states, masked."""
    rng = np.random.default_rng(12)

    def build(ns: Any, inp: Any, model: Any) -> Any:
        src = inp((TV,), dtype="int32")
        e = ns.Embedding(9, 4, mask_zero=True)(src)
        enc = ns.LSTM(5, return_sequences=True)(e)
        dec = ns.GRU(5, return_sequences=True)(e)
        ctx = ns.Attention()([dec, enc])
        add = ns.AdditiveAttention()([dec, enc])
        h = ns.Concatenate()([dec, ctx, add])
        h = ns.LayerNormalization()(h)
        # Keras's MultiHeadAttention clears the masks of the tensors it is called on, so that
        # a layer running after it on the same tensors sees none: here it is their last user.
        h = ns.MultiHeadAttention(2, 3)(h, h)
        return model(src, ns.GlobalAveragePooling1D()(h))

    km = build(keras.layers, keras.Input, keras.Model)
    rm = build(layers, rk.Input, rk.Model)
    ws = [rng.normal(0, 0.5, w.shape).astype(np.float32) for w in km.get_weights()]
    km.set_weights(ws)
    rm.set_weights(ws)
    x = rng.integers(1, 9, (B, TV)).astype(np.int32)
    x[holes(rng, B, TV) & (np.arange(TV) > 0)] = 0
    close(rm.predict(x), km.predict(x, verbose=0))
