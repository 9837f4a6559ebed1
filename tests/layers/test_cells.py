"""Every cell kind against the independent float64 reference, gradcheck and carried state."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from rnnkit import kernels, layers

from ._reference import reference

ENGINES = [e for e in kernels.ENGINES if e not in ("auto", "scan")]  # scan: min cells only
KINDS = {
    "simple_rnn": lambda u, **kw: layers.SimpleRNN(u, **kw),
    "lstm": lambda u, **kw: layers.LSTM(u, **kw),
    "gru": lambda u, **kw: layers.GRU(u, reset_after=True, **kw),
    "gru_v1": lambda u, **kw: layers.GRU(u, reset_after=False, **kw),
    "indrnn": lambda u, **kw: layers.IndRNN(u, **kw),
}
B, T, D, U = 3, 7, 4, 5


def _kind(name: str) -> str:
    return "gru" if name.startswith("gru") else name


def make_layer(name: str, seed: int = 0, **kw: object) -> layers.RNN:
    torch.manual_seed(seed)
    layer = KINDS[name](U, dtype="float64", **kw)
    layer.ensure_built((None, T, D))
    with torch.no_grad():  # random everything, biases included: constant weights hide gate bugs
        for p in layer.parameters():
            p.copy_(torch.randn_like(p) * 0.6)
    return layer


def make_mask(kind: str, rng: np.random.Generator) -> np.ndarray | None:
    if kind == "none":
        return None
    lengths = np.array([T, 4, 1])
    steps = np.arange(T)[None, :]
    if kind == "post":
        return steps < lengths[:, None]
    if kind == "pre":
        return steps >= (T - lengths)[:, None]
    m = rng.random((B, T)) > 0.4
    m[0, :] = False  # a fully masked row keeps its initial state
    return m


def weights(layer: layers.RNN) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    cell = layer.cell
    bias = None if cell.bias is None else cell.bias.detach().numpy()
    return cell.kernel.detach().numpy(), cell.recurrent_kernel.detach().numpy(), bias


OPTIONS = list(
    itertools.product(
        KINDS, ["none", "post", "pre", "random"], [False, True], [False, True], [False, True]
    )
)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name,mask_kind,go_backwards,return_sequences,with_state", OPTIONS)
def test_layer_equals_reference(
    engine: str,
    name: str,
    mask_kind: str,
    go_backwards: bool,
    return_sequences: bool,
    with_state: bool,
) -> None:
    rng = np.random.default_rng(hash((name, mask_kind, go_backwards)) % 2**32)
    layer = make_layer(
        name,
        go_backwards=go_backwards,
        return_sequences=return_sequences,
        return_state=True,
        engine=engine,
    )
    x = rng.standard_normal((B, T, D))
    mask = make_mask(mask_kind, rng)
    n_states = 2 if name == "lstm" else 1
    init = [rng.standard_normal((B, U)) for _ in range(n_states)] if with_state else None
    out, *states = layer(
        torch.from_numpy(x),
        mask=None if mask is None else torch.from_numpy(mask),
        initial_state=None if init is None else [torch.from_numpy(s) for s in init],
    )
    W, Uk, b = weights(layer)
    ref_out, ref_states = reference(
        _kind(name),
        x,
        W,
        Uk,
        b,
        init or [np.zeros((B, U))] * n_states,
        mask=mask,
        go_backwards=go_backwards,
        return_sequences=return_sequences,
        activation=layer.cell.activation,
        reset_after=name != "gru_v1",
    )
    np.testing.assert_allclose(out.detach().numpy(), ref_out, atol=1e-10, rtol=0)
    for s, r in zip(states, ref_states):
        np.testing.assert_allclose(s.detach().numpy(), r, atol=1e-10, rtol=0)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", KINDS)
@pytest.mark.parametrize(
    "activation,recurrent_activation,use_bias",
    [
        ("relu", "hard_sigmoid", True),
        ("linear", "sigmoid", False),
        ("tanh", "tanh", True),
    ],
)
def test_activation_and_bias_options(
    engine: str, name: str, activation: str, recurrent_activation: str, use_bias: bool
) -> None:
    kw: dict[str, object] = {
        "activation": activation,
        "use_bias": use_bias,
        "engine": engine,
        "return_sequences": True,
    }
    gated = name in ("lstm", "gru", "gru_v1")
    if gated:
        kw["recurrent_activation"] = recurrent_activation
    layer = make_layer(name, seed=1, **kw)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((B, T, D)) * 0.5
    out = layer(torch.from_numpy(x)).detach().numpy()
    W, Uk, b = weights(layer)
    ref, _ = reference(
        _kind(name),
        x,
        W,
        Uk,
        b,
        [np.zeros((B, U))] * (2 if name == "lstm" else 1),
        return_sequences=True,
        activation=activation,
        recurrent_activation=recurrent_activation if gated else "sigmoid",
        reset_after=name != "gru_v1",
    )
    np.testing.assert_allclose(out, ref, atol=1e-10, rtol=0)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", KINDS)
def test_dropout_masks_follow_the_equations(engine: str, name: str) -> None:
    """Input and recurrent dropout masks, one per sequence, enter where the reference says."""
    layer = make_layer(name, seed=2)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((B, T, D))
    dp = (rng.random((B, D)) > 0.3) / 0.7
    rdp = (rng.random((B, U)) > 0.3) / 0.7
    mask = make_mask("random", rng)
    cell = layer.cell
    n_states = 2 if name == "lstm" else 1
    call = kernels.RecurrentCall(
        cell=cell.kind,
        x=torch.from_numpy(x),
        kernel=cell.kernel,
        recurrent_kernel=cell.recurrent_kernel,
        bias=cell.bias,
        states=(torch.zeros(B, U, dtype=torch.float64),) * n_states,
        mask=torch.from_numpy(mask),
        dropout_mask=torch.from_numpy(dp),
        recurrent_dropout_mask=torch.from_numpy(rdp),
        return_sequences=True,
        activation=cell.activation,
        recurrent_activation=cell.recurrent_activation_name,
        reset_after=name != "gru_v1",
    )
    from functools import partial

    result = kernels.run_recurrent(
        call, partial(cell.step, rec_mask=call.recurrent_dropout_mask), engine
    )
    W, Uk, b = weights(layer)
    ref, _ = reference(
        _kind(name),
        x,
        W,
        Uk,
        b,
        [np.zeros((B, U))] * n_states,
        mask=mask,
        return_sequences=True,
        reset_after=name != "gru_v1",
        activation=cell.activation,
        dropout_mask=dp,
        recurrent_dropout_mask=rdp,
    )
    np.testing.assert_allclose(result.outputs.detach().numpy(), ref, atol=1e-10, rtol=0)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", KINDS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_gradcheck(engine: str, name: str, go_backwards: bool) -> None:
    layer = make_layer(
        name, seed=4, return_sequences=True, go_backwards=go_backwards, engine=engine
    )
    if name == "indrnn":  # keep ReLU away from its kink for finite differences
        layer.cell.activation = "tanh"
        layer.cell.act = torch.tanh
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 5, D, dtype=torch.float64, generator=gen, requires_grad=True)
    mask = torch.tensor([[True] * 5, [True, False, True, True, False]])
    n_states = 2 if name == "lstm" else 1
    h0 = [
        torch.randn(2, U, dtype=torch.float64, generator=gen, requires_grad=True)
        for _ in range(n_states)
    ]
    params = list(layer.cell.keras_weights())

    def fn(x: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        states, ws = rest[:n_states], rest[n_states:]
        with torch.no_grad():
            for p, w in zip(params, ws):
                p.set_(w.detach().clone())  # rebind for finite differences below
        cell = layer.cell
        call = kernels.RecurrentCall(
            cell=cell.kind,
            x=x,
            kernel=ws[0],
            recurrent_kernel=ws[1],
            bias=ws[2] if len(ws) > 2 else None,
            states=tuple(states),
            mask=mask,
            go_backwards=go_backwards,
            return_sequences=True,
            activation=cell.activation,
            recurrent_activation=cell.recurrent_activation_name,
            reset_after=name != "gru_v1",
        )
        return kernels.run_recurrent(call, _step_with(cell, ws), engine).outputs

    ws = [p.detach().clone().requires_grad_(True) for p in params]
    assert torch.autograd.gradcheck(fn, (x, *h0, *ws), eps=1e-6, atol=1e-7)


def _step_with(cell: layers.RecurrentCell, ws: list[torch.Tensor]):  # type: ignore[no-untyped-def]
    """The cell's step with its weights replaced by ``ws`` (tensors that require grad)."""
    names = cell._weight_order

    def step(xp: torch.Tensor, states: tuple[torch.Tensor, ...]):  # type: ignore[no-untyped-def]
        saved = {n: cell._parameters[n] for n in names}
        try:
            for n, w in zip(names, ws):
                cell._parameters[n] = w  # type: ignore[assignment]
            return cell.step(xp, states)
        finally:
            cell._parameters.update(saved)

    return step


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", KINDS)
@pytest.mark.parametrize("mask_kind", ["none", "random"])
def test_two_halves_with_carried_state_equal_one_pass(
    engine: str, name: str, mask_kind: str
) -> None:
    layer = make_layer(name, seed=6, return_sequences=True, return_state=True, engine=engine)
    rng = np.random.default_rng(8)
    x = torch.from_numpy(rng.standard_normal((B, T, D)))
    m = make_mask(mask_kind, rng)
    mask = None if m is None else torch.from_numpy(m)
    full, *full_states = layer(x, mask=mask)
    k = 3
    first, *states = layer(x[:, :k], mask=None if mask is None else mask[:, :k])
    second, *end_states = layer(
        x[:, k:], mask=None if mask is None else mask[:, k:], initial_state=states
    )
    joined = torch.cat([first, second], 1)
    for a, b in zip(end_states, full_states):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)
    if mask is None:
        torch.testing.assert_close(joined, full, atol=1e-12, rtol=0)
    else:  # a masked step repeats the previous output, which a new call does not know
        valid = mask.unsqueeze(-1).expand_as(full)
        torch.testing.assert_close(joined[valid], full[valid], atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", KINDS)
def test_stateful_carries_between_calls_until_reset(name: str) -> None:
    rng = np.random.default_rng(9)
    x = torch.from_numpy(rng.standard_normal((B, T, D)))
    plain = make_layer(name, seed=10, return_sequences=True)
    stateful = make_layer(name, seed=10, return_sequences=True, stateful=True)
    full = plain(x)
    a, b = stateful(x[:, :4]), stateful(x[:, 4:])
    torch.testing.assert_close(torch.cat([a, b], 1), full, atol=1e-12, rtol=0)
    stateful.reset_states()
    torch.testing.assert_close(stateful(x[:, :4]), full[:, :4], atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="batch size"):
        stateful(x[:2])


def test_float32_is_default_and_float64_works() -> None:
    layer = layers.LSTM(4)
    y = layer(torch.randn(2, 3, 5))
    assert y.dtype == torch.float32 and layer.cell.kernel.dtype == torch.float32
    layer64 = layers.LSTM(4, dtype="float64")
    assert layer64(torch.randn(2, 3, 5, dtype=torch.float64)).dtype == torch.float64


def test_keras_weight_layout_and_forget_bias() -> None:
    layer = layers.LSTM(6, unit_forget_bias=True)
    layer.ensure_built((None, 4, 3))
    names = [n for n, _ in layer.cell.named_parameters()]
    assert names == ["kernel", "recurrent_kernel", "bias"]
    assert tuple(layer.cell.kernel.shape) == (3, 24)
    assert tuple(layer.cell.recurrent_kernel.shape) == (6, 24)
    bias = layer.cell.bias.detach()
    assert torch.all(bias[6:12] == 1) and torch.all(bias[:6] == 0) and torch.all(bias[12:] == 0)
    gru = layers.GRU(6)
    gru.ensure_built((None, 4, 3))
    assert tuple(gru.cell.bias.shape) == (2, 18)
    rk = gru.cell.recurrent_kernel.detach()
    eye = rk @ rk.T  # orthogonal rows (Keras's default recurrent initializer)
    torch.testing.assert_close(eye, torch.eye(6), atol=1e-5, rtol=0)


def test_bad_input_is_a_clear_error() -> None:
    layer = layers.LSTM(4)
    with pytest.raises(ValueError, match="expected input of"):
        layer(torch.randn(3, 5))
    with pytest.raises(ValueError, match="expected units"):
        layers.GRU(0)
    with pytest.raises(ValueError, match="expected dropout"):
        layers.LSTM(3, dropout=1.5)
    with pytest.raises(ValueError, match="expected a mask of shape"):
        layers.LSTM(3)(torch.randn(2, 4, 1), mask=torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="initial state"):
        layers.LSTM(3)(torch.randn(2, 4, 1), initial_state=[torch.zeros(2, 3)])
