"""The split fused engine (LayerNormLSTM/GRU, zoneout, LSTM projection) under
torch.compile(fullgraph=True) and torch.export: the custom op ``rnnkit::fused_ext_recurrence``
with a fake kernel and a registered backward, as the main engine's (test_compile.py)."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit import kernels, layers
from rnnkit.kernels import _fused_ext, _ops_ext


def _model() -> rnnkit.Sequential:
    torch.manual_seed(0)
    return rnnkit.Sequential(
        [
            layers.Input((None, 3)),
            layers.Masking(0.0),
            layers.Bidirectional(layers.LayerNormLSTM(5, return_sequences=True)),
            layers.LayerNormGRU(4, return_sequences=True, go_backwards=True),
            layers.LSTM(6, proj_size=3, return_sequences=True),
            layers.GRU(4, zoneout=0.3, return_sequences=True),
            layers.GRU(4, reset_after=False, zoneout=0.2, return_sequences=True),
            layers.LSTM(4, zoneout=0.4),
            layers.Dense(2),
        ]
    )


def _inputs(batch: int = 4, time: int = 7) -> torch.Tensor:
    x = torch.randn(batch, time, 3, generator=torch.Generator().manual_seed(batch * time))
    x[1, -2:] = 0.0  # masked steps
    return x


def _grads(model: torch.nn.Module, run: object, x: torch.Tensor) -> list[torch.Tensor]:
    model.zero_grad()
    out = run(x)  # type: ignore[operator]
    (out * torch.arange(1.0, 3.0)).sum().backward()
    return [p.grad.clone() for p in model.parameters()]


def _recurrent(model: rnnkit.Sequential) -> list[layers.RNN]:
    found = []
    for layer in model.layers:
        inner = getattr(layer, "forward_layer", None)
        found.append(inner if isinstance(inner, layers.RNN) else layer)
    return [layer for layer in found if isinstance(layer, layers.RNN)]


def test_compiled_model_has_one_graph_and_matches_eager() -> None:
    """Inference (zoneout's expectation) and training (its random masks drawn alike) against
    eager, with one graph (a break would raise)."""
    model = _model().eval()
    x = _inputs()
    want = model(x).detach()
    torch._dynamo.reset()
    graphs: list[str] = []

    def backend(gm: torch.fx.GraphModule, inputs: list[torch.Tensor]) -> object:
        graphs.append(gm.code)
        return torch._dynamo.lookup_backend("aot_eager")(gm, inputs)

    compiled = torch.compile(model, fullgraph=True, backend=backend)
    torch.testing.assert_close(compiled(x), want, rtol=1e-6, atol=1e-6)
    assert graphs[0].count("rnnkit.fused_ext_recurrence") == 7  # Bidirectional: two
    model.train()
    torch.manual_seed(5)  # the same zoneout masks in both runs
    got_grads = _grads(model, compiled, x)
    torch.manual_seed(5)
    for got, ref in zip(got_grads, _grads(model, model, x), strict=True):
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    assert graphs[-1].count("rnnkit.fused_ext_recurrence") == 7  # the training graph
    assert [layer.last_engine for layer in _recurrent(model)] == ["fused"] * 6


def test_exported_program_reproduces_eager_outputs() -> None:
    model = _model().eval()
    program = torch.export.export(model, (_inputs(),))
    targets = {str(node.target) for node in program.graph.nodes}
    assert "rnnkit.fused_ext_recurrence.default" in targets
    x = _inputs()
    x[0, :3] = torch.randn(3, 3)  # other values, same shapes
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x), rtol=1e-6, atol=1e-6)


LAYERS = {
    "layer_norm_lstm": lambda: layers.LayerNormLSTM(5, return_sequences=True),
    "layer_norm_gru": lambda: layers.LayerNormGRU(5, return_sequences=True, go_backwards=True),
    "lstm_proj_zoneout": lambda: layers.LSTM(5, proj_size=2, zoneout=0.4),
    "gru_zoneout": lambda: layers.GRU(5, zoneout=0.3, return_sequences=True),
    "gru1_zoneout": lambda: layers.GRU(5, reset_after=False, zoneout=0.3, go_backwards=True),
}


def _op_args(make: object, monkeypatch: pytest.MonkeyPatch) -> tuple[object, ...]:
    """The op's arguments for one training call of the layer (float64, masked)."""
    seen: list[tuple[kernels.RecurrentCall, tuple[object, ...]]] = []

    def capture(call: kernels.RecurrentCall) -> tuple[_fused_ext.ExtSpec, tuple[object, ...]]:
        spec, tensors = ext_inputs(call)
        seen.append((call, (spec, tensors)))
        return spec, tensors

    ext_inputs = _fused_ext.ext_inputs
    monkeypatch.setattr(_fused_ext, "ext_inputs", capture)
    layer = make()  # type: ignore[operator]
    layer.ensure_built((None, 4, 3))
    layer.double()
    x = torch.randn(3, 4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    mask = torch.tensor([[True] * 4, [True] * 3 + [False], [False] + [True] * 3])
    layer(x, mask=mask, training=True)
    call, (spec, tensors) = seen[0]
    grads = [None if t is None else t.detach().requires_grad_() for t in tensors[:9]]
    flags = (spec.act, spec.ract, spec.go_backwards, spec.zero_output, spec.return_sequences)
    return (*grads, *tensors[9:], call.cell, bool(call.reset_after), *flags, spec.zw)


@pytest.mark.parametrize("name", LAYERS)
def test_the_op_passes_torch_library_checks(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake kernel, autograd registration and schema against the real kernel (opcheck)."""
    args = _op_args(LAYERS[name], monkeypatch)
    torch.library.opcheck(_ops_ext.fused_ext_recurrence, args)
