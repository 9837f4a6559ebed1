"""LayerNormLSTM/GRU (haste's definition), zoneout on LSTM/GRU and LSTM projections: against a
float64 numpy reference written from the equations, gradcheck, Bidirectional and save/load."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit import layers

B, T, D, U, P = 3, 7, 4, 5, 3

#: name -> (layer factory, reference kind, options)
VARIANTS: dict[str, tuple[Callable[..., layers.RNN], str, dict[str, object]]] = {
    "ln_lstm": (layers.LayerNormLSTM, "lstm", {"norm": True}),
    "ln_gru": (layers.LayerNormGRU, "gru", {"norm": True}),
    "lstm_proj": (lambda u, **kw: layers.LSTM(u, proj_size=P, **kw), "lstm", {}),
    "lstm_zoneout": (lambda u, **kw: layers.LSTM(u, zoneout=0.4, **kw), "lstm", {}),
    "gru_zoneout": (lambda u, **kw: layers.GRU(u, zoneout=0.3, **kw), "gru", {}),
    "ln_lstm_zoneout": (lambda u, **kw: layers.LayerNormLSTM(u, zoneout=0.25, **kw), "lstm", {}),
    "lstm_proj_zoneout": (
        lambda u, **kw: layers.LSTM(u, proj_size=P, zoneout=0.5, **kw),
        "lstm",
        {},
    ),
}


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def _ln(v: np.ndarray) -> np.ndarray:
    mu = v.mean(axis=-1, keepdims=True)
    var = ((v - mu) ** 2).mean(axis=-1, keepdims=True)
    return (v - mu) / np.sqrt(var + 1e-5)


def reference(
    kind: str,
    x: np.ndarray,
    w: dict[str, np.ndarray],
    states: list[np.ndarray],
    *,
    mask: np.ndarray | None,
    go_backwards: bool,
    zoneout: float = 0.0,
    keep_new: list[np.ndarray] | None = None,
    dropout_mask: np.ndarray | None = None,
    rec_mask: np.ndarray | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """One call from the equations; ``keep_new`` (per processed step) is zoneout in training."""
    W, Uk = w["kernel"], w["recurrent_kernel"]
    u = W.shape[1] // (4 if kind == "lstm" else 3)
    gamma = w.get("gamma")
    h = states[0].copy()
    c = states[1].copy() if kind == "lstm" else None
    prev, outs = np.zeros_like(h), []
    order = list(reversed(range(x.shape[1]))) if go_backwards else list(range(x.shape[1]))
    for n, t in enumerate(order):
        xt = x[:, t] if dropout_mask is None else x[:, t] * dropout_mask
        hm = h if rec_mask is None else h * rec_mask
        xw, hu = xt @ W, hm @ Uk
        if gamma is not None:
            xw, hu = _ln(xw) * gamma[0], _ln(hu) * gamma[1]
        if kind == "lstm":
            z = xw + hu + w["bias"]
            i, f, o = _sigmoid(z[:, :u]), _sigmoid(z[:, u : 2 * u]), _sigmoid(z[:, 3 * u :])
            c_new = f * c + i * np.tanh(z[:, 2 * u : 3 * u])
            cn = _ln(c_new) * w["gamma_h"] + w["beta_h"] if gamma is not None else c_new
            h_new = o * np.tanh(cn)
            if "projection_kernel" in w:
                h_new = h_new @ w["projection_kernel"]
        else:
            xs, rs = xw + w["bias"][0], hu + w["bias"][1]
            zg = _sigmoid(xs[:, :u] + rs[:, :u])
            r = _sigmoid(xs[:, u : 2 * u] + rs[:, u : 2 * u])
            hh = np.tanh(xs[:, 2 * u :] + r * rs[:, 2 * u :])
            h_new, c_new = zg * h + (1 - zg) * hh, None
        if keep_new is not None:
            h_new = np.where(keep_new[n] > 0, h_new, h)
        elif zoneout:
            h_new = zoneout * h + (1 - zoneout) * h_new
        out = h_new
        if mask is not None:
            m = mask[:, t][:, None]
            out = np.where(m, h_new, prev)
            h_new = np.where(m, h_new, h)
            if c is not None:
                c_new = np.where(m, c_new, c)
        h, c, prev = h_new, c_new, out
        outs.append(out)
    return np.stack(outs, axis=1), [h] if c is None else [h, c]


def make_layer(name: str, seed: int = 0, **kw: object) -> layers.RNN:
    torch.manual_seed(seed)
    layer = VARIANTS[name][0](U, dtype="float64", return_sequences=True, return_state=True, **kw)
    layer.ensure_built((None, T, D))
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn_like(p) * 0.6 + (1.0 if p.dim() == 1 else 0.0) * 0.3)
    return layer


def _weights(layer: layers.RNN) -> dict[str, np.ndarray]:
    return {n: p.detach().numpy() for n, p in layer.cell.named_parameters()}


def _states(layer: layers.RNN, rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.standard_normal((B, s)) for s in layer.cell.state_sizes]


def _mask(kind: str, rng: np.random.Generator) -> np.ndarray | None:
    if kind == "none":
        return None
    if kind == "post":
        return np.arange(T)[None, :] < np.array([T, 4, 1])[:, None]
    m = rng.random((B, T)) > 0.4
    m[0, :2] = False
    return m


ENGINES = ["loop", "fused"]


@pytest.mark.parametrize(
    "name,mask_kind,go_backwards",
    list(itertools.product(VARIANTS, ["none", "post", "random"], [False, True])),
)
@pytest.mark.parametrize("engine", ENGINES)
def test_inference_equals_reference(
    name: str, mask_kind: str, go_backwards: bool, engine: str
) -> None:
    rng = np.random.default_rng(abs(hash((name, mask_kind))) % 2**32)
    layer = make_layer(name, go_backwards=go_backwards, engine=engine).eval()
    x = rng.standard_normal((B, T, D))
    states = _states(layer, rng)
    mask = _mask(mask_kind, rng)
    y, *final = layer(
        torch.from_numpy(x),
        mask=None if mask is None else torch.from_numpy(mask),
        initial_state=[torch.from_numpy(s) for s in states],
    )
    zoneout = float(getattr(layer.cell, "zoneout", 0.0))
    ref_y, ref_states = reference(
        VARIANTS[name][1],
        x,
        _weights(layer),
        states,
        mask=mask,
        go_backwards=go_backwards,
        zoneout=zoneout,
    )
    assert layer.last_engine == engine
    np.testing.assert_allclose(y.detach().numpy(), ref_y, atol=1e-12, rtol=0)
    for s, r in zip(final, ref_states, strict=True):
        np.testing.assert_allclose(s.detach().numpy(), r, atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("engine", ENGINES)
def test_training_dropout_and_zoneout_draws_equal_reference(name: str, engine: str) -> None:
    layer = make_layer(name, dropout=0.3, recurrent_dropout=0.4, engine=engine)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, T, D))
    mask = _mask("random", rng)
    torch.manual_seed(42)
    y, *final = layer(torch.from_numpy(x), mask=torch.from_numpy(mask), training=True)
    torch.manual_seed(42)  # replay the layer's draws: dropout, recurrent dropout, zoneout per step
    out = layer.cell.output_size
    dp = torch.empty(B, D, dtype=torch.float64).bernoulli_(0.7) / 0.7
    rd = torch.empty(B, out, dtype=torch.float64).bernoulli_(0.6) / 0.6
    zoneout = float(getattr(layer.cell, "zoneout", 0.0))
    keep = None
    if zoneout:  # one draw for every step, after the dropout masks
        keep = list(torch.empty(T, B, out, dtype=torch.float64).bernoulli_(1.0 - zoneout).numpy())
    assert layer.last_engine == engine
    ref_y, ref_states = reference(
        VARIANTS[name][1],
        x,
        _weights(layer),
        [np.zeros((B, s)) for s in layer.cell.state_sizes],
        mask=mask,
        go_backwards=False,
        keep_new=keep,
        dropout_mask=dp.numpy(),
        rec_mask=rd.numpy(),
    )
    np.testing.assert_allclose(y.detach().numpy(), ref_y, atol=1e-12, rtol=0)
    for s, r in zip(final, ref_states, strict=True):
        np.testing.assert_allclose(s.detach().numpy(), r, atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("engine", ENGINES)
def test_gradcheck(name: str, training: bool, engine: str) -> None:
    layer = make_layer(name, seed=3, go_backwards=True, engine=engine)
    names = [n for n, _ in layer.named_parameters()]
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(2, 4, D, dtype=torch.float64, generator=gen, requires_grad=True)
    h0 = [
        torch.randn(2, s, dtype=torch.float64, generator=gen, requires_grad=True)
        for s in layer.cell.state_sizes
    ]
    ws = [p.detach().clone().requires_grad_(True) for p in layer.parameters()]
    mask = torch.tensor([[True] * 4, [True, False, True, False]])
    n = len(h0)

    def fn(x: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(9)  # the same zoneout draws on every evaluation
        kwargs = {"mask": mask, "initial_state": list(rest[:n]), "training": training}
        weights = dict(zip(names, rest[n:], strict=True))
        y, *_ = torch.func.functional_call(layer, weights, (x,), kwargs)
        return y

    assert torch.autograd.gradcheck(fn, (x, *h0, *ws), eps=1e-6, atol=1e-7, fast_mode=True)
    assert layer.last_engine == engine


@pytest.mark.parametrize("name", VARIANTS)
def test_bidirectional_and_save_load(name: str, tmp_path: Path) -> None:
    factory = VARIANTS[name][0]
    model = rnnkit.Sequential(
        [layers.Input((None, D)), layers.Bidirectional(factory(U, return_sequences=True))]
    ).eval()
    x = torch.randn(B, T, D)
    bi = model.layers[0]
    both = bi(x)
    torch.testing.assert_close(
        both, torch.cat([bi.forward_layer(x), bi.backward_layer(x).flip(1)], dim=-1)
    )
    width = bi.forward_layer.cell.output_size
    assert both.shape == (B, T, 2 * width)
    path = tmp_path / "m.rnnkit"
    model.save(path)
    loaded = rnnkit.load_model(path).eval()
    torch.testing.assert_close(loaded(x), model(x))
    assert loaded.layers[0].forward_layer.get_config() == bi.forward_layer.get_config()


def test_projection_weights_and_shapes() -> None:
    layer = layers.LSTM(6, proj_size=2, return_state=True)
    y, h, c = layer(torch.randn(3, 4, 5))
    assert (y.shape, h.shape, c.shape) == ((3, 2), (3, 2), (3, 6))
    cell = layer.cell
    assert [tuple(w.shape) for w in cell.keras_weights()] == [(5, 24), (2, 24), (24,), (6, 2)]
    assert layer.compute_output_shape((None, 4, 5)) == [(None, 2), (None, 2), (None, 6)]
    assert "projection" in layer.engine_plan().reason


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"expected proj_size in \[0, 4\)"):
        layers.LSTM(4, proj_size=4)
    with pytest.raises(ValueError, match=r"expected zoneout in \[0, 1\), got 1.5"):
        layers.GRU(4, zoneout=1.5)
    with pytest.raises(ValueError, match="expected reset_after=True for a LayerNormGRU"):
        layers.LayerNormGRU(4, reset_after=False)
    with pytest.raises(ValueError, match="expected initial states of shape"):
        layers.LSTM(4, proj_size=2)(torch.randn(2, 3, 1), initial_state=[torch.zeros(2, 4)] * 2)
