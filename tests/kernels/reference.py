"""Reference cells written straight from the equations of ``rnnkit.kernels._api``, and random calls.

The step functions close over the recurrent weights and the recurrent dropout mask, exactly as a
layer's cell does, and run on the reference loop engine; the fused engines are compared to them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.kernels import (
    EngineChoice,
    RecurrentCall,
    RecurrentResult,
    StepFn,
    plan_engine,
    run_fused,
    run_loop,
    run_native,
    run_triton,
)

ACTS: dict[str, Callable[[Tensor], Tensor]] = {
    "linear": lambda v: v,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "hard_sigmoid": lambda v: F.relu6(v + 3.0) / 6.0,  # Keras 3 (F.hardsigmoid: float32 slope)
    "elu": F.elu,
}

GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3, "indrnn": 1}

#: Every cell kind (and GRU's second form) with the options the engine tests run it with.
CELLS = [
    ("lstm", {}),
    ("gru", {}),
    ("gru", {"reset_after": False}),
    ("simple_rnn", {}),
    ("indrnn", {"activation": "relu"}),
]
CELL_IDS = ["lstm", "gru", "gru_v1", "simple_rnn", "indrnn"]


def plan(cell: str = "lstm", device: str = "cpu", **kw: object) -> EngineChoice:
    """``plan_engine`` for a float32 LSTM-like training call of batch 32, with ``kw`` changed."""
    args: dict[str, object] = dict(
        activation="tanh",
        recurrent_activation="sigmoid",
        dtype=torch.float32,
        device=device,
        training=True,
        batch=32,
        has_mask=False,
        dropout=0.0,
        recurrent_dropout=0.0,
    )
    args.update(kw)
    return plan_engine(cell, **args)  # type: ignore[arg-type]


def make_step(call: RecurrentCall) -> StepFn:
    """The cell of ``call`` as a step function ``(xp_t, states) -> (output, states)``."""
    act = ACTS[call.activation]
    ract = ACTS[call.recurrent_activation]
    U = call.recurrent_kernel
    rd = call.recurrent_dropout_mask
    u = call.units

    def drop(h: Tensor) -> Tensor:
        return h if rd is None else h * rd

    if call.cell == "simple_rnn":

        def step(xp: Tensor, states: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
            h = act(xp + drop(states[0]) @ U)
            return h, (h,)

    elif call.cell == "indrnn":

        def step(xp: Tensor, states: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
            h = act(xp + U * drop(states[0]))
            return h, (h,)

    elif call.cell == "lstm":

        def step(xp: Tensor, states: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
            h, c = states
            z = xp + drop(h) @ U
            i, f, g, o = z[:, :u], z[:, u : 2 * u], z[:, 2 * u : 3 * u], z[:, 3 * u :]
            c2 = ract(f) * c + ract(i) * act(g)
            h2 = ract(o) * act(c2)
            return h2, (h2, c2)

    elif call.reset_after:
        b_rec = call.bias[1] if call.bias is not None else torch.zeros_like(U[0])

        def step(xp: Tensor, states: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
            h = states[0]
            rec = drop(h) @ U + b_rec
            z = ract(xp[:, :u] + rec[:, :u])
            r = ract(xp[:, u : 2 * u] + rec[:, u : 2 * u])
            hh = act(xp[:, 2 * u :] + r * rec[:, 2 * u :])
            h2 = z * h + (1 - z) * hh
            return h2, (h2,)

    else:

        def step(xp: Tensor, states: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
            h = states[0]
            hd = drop(h)
            rec = hd @ U[:, : 2 * u]
            z = ract(xp[:, :u] + rec[:, :u])
            r = ract(xp[:, u : 2 * u] + rec[:, u:])
            hh = act(xp[:, 2 * u :] + (r * hd) @ U[:, 2 * u :])
            h2 = z * h + (1 - z) * hh
            return h2, (h2,)

    return step


def make_mask(kind: str | None, batch: int, time: int, gen: torch.Generator) -> Tensor | None:
    """None, or a (batch, time) bool mask: "post"/"pre" padding, or "random" holes."""
    if kind is None:
        return None
    if kind == "random":
        return torch.rand(batch, time, generator=gen) > 0.35
    lengths = torch.randint(0, time + 1, (batch,), generator=gen)
    lengths[0] = time
    steps = torch.arange(time).unsqueeze(0)
    if kind == "post":
        return steps < lengths.unsqueeze(1)
    return steps >= (time - lengths).unsqueeze(1)


def random_call(
    cell: str,
    *,
    batch: int = 5,
    time: int = 7,
    features: int = 3,
    units: int = 4,
    dtype: torch.dtype = torch.float64,
    mask: str | None = None,
    dropout: bool = False,
    recurrent_dropout: bool = False,
    initial_states: bool = True,
    use_bias: bool = True,
    seed: int = 0,
    requires_grad: bool = True,
    **options: object,
) -> RecurrentCall:
    """A call with random weights (scaled to keep the activations in their interesting range)."""
    gen = torch.Generator().manual_seed(seed)
    g = GATES[cell]
    reset_after = bool(options.get("reset_after", True))

    def rnd(*shape: int, scale: float = 0.6) -> Tensor:
        t = (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale).to(dtype)
        return t.requires_grad_(requires_grad)

    x = rnd(batch, time, features, scale=1.0)
    kernel = rnd(features, g * units, scale=1.2 / features**0.5)
    if cell == "indrnn":
        w = torch.rand(units, generator=gen, dtype=torch.float64) * 1.4 - 0.7
        rec = w.to(dtype).requires_grad_(requires_grad)
    else:
        rec = rnd(units, g * units, scale=1.2 / units**0.5)
    bias = None
    if use_bias:
        bias = rnd(2, g * units) if cell == "gru" and reset_after else rnd(g * units)
    n_states = 2 if cell == "lstm" else 1
    if initial_states:
        states = tuple(rnd(batch, units) for _ in range(n_states))
    else:
        states = tuple(torch.zeros(batch, units, dtype=dtype) for _ in range(n_states))

    def drop_mask(*shape: int) -> Tensor:
        keep = torch.rand(*shape, generator=gen) > 0.3
        return (keep.to(dtype) / 0.7).to(dtype)

    return RecurrentCall(
        cell=cell,  # type: ignore[arg-type]
        x=x,
        kernel=kernel,
        recurrent_kernel=rec,
        bias=bias,
        states=states,
        mask=make_mask(mask, batch, time, gen),
        dropout_mask=drop_mask(batch, features) if dropout else None,
        recurrent_dropout_mask=drop_mask(batch, units) if recurrent_dropout else None,
        **options,  # type: ignore[arg-type]
    )


def differentiable_inputs(call: RecurrentCall) -> list[Tensor]:
    ts = [call.x, call.kernel, call.recurrent_kernel, *call.states]
    if call.bias is not None:
        ts.append(call.bias)
    return [t for t in ts if t.requires_grad]


def run_engine(call: RecurrentCall, engine: str) -> RecurrentResult:
    """``call`` on the named engine, called directly (no dispatch, no fallback)."""
    if engine == "loop":
        return run_loop(call, make_step(call))
    runner = {"fused": run_fused, "torch": run_native, "triton": run_triton}[engine]
    return runner(call)


def forward_backward(
    call: RecurrentCall, engine: str, seed: int = 1
) -> tuple[list[Tensor], list[Tensor]]:
    """Outputs and the gradients of a random linear function of them wrt every input."""
    result = run_engine(call, engine)
    assert result.engine == engine
    outs = [result.outputs, *result.states]
    gen = torch.Generator().manual_seed(seed)
    weights = [torch.randn(o.shape, generator=gen, dtype=torch.float64).to(o.dtype) for o in outs]
    loss = sum((o * w).sum() for o, w in zip(outs, weights, strict=True))
    grads = torch.autograd.grad(loss, differentiable_inputs(call))
    return [o.detach() for o in outs], list(grads)


def assert_close(got: list[Tensor], want: list[Tensor], rtol: float) -> None:
    """Every pair equal to ``rtol`` times the reference's largest magnitude (+1)."""
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        scale = w.abs().max().item() + 1.0
        err = (g.double() - w.double()).abs().max().item()
        assert err <= rtol * scale, (err, scale)
