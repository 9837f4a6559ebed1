"""Compute that follows the true lengths: a masked call runs with its rows sorted by length.

A masked step computes nothing for its row (the states stay, the output is the previous one), and
the kernels' per-step products stop, per block of rows, at the block's last row with a real step
(``_nb_gemm._gemm_real``).
Where every row's real steps are one contiguous run (right- or left-padded
batches, any lengths) and the rows are sorted by their runs, a step's real rows are a prefix of
every block: the products then cost the batch's true row-steps, not its padded ones.

The rows are dealt to the row ranges a split call gives its threads (longest to the first range,
next to the second, ...; each range sorted), so that split calls stay balanced, and put back in
their order after the call. The products after the backward loop skip the rows of masked steps
(``FusedBackward.rows``). Exact: every row goes through the same kernel steps as in the unsorted
call (rows never mix in the kernels); the weight gradients sum the same terms in another order
(float rounding).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch
from numba import njit
from torch import Tensor

from ._api import RecurrentCall, RecurrentResult
from ._runtime import split_rows

#: Calls whose real row-steps are more than this fraction of the padded ones run unsorted.
MAX_REAL_FRACTION = 0.6


@njit(cache=True, nogil=True)
def _row_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool, int]:  # pragma: no cover
    """Per row the first real step and one past the last (rows with none: ``time``, 0), whether
    every row's real steps are one contiguous run, and the number of real steps. One pass (the
    NumPy form took some 15 array operations, 0.1-0.2 ms per masked call)."""
    batch, time = mask.shape
    first = np.full(batch, time, np.int64)
    last = np.zeros(batch, np.int64)
    contiguous = True
    real = 0
    for b in range(batch):
        runs = 0
        prev = False
        for t in range(time):
            m = mask[b, t]
            if m:
                real += 1
                if not prev:
                    runs += 1
                    if runs == 1:
                        first[b] = t
                last[b] = t + 1
            prev = m
        if runs > 1:
            contiguous = False
    return first, last, contiguous, real


def length_order(mask: Tensor, groups: int) -> Tensor | None:
    """The row order (int64) under which each step's real rows lead every group of rows, or None
    (holes in some row, or too little padding to gain). ``mask`` (batch, time) bool."""
    m = mask.numpy()
    batch, time = m.shape
    first, last, contiguous, real = _row_runs(m)
    if not contiguous or real > MAX_REAL_FRACTION * batch * time:
        return None
    # right-padded rows by end (latest first), left-padded by start (earliest first)
    ranked = np.lexsort((-last, first))
    order = _deal(ranked, [hi - lo for lo, hi in split_rows(batch, True, groups)])
    if np.array_equal(order, np.arange(batch)):
        return None
    return torch.from_numpy(order)


def real_rows(mask_tb: np.ndarray) -> Tensor | None:
    """The flat (time * batch) indices of the real steps of a time-major ``mask_tb`` (time,
    batch), or None where they are most of them (the products after the backward loop then run
    on every row)."""
    if mask_tb.mean() > MAX_REAL_FRACTION:
        return None
    return torch.from_numpy(np.flatnonzero(mask_tb))


def _deal(ranked: np.ndarray, sizes: list[int]) -> np.ndarray:
    """``ranked`` dealt round-robin into consecutive groups of ``sizes`` (each group keeps the
    ranking's order)."""
    if len(set(sizes)) == 1:
        return np.concatenate([ranked[g :: len(sizes)] for g in range(len(sizes))])
    groups: list[list[int]] = [[] for _ in sizes]
    g = 0
    for row in ranked.tolist():
        while len(groups[g]) == sizes[g]:
            g = (g + 1) % len(sizes)
        groups[g].append(row)
        g = (g + 1) % len(sizes)
    return np.concatenate([np.asarray(rows, np.int64) for rows in groups])


def _take_rows(t: Tensor, idx: Tensor) -> Tensor:
    """``t[idx]`` along the batch axis, keeping a time-major sequence time-major (the engines'
    sequence outputs are (batch, time, units) views of (time, batch, units) buffers: gathering
    along their batch axis copies whole rows)."""
    if t.dim() == 3 and not t.is_contiguous() and t.transpose(0, 1).is_contiguous():
        return t.transpose(0, 1).index_select(1, idx).transpose(0, 1)  # (batch, time, n)
    return t.index_select(0, idx)


def run_sorted(
    call: RecurrentCall, order: Tensor, run: Callable[[RecurrentCall], RecurrentResult]
) -> RecurrentResult:
    """``call`` run through ``run`` with its rows in ``order``; the results in the call's order."""

    def rows(t: Tensor | None) -> Tensor | None:
        return None if t is None else t.index_select(0, order)

    mask = call.mask
    sorted_call = dataclasses.replace(
        call,
        x=_take_rows(call.x, order),
        mask=rows(mask),
        states=tuple(s.index_select(0, order) for s in call.states),
        dropout_mask=rows(call.dropout_mask),
        recurrent_dropout_mask=rows(call.recurrent_dropout_mask),
    )
    res = run(sorted_call)
    back = torch.empty_like(order)
    back[order] = torch.arange(len(order))
    outputs = _take_rows(res.outputs, back)
    return RecurrentResult(outputs, tuple(s.index_select(0, back) for s in res.states), res.engine)
