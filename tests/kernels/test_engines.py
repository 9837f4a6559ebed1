"""The engines against the reference loop, and against each other, on random inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from rnnkit.kernels import (
    RecurrentResult,
    _omp,
    _runtime,
    run_fused,
    run_loop,
    run_recurrent,
)

from .reference import (
    CELL_IDS,
    CELLS,
    assert_close,
    differentiable_inputs,
    forward_backward,
    make_step,
    random_call,
)

MASKS = [None, "post", "pre", "random"]
OPTIONS = [
    {},
    {"return_sequences": True},
    {"go_backwards": True, "return_sequences": True, "dropout": True},
    {"go_backwards": True, "recurrent_dropout": True, "initial_states": False},
    {"zero_output_for_mask": True, "return_sequences": True, "recurrent_dropout": True},
    {"use_bias": False, "dropout": True, "recurrent_dropout": True},
]





def _outputs(result: RecurrentResult) -> list[torch.Tensor]:
    return [result.outputs, *result.states]


@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize(("cell", "opts"), CELLS, ids=CELL_IDS)
def test_fused_matches_loop_float64(cell: str, opts: dict, mask: str | None) -> None:
    for i, extra in enumerate(OPTIONS):
        call = random_call(cell, mask=mask, seed=i, **opts, **extra)
        want = forward_backward(call, "loop")
        got = forward_backward(call, "fused")
        assert_close(got[0], want[0], 1e-12)
        assert_close(got[1], want[1], 1e-11)


@pytest.mark.parametrize(("cell", "opts"), CELLS, ids=CELL_IDS)
def test_fused_float32_matches_float64_loop(
    cell: str, opts: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """float32 against the float64 reference, the batch split over threads."""
    monkeypatch.setattr(_runtime, "_MIN_PARALLEL_WORK", 0)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    for mask, extra in [(None, {}), ("random", OPTIONS[2]), ("pre", OPTIONS[4])]:
        kw = dict(batch=37, time=30, features=5, units=16, mask=mask, **opts, **extra)
        call64 = random_call(cell, seed=3, **kw)
        call32 = random_call(cell, seed=3, dtype=torch.float32, **kw)
        want = forward_backward(call64, "loop")
        got = forward_backward(call32, "fused")
        assert_close(got[0], want[0], 2e-5)
        assert_close(got[1], want[1], 1e-4)


# Every activation code in each position at least once (each pair compiles its own kernels).
ACTIVATION_CASES = [
    ("lstm", {"activation": "relu", "recurrent_activation": "hard_sigmoid"}),
    ("lstm", {"activation": "sigmoid", "recurrent_activation": "linear"}),
    ("gru", {"activation": "hard_sigmoid", "recurrent_activation": "tanh"}),
    ("gru", {"activation": "linear", "recurrent_activation": "relu", "reset_after": False}),
    ("simple_rnn", {"activation": "sigmoid"}),
    ("simple_rnn", {"activation": "relu"}),
    ("indrnn", {"activation": "tanh"}),
    ("indrnn", {"activation": "linear"}),
]


@pytest.mark.parametrize(("cell", "opts"), ACTIVATION_CASES)
def test_fused_activations(cell: str, opts: dict) -> None:
    for mask in (None, "random"):
        call = random_call(cell, mask=mask, return_sequences=True, **opts)
        want = forward_backward(call, "loop")
        got = forward_backward(call, "fused")
        assert_close(got[0], want[0], 1e-12)
        assert_close(got[1], want[1], 1e-11)


@pytest.mark.parametrize(("cell", "opts"), CELLS, ids=CELL_IDS)
def test_fused_gradcheck(cell: str, opts: dict) -> None:
    base = random_call(
        cell,
        batch=3,
        time=4,
        features=2,
        units=3,
        mask="random",
        recurrent_dropout=True,
        return_sequences=True,
        seed=5,
        **opts,
    )
    names = ["x", "kernel", "recurrent_kernel", "bias"]

    def fn(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        fields = dict(zip(names, tensors[:4], strict=True))
        call = dataclasses.replace(base, **fields, states=tuple(tensors[4:]))
        return tuple(_outputs(run_fused(call)))

    inputs = [base.x, base.kernel, base.recurrent_kernel, base.bias, *base.states]
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


NATIVE = [
    ("lstm", {}),
    ("gru", {}),
    ("simple_rnn", {}),
    ("simple_rnn", {"activation": "relu"}),
]


@pytest.mark.parametrize(("cell", "opts"), NATIVE, ids=["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_engines_agree(cell: str, opts: dict, dtype: torch.dtype) -> None:
    """loop, fused and PyTorch's own op compute the same function where all three apply."""
    tol = (1e-12, 1e-11) if dtype == torch.float64 else (2e-5, 1e-4)
    for i, extra in enumerate([{}, {"go_backwards": True, "return_sequences": True}]):
        kw = dict(batch=9, time=11, units=6, dropout=True, seed=i, **opts, **extra)
        want = forward_backward(random_call(cell, **kw), "loop")
        for engine in ("fused", "torch"):
            got = forward_backward(random_call(cell, dtype=dtype, **kw), engine)
            assert_close(got[0], want[0], tol[0])
            assert_close(got[1], want[1], tol[1])
        call = random_call(cell, batch=9, time=11, units=6, use_bias=False, **opts)
        assert_close(
            forward_backward(call, "torch")[1], forward_backward(call, "loop")[1], 1e-11
        )


@pytest.mark.parametrize(("cell", "opts"), CELLS, ids=CELL_IDS)
def test_inference_without_storage(cell: str, opts: dict) -> None:
    """Under no_grad the fused engine keeps no per-step storage and gives the same outputs."""
    call = random_call(cell, mask="post", return_sequences=True, **opts)
    with torch.no_grad():
        got = _outputs(run_recurrent(call, make_step(call), engine="fused"))
        want = _outputs(run_loop(call, make_step(call)))
    assert_close(got, want, 1e-12)
    assert not any(t.requires_grad for t in got)


def test_initial_state_gradient_in_stacked_use() -> None:
    """Two stacked LSTMs, the second started from the first's final states: all grads match."""

    def run(engine: str) -> list[torch.Tensor]:
        first = random_call("lstm", mask="pre", return_sequences=True, seed=7)
        r1 = run_fused(first) if engine == "fused" else run_loop(first, make_step(first))
        second = random_call("lstm", features=4, seed=8, return_sequences=True)
        second = dataclasses.replace(second, x=r1.outputs, states=r1.states, mask=first.mask)
        r2 = run_fused(second) if engine == "fused" else run_loop(second, make_step(second))
        loss = (r2.outputs**2).sum() + r2.states[1].sum()
        leaves = differentiable_inputs(first) + [second.kernel, second.recurrent_kernel]
        return list(torch.autograd.grad(loss, leaves))

    assert_close(run("fused"), run("loop"), 1e-11)


def test_denormal_flags_do_not_leak() -> None:
    call = random_call("lstm", dtype=torch.float32)
    run_fused(call)
    tiny = np.float32(1e-38) * np.float32(1e-3)
    assert tiny != 0.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kernel", torch.zeros(2, 3)),
        ("recurrent_kernel", torch.zeros(4, 4)),
        ("mask", torch.ones(5, 6, dtype=torch.bool)),
        ("recurrent_dropout_mask", torch.ones(5, 3)),
        ("states", (torch.zeros(5, 4),)),
    ],
)
def test_fused_rejects_bad_shapes(field: str, value: object) -> None:
    call = dataclasses.replace(random_call("lstm", dtype=torch.float32), **{field: value})
    with pytest.raises(ValueError, match="expected"):
        run_fused(call)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("cell", "opts"), CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("pool", ["openmp", "threads"])
def test_parallel_paths_agree(
    pool: str, cell: str, opts: dict, dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Torch's OpenMP pool (native region bodies) and the fallback thread pool give the
    single-thread results, forward and backward, for every kernel."""
    call = random_call(cell, batch=24, time=9, dtype=dtype, mask="post", **opts)
    want = forward_backward(call, "fused")
    monkeypatch.setattr(_runtime, "_MIN_PARALLEL_WORK", 0)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    if pool == "threads":  # the portable fallback (as with RNNKIT_PORTABLE=1): no libgomp
        monkeypatch.setattr(_omp, "_gomp", None)
    assert (_omp.gomp_parallel() is None) == (pool == "threads" or _omp.portable())
    got = forward_backward(call, "fused")
    assert_close(got[0], want[0], 0.0)
    assert_close(got[1], want[1], 1e-6)
