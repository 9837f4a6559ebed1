"""The Triton engine of MinGRU and MinLSTM (chunked parallel scans) under Triton's interpreter.

Against the fused CPU kernels and the reference loop in float64 (outputs, final state and the
gradients of x, W, b and h0), gradcheck, float32 at 4,096 steps, and the dispatch. No GPU is
needed: CPU tensors run the kernels through Triton's interpreter.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

pytest.importorskip("triton")

from rnnkit import layers  # noqa: E402
from rnnkit.kernels import (  # noqa: E402
    ENGINE_ENV,
    RecurrentCall,
    _triton,
    _triton_launch,
    plan_engine,
    run_loop,
    run_recurrent,
    run_scan,
    run_triton,
)
from rnnkit.kernels.cells import min_rnn  # noqa: E402

from .reference import assert_close  # noqa: E402

GATES = {"min_gru": 2, "min_lstm": 3}
NAMES = list(GATES)


@pytest.fixture(autouse=True)
def _interpreted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_triton.INTERPRET_ENV, "1")
    monkeypatch.delenv(ENGINE_ENV, raising=False)


def min_call(
    cell: str,
    *,
    batch: int = 3,
    time: int = 7,
    features: int = 2,
    units: int = 5,
    dtype: torch.dtype = torch.float64,
    mask: str | None = None,
    seed: int = 0,
    dropout: bool = False,
    use_bias: bool = True,
    requires_grad: bool = True,
    **options: object,
) -> RecurrentCall:
    gen = torch.Generator().manual_seed(seed)

    def rnd(*shape: int, scale: float = 1.0) -> torch.Tensor:
        t = torch.randn(*shape, generator=gen, dtype=torch.float64) * scale
        return t.to(dtype).requires_grad_(requires_grad)

    g = GATES[cell] * units
    keep = None
    if mask is not None:
        steps = torch.arange(time)[None, :]
        lengths = torch.tensor([time, 3, 1][:batch] + [2] * max(0, batch - 3))[:, None]
        if mask == "post":
            keep = steps < lengths
        elif mask == "pre":
            keep = steps >= time - lengths
        else:
            keep = torch.rand(batch, time, generator=gen) > 0.4
            keep[0, :3] = False  # skipped first steps: zeros out, the initial state kept
            keep[-1] = False  # a row with no step kept
    drop = None
    if dropout:
        drop = ((torch.rand(batch, features, generator=gen) > 0.3).to(dtype) / 0.7).to(dtype)
    x = rnd(batch, time, features)
    kernel = rnd(features, g, scale=1.5)
    return RecurrentCall(
        cell=cell,  # type: ignore[arg-type]
        x=x,
        kernel=kernel,
        recurrent_kernel=torch.empty(units, 0, dtype=dtype),
        bias=rnd(g) if use_bias else None,
        states=(rnd(batch, units),),
        mask=keep,
        dropout_mask=drop,
        **options,  # type: ignore[arg-type]
    )


def make_step(call: RecurrentCall):
    """The cell's step in float64 torch ops (the reference loop's body)."""

    def step(xp: torch.Tensor, states: tuple[torch.Tensor, ...]):
        v = xp[:, -call.units :]
        cand = torch.where(v >= 0, v.clamp_min(0) + 0.5, torch.sigmoid(v))
        if call.cell == "min_gru":
            s = torch.sigmoid(xp[:, : call.units])
        else:
            f, i = (
                torch.sigmoid(xp[:, : call.units]),
                torch.sigmoid(xp[:, call.units : -call.units]),
            )
            s = i / (f + i)
        h = (1 - s) * states[0] + s * cand
        return h, (h,)

    return step


def _inputs(call: RecurrentCall) -> list[torch.Tensor]:
    ts = [call.x, call.kernel, call.states[0], *([call.bias] if call.bias is not None else [])]
    return [t for t in ts if t.requires_grad]


def outputs_and_grads(call: RecurrentCall, engine: str) -> tuple[list, list]:
    if engine == "triton":
        result = run_triton(call)
    elif engine == "loop":
        result = run_loop(call, make_step(call))
    else:
        result = run_scan(call, fused=engine == "fused")
    assert result.engine == engine
    outs = [result.outputs, *result.states]
    gen = torch.Generator().manual_seed(1)
    weights = [torch.randn(o.shape, generator=gen, dtype=torch.float64).to(o.dtype) for o in outs]
    loss = sum((o * w).sum() for o, w in zip(outs, weights, strict=True))
    return [o.detach() for o in outs], list(torch.autograd.grad(loss, _inputs(call)))


#: Every option at least once per cell: masks (right and left padding, holes, leading skipped
#: steps, a row never kept), go_backwards, return_sequences or not, zero_output_for_mask,
#: dropout, no bias.
OPTIONS = [
    {"mask": "post", "return_sequences": True, "dropout": True},
    {"mask": "pre", "go_backwards": True, "return_sequences": True, "use_bias": False},
    {"mask": "random", "zero_output_for_mask": True, "return_sequences": True},
    {"mask": "random", "go_backwards": True},
    {"mask": "random", "go_backwards": True, "return_sequences": True},
]


@pytest.mark.parametrize(("cell", "opts"), list(itertools.product(NAMES, OPTIONS)))
def test_triton_matches_loop_float64(cell: str, opts: dict) -> None:
    """The loop is the reference (the fused kernels are checked against it elsewhere)."""
    call = min_call(cell, seed=len(opts), **opts)
    got = outputs_and_grads(call, "triton")
    want = outputs_and_grads(call, "loop")
    assert_close(got[0], want[0], 1e-12)
    assert_close(got[1], want[1], 1e-11)


@pytest.mark.parametrize("cell", NAMES)
def test_several_chunks_and_unit_blocks(cell: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """11 steps in chunks of 4 (a partial last chunk) and 20 units in blocks of 16."""
    monkeypatch.setattr(min_rnn, "BLOCK_T", 4)
    monkeypatch.setattr(_triton_launch, "MAX_BLOCK_UNITS", 16)
    opts = {"mask": "random", "return_sequences": True, "go_backwards": cell == "min_lstm"}
    call = min_call(cell, batch=4, time=11, units=20, seed=5, **opts)
    got = outputs_and_grads(call, "triton")
    want = outputs_and_grads(call, "loop")
    assert_close(got[0], want[0], 1e-12)
    assert_close(got[1], want[1], 1e-11)


@pytest.mark.parametrize("cell", NAMES)
def test_gradcheck(cell: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over two chunks, with a mask and go_backwards; one scalar output (a weighted sum of the
    outputs and the final state) keeps the interpreter's launches few."""
    monkeypatch.setattr(min_rnn, "BLOCK_T", 2)
    call = min_call(cell, batch=2, time=4, features=1, units=2, mask="random", seed=3)
    gen = torch.Generator().manual_seed(2)
    w_out = torch.randn(2, 4, 2, generator=gen, dtype=torch.float64)
    w_h = torch.randn(2, 2, generator=gen, dtype=torch.float64)

    def fn(x: torch.Tensor, kernel: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
        c = RecurrentCall(
            cell=call.cell, x=x, kernel=kernel, recurrent_kernel=call.recurrent_kernel,
            bias=call.bias, states=(h0,), mask=call.mask, go_backwards=True,
            return_sequences=True,
        )  # fmt: skip
        result = run_triton(c)
        return (result.outputs * w_out).sum() + (result.states[0] * w_h).sum()

    inputs = (call.x, call.kernel, call.states[0])
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("cell", NAMES)
def test_float32_matches_float64_loop(cell: str) -> None:
    opts = {"mask": "random", "return_sequences": True}
    got = outputs_and_grads(min_call(cell, dtype=torch.float32, seed=4, **opts), "triton")
    want = outputs_and_grads(min_call(cell, dtype=torch.float64, seed=4, **opts), "loop")
    assert all(t.dtype == torch.float32 for t in got[0] + got[1])
    assert_close(got[0], want[0], 1e-5)
    assert_close(got[1], want[1], 1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["min_lstm"])
def test_float32_is_stable_at_4096_steps(cell: str) -> None:
    """(The interpreter takes some 20 s over 4,096 steps: slow.)"""
    call32 = min_call(cell, batch=1, time=4096, units=4, dtype=torch.float32, requires_grad=False)
    call64 = min_call(cell, batch=1, time=4096, units=4, requires_grad=False)
    with torch.no_grad():
        got = run_triton(call32).outputs.double()
        want = run_scan(call64, fused=True).outputs
    assert torch.isfinite(got).all()
    rel = ((got - want).abs() / want.abs().clamp_min(1e-3)).max().item()
    assert rel < 2e-5, rel


@pytest.mark.parametrize("cell", NAMES)
def test_inference_without_storage(cell: str) -> None:
    call = min_call(
        cell, mask="random", go_backwards=True, return_sequences=True, requires_grad=False
    )
    with torch.no_grad():
        got = run_triton(call)
    want = run_loop(call, make_step(call))
    assert_close([got.outputs, *got.states], [want.outputs, *want.states], 1e-12)


def test_dispatch_and_plan() -> None:
    call = min_call("min_gru", mask="post", return_sequences=True)
    assert run_recurrent(call, make_step(call)).engine == "fused"  # "auto" on CPU
    result = run_recurrent(call, make_step(call), "triton")
    assert result.engine == "triton"

    def plan(device: str, **kw: object) -> str:
        args: dict = dict(activation="linear", recurrent_activation="sigmoid", training=True)
        args.update(batch=8, has_mask=False, dropout=0.0, recurrent_dropout=0.0)
        return plan_engine("min_lstm", dtype=torch.float32, device=device, **args, **kw).name

    assert plan("cuda") == "triton"  # a parallel scan in Triton kernels on the GPU
    assert plan("cuda", requested="scan") == "scan"
    assert plan("cpu") == "fused"
    assert plan("cpu", requested="triton") == "triton"  # forced, under the interpreter


@pytest.mark.parametrize("name", ["MinGRU", "MinLSTM"])
def test_bidirectional_layer_on_triton(name: str) -> None:
    torch.manual_seed(0)
    cls = getattr(layers, name)
    layer = layers.Bidirectional(cls(4, return_sequences=True, engine="triton", dtype="float64"))
    x = torch.randn(3, 6, 2, dtype=torch.float64)
    mask = torch.from_numpy(np.array([[1, 1, 1, 1, 0, 0], [1] * 6, [0, 1, 0, 1, 1, 1]], bool))
    got = layer(x, mask=mask)
    assert layer.forward_layer.last_engine == "triton"
    layer.forward_layer.engine = layer.backward_layer.engine = "loop"
    want = layer(x, mask=mask)
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)
