"""rnnkit layers under torch.compile(fullgraph=True) and torch.export: the fused engine is a
custom op (``rnnkit::fused_recurrence``) with a fake kernel and a registered backward."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit import layers
from rnnkit.kernels import _ops


def _model() -> rnnkit.Sequential:
    torch.manual_seed(0)
    return rnnkit.Sequential(
        [
            layers.Input((None, 3)),
            layers.Masking(0.0),
            layers.Bidirectional(layers.LSTM(6, return_sequences=True)),
            layers.GRU(5, return_sequences=True, reset_after=False, go_backwards=True),
            layers.IndRNN(4, return_sequences=True),
            layers.SimpleRNN(3),
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


def test_compiled_model_has_one_graph_and_matches_eager() -> None:
    model = _model()
    x = _inputs()
    want = model(x).detach()
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")  # a break would raise
    torch.testing.assert_close(compiled(x), want, rtol=0, atol=0)
    for got, ref in zip(_grads(model, compiled, x), _grads(model, model, x), strict=True):
        torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-6)
    recurrent = [layer for layer in model.layers if isinstance(layer, layers.RNN)]
    assert [layer.last_engine for layer in recurrent] == ["fused"] * 3


def test_exported_program_reproduces_eager_outputs() -> None:
    model = _model().eval()
    program = torch.export.export(model, (_inputs(),))
    targets = {str(node.target) for node in program.graph.nodes}
    assert "rnnkit.fused_recurrence.default" in targets
    x = _inputs()
    x[0, :3] = torch.randn(3, 3)  # other values, same shapes
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "gru_v1", "simple_rnn", "indrnn"])
def test_the_op_passes_torch_library_checks(cell: str) -> None:
    """Fake kernel, autograd registration and schema against the real kernel (opcheck)."""
    kind, reset_after = (cell, True) if cell != "gru_v1" else ("gru", False)
    spec = rnnkit.kernels.spec_for(kind, reset_after)
    gen = torch.Generator().manual_seed(1)
    b, t, f, u = 3, 4, 2, 5
    g = spec.gates * u

    def rnd(*shape: int) -> torch.Tensor:
        return (torch.randn(*shape, generator=gen, dtype=torch.float64) * 0.5).requires_grad_()

    bias = rnd(*spec.bias_shape(u))
    args = (
        rnd(b, t, f),
        rnd(f, g),
        spec.input_bias(bias).detach().requires_grad_(),
        rnd(*spec.recurrent_shape(u)),
        None if spec.recurrent_bias(bias) is None else rnd(g),
        rnd(b, u),
        rnd(b, u) if spec.n_states > 1 else None,
        torch.tensor([[True] * t, [True] * (t - 1) + [False], [False] + [True] * (t - 1)]),
        None,
        None,
        kind,
        reset_after,
        1,  # tanh
        2,  # sigmoid
        False,
        False,
        True,
    )
    torch.library.opcheck(_ops.fused_recurrence, args)
