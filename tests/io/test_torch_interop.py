"""torch.nn.RNN/LSTM/GRU <-> rnnkit layers: equal outputs and final states, both directions.

Random weights (scaled up from torch's default init so that every gate matters), every kind,
1-3 layers, uni/bidirectional, batch_first True/False, with and without biases.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

import rnnkit as rk
from rnnkit import layers
from rnnkit.io import from_torch, to_torch

#: torch's own note that it runs nn.LSTM(proj_size) without oneDNN (the result is the same)
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")

ATOL = 1e-5
RTOL = 1e-5  # relu stacks reach large values: float32 rounding is relative
B, T, D, U = 3, 7, 4, 5

KINDS = {
    "lstm": lambda **kw: nn.LSTM(D, U, **kw),
    "lstm_proj": lambda **kw: nn.LSTM(D, U, proj_size=2, **kw),
    "gru": lambda **kw: nn.GRU(D, U, **kw),
    "rnn_tanh": lambda **kw: nn.RNN(D, U, nonlinearity="tanh", **kw),
    "rnn_relu": lambda **kw: nn.RNN(D, U, nonlinearity="relu", **kw),
}
SHAPES = [  # num_layers, bidirectional, batch_first, bias
    (1, False, True, True),
    (1, True, False, True),
    (2, False, False, False),
    (2, True, True, True),
    (3, True, False, True),
]


def _torch_module(
    kind: str, num_layers: int, bidirectional: bool, batch_first: bool, bias: bool, seed: int
) -> nn.RNNBase:
    torch.manual_seed(seed)
    m = KINDS[kind](
        num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias
    )
    with torch.no_grad():
        for p in m.parameters():
            # beyond the default U(-1/sqrt(u), 1/sqrt(u)) to saturate some gates; relu stacks
            # would explode instead, leaving only float32 rounding to compare
            p.mul_(1.0 if kind == "rnn_relu" else 2.5)
    return m.eval()


def _torch_run(m: nn.RNNBase, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Torch's output (batch-first) and h_n (and c_n) as a list."""
    y, hn = m(x if m.batch_first else x.transpose(0, 1))
    y = y if m.batch_first else y.transpose(0, 1)
    return y, list(hn) if isinstance(hn, tuple) else [hn]


def _rnnkit_run(
    stack: list[layers.Layer], x: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run layers built with return_state=True; states in layer/direction/state order."""
    states: list[torch.Tensor] = []
    y = x
    for layer in stack:
        out = layer(y)
        if isinstance(out, (list, tuple)):
            y, *s = out
            states += s
        else:
            y = out
    return y, states


def _torch_states_in_rnnkit_order(
    hn: list[torch.Tensor], num_layers: int, dirs: int
) -> list[torch.Tensor]:
    return [
        hn[j][k * dirs + d] for k in range(num_layers) for d in range(dirs) for j in range(len(hn))
    ]


@pytest.mark.parametrize(("kind", "shape"), list(itertools.product(KINDS, SHAPES)))
def test_from_torch_matches_outputs_and_final_states(kind: str, shape: tuple) -> None:
    num_layers, bidirectional, batch_first, bias = shape
    m = _torch_module(kind, *shape, seed=num_layers)
    x = torch.randn(B, T, D)
    with torch.no_grad():
        want_y, want_h = _torch_run(m, x)
        stack = from_torch(m, return_state=True)
        assert len(stack) == num_layers
        got_y, got_states = _rnnkit_run(stack, x)
    torch.testing.assert_close(got_y, want_y, atol=ATOL, rtol=RTOL)
    dirs = 2 if bidirectional else 1
    want_states = _torch_states_in_rnnkit_order(want_h, num_layers, dirs)
    assert len(got_states) == len(want_states)
    for g, w in zip(got_states, want_states):
        torch.testing.assert_close(g, w, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize(("kind", "shape"), list(itertools.product(KINDS, SHAPES)))
def test_to_torch_round_trip_and_from_random_rnnkit_layers(kind: str, shape: tuple) -> None:
    num_layers, bidirectional, batch_first, bias = shape
    m = _torch_module(kind, *shape, seed=7)
    x = torch.randn(B, T, D)
    back = to_torch(from_torch(m), batch_first=batch_first)
    assert type(back) is type(m)
    assert (back.num_layers, back.bidirectional, back.batch_first, back.bias) == (
        num_layers,
        bidirectional,
        batch_first,
        bias,
    )
    with torch.no_grad():
        want_y, want_h = _torch_run(m, x)
        got_y, got_h = _torch_run(back, x)
    torch.testing.assert_close(got_y, want_y, atol=ATOL, rtol=RTOL)
    for g, w in zip(got_h, want_h):
        torch.testing.assert_close(g, w, atol=ATOL, rtol=RTOL)

    # rnnkit layers with random weights (biases included) -> torch
    torch.manual_seed(3)
    stack = from_torch(m, return_state=True)
    with torch.no_grad():
        for layer in stack:
            for p in layer.parameters():
                p.normal_(0.0, 0.3 if kind == "rnn_relu" else 0.6)
        mine_y, mine_states = _rnnkit_run(stack, x)
        module = to_torch(stack, batch_first=batch_first)
        t_y, t_h = _torch_run(module, x)
    torch.testing.assert_close(t_y, mine_y, atol=ATOL, rtol=RTOL)
    dirs = 2 if bidirectional else 1
    for g, w in zip(_torch_states_in_rnnkit_order(t_h, num_layers, dirs), mine_states):
        torch.testing.assert_close(g, w, atol=ATOL, rtol=RTOL)


def test_gru_bias_split_keeps_the_recurrent_row_in_bias_hh() -> None:
    layer = layers.GRU(U, return_sequences=True)
    layer.ensure_built((None, None, D))
    with torch.no_grad():
        layer.cell.bias.normal_()
    m = to_torch(layer)
    b = layer.cell.bias.detach()
    # Keras (z, r, h) -> torch (r, z, n)
    torch.testing.assert_close(m.bias_hh_l0[:U], b[1, U : 2 * U])
    torch.testing.assert_close(m.bias_hh_l0[U : 2 * U], b[1, :U])
    torch.testing.assert_close(m.bias_ih_l0[2 * U :], b[0, 2 * U :])
    lstm = layers.LSTM(U)
    lstm.ensure_built((None, None, D))
    m = to_torch(lstm)
    assert torch.count_nonzero(m.bias_hh_l0) == 0
    torch.testing.assert_close(m.bias_ih_l0, lstm.cell.bias.detach())


def test_last_layer_without_sequences_and_as_model() -> None:
    m = _torch_module("lstm", 2, True, True, True, seed=1)
    x = torch.randn(B, T, D)
    with torch.no_grad():
        want_y, want_h = _torch_run(m, x)
        stack = from_torch(m, return_sequences=False)
        y = x
        for layer in stack:
            y = layer(y)
    # the last bidirectional layer's output without sequences = [h_fw(T), h_bw(0)] = h_n[-2:]
    torch.testing.assert_close(
        y, torch.cat([want_h[0][-2], want_h[0][-1]], dim=-1), atol=ATOL, rtol=0
    )
    model = from_torch(m, as_model=True)
    assert isinstance(model, rk.Sequential)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), want_y, atol=ATOL, rtol=RTOL)


def test_inter_layer_dropout_becomes_dropout_layers_and_back() -> None:
    torch.manual_seed(0)
    m = nn.GRU(D, U, num_layers=3, dropout=0.25, batch_first=True)
    stack = from_torch(m)
    assert [type(l).__name__ for l in stack] == ["GRU", "Dropout", "GRU", "Dropout", "GRU"]
    assert all(l.rate == 0.25 for l in stack if isinstance(l, layers.Dropout))
    back = to_torch(stack)
    assert back.dropout == 0.25 and back.num_layers == 3


def test_float64_modules_stay_float64() -> None:
    m = _torch_module("gru", 1, False, True, True, seed=0).double()
    x = torch.randn(B, T, D, dtype=torch.float64)
    (layer,) = from_torch(m)
    assert layer.cell.kernel.dtype == torch.float64
    with torch.no_grad():
        torch.testing.assert_close(layer(x), _torch_run(m, x)[0], atol=1e-12, rtol=0)
    assert to_torch(layer).weight_ih_l0.dtype == torch.float64


def _built(layer: layers.Layer, features: int = D) -> layers.Layer:
    layer.ensure_built((None, None, features))
    return layer


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: _built(layers.GRU(U, reset_after=False)), "reset_after=True"),
        (lambda: _built(layers.LSTM(U, activation="relu")), "activation"),
        (
            lambda: _built(layers.GRU(U, recurrent_activation="hard_sigmoid")),
            "recurrent_activation",
        ),
        (lambda: _built(layers.SimpleRNN(U, activation="elu")), "activation"),
        (lambda: _built(layers.LSTM(U, dropout=0.1)), "dropout"),
        (lambda: _built(layers.LSTM(U, zoneout=0.1)), "zoneout"),
        (lambda: _built(layers.LayerNormLSTM(U)), "no layer-normalised RNN module"),
        (
            lambda: [
                _built(layers.LSTM(U, proj_size=2, return_sequences=True)),
                _built(layers.LSTM(U, proj_size=3), 2),
            ],
            "every",
        ),
        (lambda: _built(layers.LSTM(U, go_backwards=True)), "go_backwards"),
        (lambda: _built(layers.Bidirectional(layers.LSTM(U), merge_mode="sum")), "merge_mode"),
        (lambda: layers.LSTM(U), "built"),
        (lambda: [_built(layers.LSTM(U)), _built(layers.LSTM(U), U)], "return_sequences"),
        (
            lambda: [_built(layers.LSTM(U, return_sequences=True)), _built(layers.GRU(U), U)],
            "every",
        ),
        (
            lambda: [_built(layers.LSTM(U, return_sequences=True)), _built(layers.LSTM(U), 2)],
            "features",
        ),
        (lambda: [_built(layers.Dense(U))], "recurrent"),
        (lambda: [], "at least one"),
    ],
)
def test_to_torch_refuses_what_torch_cannot_express(make, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        to_torch(make())


def test_from_torch_refuses_other_modules() -> None:
    with pytest.raises(TypeError, match="nn.RNN, nn.LSTM or nn.GRU"):
        from_torch(nn.Linear(D, U))
    with pytest.raises(ValueError, match="return_state"):
        from_torch(nn.GRU(D, U), as_model=True, return_state=True)
