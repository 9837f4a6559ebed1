"""Masked calls run with their rows sorted by length, and the kernels' products stop at each
block's last real row (``kernels/_lengths``, ``_nb_gemm._gemm_real``): the same outputs and
states as the unsorted call, gradients to rounding."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from rnnkit.kernels import _fused, _lengths, _runtime

from .reference import assert_close, differentiable_inputs, forward_backward, random_call


def _mask(batch: int, time: int, side: str, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, time + 1, (batch,), generator=gen)
    lengths[0], lengths[1] = 0, time  # an empty row and a full one
    steps = torch.arange(time)
    if side == "right":
        return steps[None, :] < lengths[:, None]
    return steps[None, :] >= (time - lengths)[:, None]


def _run(call: object, run: object) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    res = run(call)  # type: ignore[operator]
    outs = [res.outputs, *res.states]
    gen = torch.Generator().manual_seed(1)
    loss = sum((o * torch.randn(o.shape, generator=gen, dtype=o.dtype)).sum() for o in outs)
    grads = torch.autograd.grad(loss, differentiable_inputs(call))  # type: ignore[arg-type]
    return [o.detach() for o in outs], list(grads)


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn", "indrnn"])
@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize(
    "opts",
    [
        {"return_sequences": True},
        {"return_sequences": False, "reset_after": False},
        {"return_sequences": True, "zero_output_for_mask": True, "go_backwards": True},
        {"return_sequences": False, "zero_output_for_mask": True},
    ],
)
@pytest.mark.parametrize("threads", [1, 3])
def test_sorted_rows_give_the_unsorted_call(
    cell: str, side: str, opts: dict, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_runtime, "_MIN_PARALLEL_WORK", 0)
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    opts = dict(opts)
    reset_after = opts.pop("reset_after", True)
    call = random_call(
        cell, batch=21, time=17, dropout=True, recurrent_dropout=True, reset_after=reset_after
    )
    call = dataclasses.replace(call, mask=_mask(21, 17, side), **opts)
    order = _lengths.length_order(call.mask, threads)
    assert order is not None and sorted(order.tolist()) == list(range(21))
    want = _run(call, _fused._run_whole)
    got = _run(call, _fused.run_fused)
    assert_close(got[0], want[0], 0.0)
    assert_close(got[1], want[1], 1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("reset_after", [True, False])
def test_padded_batches_match_the_reference_loop(cell: str, reset_after: bool) -> None:
    """Sorted rows, products over real rows only, the row products after the backward loop on
    the real rows: the reference loop's outputs and gradients."""
    call = random_call(cell, batch=21, time=17, recurrent_dropout=True, reset_after=reset_after)
    x = call.x.detach().transpose(0, 1).contiguous().transpose(0, 1)  # time-major, as stacked
    call = dataclasses.replace(
        call, x=x.requires_grad_(), mask=_mask(21, 17, "left"), return_sequences=True
    )
    assert float(call.mask.float().mean()) < _lengths.MAX_REAL_FRACTION
    want = forward_backward(call, "loop")
    got = forward_backward(call, "fused")
    assert_close(got[0], want[0], 1e-12)
    assert_close(got[1], want[1], 1e-10)


def test_masks_with_holes_or_little_padding_keep_their_order() -> None:
    holes = _mask(6, 10, "right")
    holes[3, 0] = False
    holes[3, 1:] = True
    holes[3, 5] = False
    assert _lengths.length_order(holes, 1) is None
    assert _lengths.length_order(torch.ones(4, 10, dtype=torch.bool), 1) is None


@pytest.mark.parametrize("side", ["right", "left"])
def test_each_thread_range_leads_with_its_real_rows(side: str) -> None:
    """After sorting, each step's real rows are a prefix of every thread's range of rows, and
    the ranges carry about the same real steps."""
    mask = _mask(64, 200, side, seed=3)
    order = _lengths.length_order(mask, 2)
    assert order is not None
    ranges = _runtime.split_rows(64, True, 2)
    sorted_mask = mask[order]
    for lo, hi in ranges:
        block = sorted_mask[lo:hi].int()
        assert bool((block[:-1] >= block[1:]).all())  # real rows first at every step
    work = [int(sorted_mask[lo:hi].sum()) for lo, hi in ranges]
    assert max(work) < 1.15 * min(work)


def test_row_runs_finds_each_rows_run_and_the_holes() -> None:
    gen = torch.Generator().manual_seed(3)
    for side in ("right", "left"):
        m = _mask(9, 13, side).numpy()
        first, last, contiguous, real = _lengths._row_runs(m)
        assert contiguous and real == int(m.sum())
        for b in range(9):
            steps = m[b].nonzero()[0]
            want = (steps[0], steps[-1] + 1) if len(steps) else (13, 0)  # empty row: (time, 0)
            assert (first[b], last[b]) == want
    holes = torch.rand(9, 13, generator=gen) < 0.5
    assert not _lengths._row_runs(holes.numpy())[2]
    assert _lengths.length_order(holes, 1) is None
