"""MinGRU and MinLSTM under torch.compile(fullgraph=True) and torch.export: their fused CPU path
is the custom op ``rnnkit::min_states`` with a fake kernel and a registered backward, as the
main engine's (test_compile.py)."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit import layers
from rnnkit.kernels import _ops_min


def _model() -> rnnkit.Sequential:
    torch.manual_seed(0)
    return rnnkit.Sequential(
        [
            layers.Input((None, 3)),
            layers.Masking(0.0),
            layers.Bidirectional(layers.MinGRU(5, return_sequences=True)),
            layers.MinLSTM(4, return_sequences=True, go_backwards=True),
            layers.MinGRU(3),
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
    graphs: list[str] = []

    def backend(gm: torch.fx.GraphModule, inputs: list[torch.Tensor]) -> object:
        graphs.append(gm.code)
        return torch._dynamo.lookup_backend("aot_eager")(gm, inputs)

    compiled = torch.compile(model, fullgraph=True, backend=backend)  # a break would raise
    torch.testing.assert_close(compiled(x), want, rtol=0, atol=1e-6)
    assert graphs[0].count("rnnkit.min_states") == 4  # Bidirectional: two
    for got, ref in zip(_grads(model, compiled, x), _grads(model, model, x), strict=True):
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)


def test_exported_program_reproduces_eager_outputs() -> None:
    model = _model().eval()
    program = torch.export.export(model, (_inputs(),))
    targets = {str(node.target) for node in program.graph.nodes}
    assert "rnnkit.min_states.default" in targets
    x = _inputs()
    x[0, :3] = torch.randn(3, 3)  # other values, same shapes
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize("code,gates", [(0, 2), (1, 3)])
def test_the_op_passes_torch_library_checks(code: int, gates: int) -> None:
    """Fake kernel, autograd registration and schema against the real kernel (opcheck)."""
    gen = torch.Generator().manual_seed(1)
    b, t, f, u = 3, 4, 2, 5

    def rnd(*shape: int) -> torch.Tensor:
        return (torch.randn(*shape, generator=gen, dtype=torch.float64) * 0.5).requires_grad_()

    keep = torch.tensor([[True] * t, [True] * (t - 1) + [False], [False] + [True] * (t - 1)])
    args = (rnd(b, t, f), rnd(f, gates * u), rnd(gates * u), rnd(b, u), keep, code)
    torch.library.opcheck(_ops_min.min_states, args)
