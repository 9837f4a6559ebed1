"""The split fused engine (layer-norm kinds, zoneout, LSTM projection) against the reference
loop: outputs and every gradient, float64 and float32 split over threads; the planner's choice."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from rnnkit import layers
from rnnkit.kernels import RecurrentCall, _runtime, plan_engine, run_fused

#: name -> layer factory (units, **layer kwargs)
KINDS: dict[str, Callable[..., layers.RNN]] = {
    "ln_lstm": lambda u, **kw: layers.LayerNormLSTM(u, **kw),
    "ln_gru": lambda u, **kw: layers.LayerNormGRU(u, **kw),
    "ln_lstm_zoneout": lambda u, **kw: layers.LayerNormLSTM(u, zoneout=0.3, **kw),
    "ln_gru_zoneout": lambda u, **kw: layers.LayerNormGRU(u, zoneout=0.3, **kw),
    "lstm_proj": lambda u, **kw: layers.LSTM(u, proj_size=max(1, u // 2), **kw),
    "lstm_zoneout": lambda u, **kw: layers.LSTM(u, zoneout=0.4, **kw),
    "lstm_proj_zoneout": lambda u, **kw: layers.LSTM(u, proj_size=2, zoneout=0.2, **kw),
    "gru_zoneout": lambda u, **kw: layers.GRU(u, zoneout=0.3, **kw),
    "gru1_zoneout": lambda u, **kw: layers.GRU(u, reset_after=False, zoneout=0.35, **kw),
}
#: the kinds without split Triton kernels (they run on the loop on CUDA)
NO_TRITON = ("gru1_zoneout",)
#: (layer options, training): every option in training and some in inference
OPTIONS: list[tuple[dict[str, object], bool]] = [
    ({}, True),
    ({"go_backwards": True, "dropout": 0.3}, True),
    ({"recurrent_dropout": 0.4, "zero_output_for_mask": True}, True),
    ({"go_backwards": True, "recurrent_dropout": 0.3, "use_bias": False}, False),
    ({"zero_output_for_mask": True}, False),
]


def _layer(name: str, dtype: str, units: int, features: int, **kw: object) -> layers.RNN:
    torch.manual_seed(0)
    layer = KINDS[name](units, dtype=dtype, return_sequences=True, return_state=True, **kw)
    layer.ensure_built((None, None, features))
    with torch.no_grad():  # away from the initial values (unit gains, zero shifts)
        for p in layer.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return layer


def _run(
    layer: layers.RNN, engine: str, x: torch.Tensor, mask: torch.Tensor | None, training: bool
) -> list[torch.Tensor]:
    """Outputs, final states and the gradients of x, the initial states and every weight."""
    layer.engine = engine
    gen = torch.Generator().manual_seed(4)
    states = [
        torch.randn(x.shape[0], s, dtype=torch.float64, generator=gen).to(x.dtype)
        for s in layer.cell.state_sizes
    ]
    x = x.detach().requires_grad_(True)
    states = [s.requires_grad_(True) for s in states]
    torch.manual_seed(11)  # the same dropout and zoneout draws for both engines
    y, *final = layer(x, mask=mask, initial_state=states, training=training)
    assert layer.last_engine == engine
    loss = (y * torch.linspace(-1, 1, y.shape[-1], dtype=y.dtype)).square().sum()
    loss = loss + sum((s * (i + 1)).sum() for i, s in enumerate(final))
    grads = torch.autograd.grad(loss, [x, *states, *layer.parameters()])
    return [y.detach(), *(s.detach() for s in final), *grads]


def _mask(batch: int, time: int, kind: str | None) -> torch.Tensor | None:
    if kind is None:
        return None
    gen = torch.Generator().manual_seed(2)
    m = torch.rand(batch, time, generator=gen) > 0.35
    if kind == "post":
        m = torch.arange(time)[None, :] < torch.randint(1, time + 1, (batch, 1), generator=gen)
    m[0, :2] = False  # a row starting masked
    return m


def _assert_close(got: list[torch.Tensor], want: list[torch.Tensor], tol: float) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g.double(), w.double(), atol=tol, rtol=tol)


@pytest.mark.parametrize("name", KINDS)
@pytest.mark.parametrize("mask", [None, "post", "random"])
def test_fused_equals_loop_float64(name: str, mask: str | None) -> None:
    x = torch.randn(5, 6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for opts, training in OPTIONS:
        layer = _layer(name, "float64", 4, 3, **opts)
        m = _mask(5, 6, mask)
        want = _run(layer, "loop", x, m, training)
        got = _run(layer, "fused", x, m, training)
        _assert_close(got, want, 1e-11)


@pytest.mark.parametrize(
    "name", ["ln_lstm_zoneout", "ln_gru_zoneout", "lstm_proj_zoneout", "gru1_zoneout"]
)
def test_fused_float32_split_over_threads(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """float32 against the float64 loop in inference (no random draws: the draws of a float32
    call differ from a float64 one's), and against the float32 loop in training (the same
    draws); the batch split over threads."""
    x64 = torch.randn(37, 12, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    m = _mask(37, 12, "random")
    layer64 = _layer(name, "float64", 16, 5)
    want64 = _run(layer64, "loop", x64, m, False)
    monkeypatch.setattr(_runtime, "_MIN_PARALLEL_WORK", 0)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    layer = _layer(name, "float32", 16, 5, recurrent_dropout=0.2, dropout=0.1)
    layer.load_state_dict({k: v.float() for k, v in layer64.state_dict().items()})
    _assert_close(_run(layer, "fused", x64.float(), m, False), want64, 2e-4)
    want32 = _run(layer, "loop", x64.float(), m, True)
    _assert_close(_run(layer, "fused", x64.float(), m, True), want32, 2e-4)


def test_fused_activations() -> None:
    """Other activation codes reach the split kernels as literals too."""
    x = torch.randn(4, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    for factory in (layers.LayerNormLSTM, layers.LayerNormGRU):
        layer = factory(4, activation="relu", recurrent_activation="hard_sigmoid", dtype="float64",
                        return_sequences=True, return_state=True)  # fmt: skip
        layer.ensure_built((None, None, 3))
        _assert_close(
            _run(layer, "fused", x, None, True), _run(layer, "loop", x, None, True), 1e-11
        )


def _plan(cell: str, **kw: object) -> str:
    args: dict[str, object] = {
        "activation": "tanh", "recurrent_activation": "sigmoid", "dtype": torch.float32,
        "device": "cpu", "training": True, "batch": 32, "has_mask": False, "dropout": 0.0,
        "recurrent_dropout": 0.0,
    }  # fmt: skip
    return plan_engine(cell, **{**args, **kw}).name  # type: ignore[arg-type]


def test_planner_sends_these_calls_to_the_fused_engine() -> None:
    assert _plan("layer_norm_lstm") == "fused"
    assert _plan("layer_norm_gru", has_mask=True, recurrent_dropout=0.5) == "fused"
    assert _plan("layer_norm_lstm", options=("zoneout",)) == "fused"
    assert _plan("lstm", options=("projection", "zoneout")) == "fused"
    assert _plan("gru", options=("zoneout",), training=False) == "fused"
    assert _plan("gru", options=("zoneout",), reset_after=False) == "fused"
    assert _plan("gru", options=("zoneout",), reset_after=False, has_mask=True) == "fused"
    # what the split kernels do not run stays on the loop, saying why
    assert _plan("layer_norm_lstm", options=("projection",)) == "loop"
    assert _plan("layer_norm_lstm", dtype=torch.float16) == "loop"
    assert _plan("layer_norm_gru", activation="softsign") == "loop"


def test_zoneout_in_training_needs_its_mask() -> None:
    layer = _layer("gru_zoneout", "float64", 4, 3)
    call_x = torch.randn(2, 3, 3, dtype=torch.float64)
    cell = layer.cell
    call = RecurrentCall(
        cell="gru", x=call_x, kernel=cell.kernel, recurrent_kernel=cell.recurrent_kernel,
        bias=cell.bias, states=(torch.zeros(2, 4, dtype=torch.float64),), zoneout=0.3,
        training=True,
    )  # fmt: skip
    with pytest.raises(ValueError, match="expected a zoneout_mask"):
        run_fused(call)


def test_bidirectional_gru_reset_after_false_zoneout_equals_loop() -> None:
    """Both directions of a Bidirectional GRU(reset_after=False, zoneout) with initial states
    and a mask on the split kernels: outputs and every gradient as the loop's."""
    x = torch.randn(4, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    m = _mask(4, 5, "random")
    torch.manual_seed(0)
    gru = layers.GRU(
        3, reset_after=False, zoneout=0.3, recurrent_dropout=0.2, dtype="float64",
        return_sequences=True,
    )  # fmt: skip
    bi = layers.Bidirectional(gru)
    bi.ensure_built((None, None, 3))
    h0 = [torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(i))
          for i in range(2)]  # fmt: skip

    def run(engine: str) -> list[torch.Tensor]:
        for inner in (bi.forward_layer, bi.backward_layer):
            inner.engine = engine
        xx = x.detach().requires_grad_(True)
        states = [h.detach().requires_grad_(True) for h in h0]
        torch.manual_seed(3)
        y = bi(xx, mask=m, initial_state=states, training=True)
        engines = {bi.forward_layer.last_engine, bi.backward_layer.last_engine}
        assert engines == {engine}
        loss = (y * torch.linspace(-1, 1, y.shape[-1], dtype=y.dtype)).square().sum()
        return [y.detach(), *torch.autograd.grad(loss, [xx, *states, *bi.parameters()])]

    _assert_close(run("fused"), run("loop"), 1e-11)
