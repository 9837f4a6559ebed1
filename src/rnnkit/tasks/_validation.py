"""Which training sequences judge early stopping: an honest validation part.

A validation part only judges a model fairly if nothing in it is (nearly) a copy of a
training sequence. Three ways, chosen by what :meth:`SequenceClassifier.fit` knows:

* ``groups`` given (subject, recording, patient...): whole groups go to the validation part,
  chosen so that every class keeps about its share (scikit-learn's ``StratifiedGroupKFold``
  greedy rule: each group joins the fold where the class proportions stay most even);
* no groups, but consecutive sequences are overlapping windows of one recording (sequence
  ``i + 1`` starts with a later part of sequence ``i``, as :func:`rnnkit.data.make_windows`
  cuts them): each chain of overlapping windows is a group (:func:`overlap_blocks`; long
  chains cut into contiguous pieces when there are few, :func:`split_blocks`), so the
  validation part holds whole contiguous blocks;
* otherwise a stratified random part (:func:`stratified_validation`).

:func:`group_folds` also gives the folds of the cross-validation that tiny training sets use
(each sequence its own group when none are given).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["CV_BELOW", "CV_FOLDS", "MAX_VALIDATION", "best_epoch", "check_groups",
           "group_folds", "overlap_blocks", "split_blocks", "stratified_validation",
           "validation_split"]

#: the most sequences a validation part holds
MAX_VALIDATION = 2000
#: training sets smaller than this are cross-validated (the classifier's "auto" validation)
CV_BELOW = 200
#: folds of that cross-validation
CV_FOLDS = 5


def best_epoch(val_loss: list[float], min_delta: float = 0.0) -> int:
    """The epoch (from 1) early stopping keeps: the last one whose validation loss fell
    more than ``min_delta`` below the best so far.

    >>> best_epoch([1.0, 0.5, 0.4995, 0.6], 1e-3)
    2
    """
    best, keep = float("inf"), 1
    for epoch, value in enumerate(val_loss, start=1):
        if value < best - min_delta:
            best, keep = value, epoch
    return keep


def stratified_validation(ids: NDArray[np.int64], fraction: float, rng: np.random.Generator,
                          minimum: int = 2) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Training and validation indices: ``fraction`` of each class (at least ``minimum``
    when the class has more than ``minimum`` samples, and never all of it), in all at most
    ``MAX_VALIDATION`` sequences. ``fraction == 0``: no validation part.

    >>> tr, va = stratified_validation(np.array([0] * 8 + [1] * 4), 0.2, np.random.default_rng(0))
    >>> np.bincount(ids := np.array([0] * 8 + [1] * 4)[va]).tolist(), len(tr)
    ([2, 2], 8)
    """
    if fraction <= 0:
        return np.arange(len(ids)), np.arange(0)
    share = min(fraction, MAX_VALIDATION / max(len(ids), 1))
    picked = []
    for c in np.unique(ids):
        idx = rng.permutation(np.flatnonzero(ids == c))
        want = max(round(share * len(idx)), min(minimum, len(idx) - 1))
        picked.append(idx[: min(want, len(idx) - 1)])
    va = np.sort(np.concatenate(picked)).astype(np.intp)
    tr = np.setdiff1d(np.arange(len(ids)), va).astype(np.intp)
    return tr, va


def check_groups(groups: Any, n: int) -> NDArray[Any]:
    """``groups`` as a 1-D array of ``n`` labels (any plain dtype), or a one-line error."""
    g = np.asarray(groups)
    if g.ndim != 1 or len(g) != n:
        raise ValueError(f"expected one group per sample ({n}), got groups of shape {g.shape}")
    if g.dtype.kind == "O":
        raise TypeError("expected groups of one plain dtype (numbers or strings), got an "
                        "object array")
    if g.dtype.kind == "f" and not np.isfinite(g).all():
        bad = int(np.flatnonzero(~np.isfinite(g))[0])
        raise ValueError(f"expected finite groups, got {g[bad]} at index {bad}")
    return g


def group_folds(ids: NDArray[np.int64], groups: NDArray[Any], k: int,
                rng: np.random.Generator) -> NDArray[np.intp]:
    """The fold (0..k-1) of each sample: whole groups per fold, class proportions as even
    across folds as the groups allow (StratifiedGroupKFold's greedy rule: groups in random
    order, those with the most uneven class counts first, each to the fold that keeps the
    per-class shares most even, ties to the smallest fold).

    >>> folds = group_folds(np.array([0, 0, 1, 1] * 3), np.repeat(np.arange(6), 2), 3,
    ...                     np.random.default_rng(0))
    >>> np.bincount(folds).tolist()
    [4, 4, 4]
    """
    names, g = np.unique(groups, return_inverse=True)
    n_classes = int(ids.max()) + 1
    counts = np.zeros((len(names), n_classes))  # (groups, classes)
    np.add.at(counts, (g, ids), 1.0)
    totals = np.maximum(counts.sum(axis=0), 1.0)  # (classes,)
    order = rng.permutation(len(names))
    order = order[np.argsort(-counts[order].std(axis=1), kind="stable")]
    folds = np.zeros((k, n_classes))  # (k, classes)
    fold_of = np.empty(len(names), dtype=np.intp)
    eye = np.eye(k)[:, :, None]  # (k, k, 1)
    for gi in order.tolist():
        trial = folds[None] + eye * counts[gi]  # (k, k, classes): group gi in fold f
        spread = (trial / totals).std(axis=1).mean(axis=1)  # (k,)
        best = np.lexsort((folds.sum(axis=1), np.round(spread, 12)))[0]
        folds[best] += counts[gi]
        fold_of[gi] = best
    return fold_of[g]


def overlap_blocks(values: NDArray[Any], lengths: NDArray[np.int64]) -> NDArray[np.int64] | None:
    """Block id of each sequence when consecutive sequences are overlapping windows
    (sequence ``i + 1`` begins with steps ``s:`` of sequence ``i``, at least 2 steps that are
    not all equal); ``None`` when no consecutive pair overlaps.

    >>> x = np.arange(10.0)[:, None]
    >>> w = np.stack([x[0:4], x[2:6], x[4:8], x[1:5] * 7])  # 3 overlapping, 1 apart
    >>> overlap_blocks(w, np.array([4, 4, 4, 4])).tolist()
    [0, 0, 0, 1]
    """
    n, steps = values.shape[0], values.shape[1]
    if n < 2 or steps < 3:
        return None
    # starts[i, s-1]: step s of sequence i equals the first step of sequence i + 1
    starts = (values[:-1, 1:] == values[1:, None, 0]).all(axis=-1)  # (n - 1, steps - 1)
    usable = np.arange(1, steps)[None, :] <= (lengths[:-1, None] - 2)  # overlap >= 2 steps
    linked = np.zeros(n - 1, dtype=bool)
    for i, s in zip(*np.nonzero(starts & usable), strict=True):
        i, s = int(i), int(s) + 1
        if linked[i]:
            continue
        span = int(lengths[i]) - s
        a, b = values[i, s : s + span], values[i + 1, :span]
        linked[i] = span <= lengths[i + 1] and bool((a == b).all()) and bool((a != a[0]).any())
    if not linked.any():
        return None
    return np.concatenate([[0], np.cumsum(~linked)]).astype(np.int64)


def split_blocks(blocks: NDArray[np.int64], minimum: int) -> NDArray[np.int64]:
    """``blocks`` (consecutive ids from 0, as :func:`overlap_blocks` gives) cut into
    contiguous pieces of ``len(blocks) // minimum`` sequences when there are fewer than
    ``minimum`` blocks (one long recording still gives a blocked validation part; only the
    windows at a cut overlap across it).

    >>> split_blocks(np.zeros(6, dtype=np.int64), 3).tolist()
    [0, 0, 1, 1, 2, 2]
    """
    if len(np.unique(blocks)) >= minimum:
        return blocks
    size = max(1, len(blocks) // minimum)
    starts = np.flatnonzero(np.diff(blocks, prepend=-1))  # first sequence of each block
    pieces = (np.arange(len(blocks)) - starts[blocks]) // size
    return np.unique(blocks * (len(blocks) + 1) + pieces, return_inverse=True)[1].astype(np.int64)


def validation_split(ids: NDArray[np.int64], fraction: float, rng: np.random.Generator,
                     groups: NDArray[Any] | None = None,
                     ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Training and validation indices: whole ``groups`` when given (about ``fraction`` of
    the samples, at most ``MAX_VALIDATION``; the fold of :func:`group_folds` whose size is
    nearest), else a stratified random part."""
    if groups is None or fraction <= 0:
        return stratified_validation(ids, fraction, rng)
    if len(np.unique(groups)) < 2:
        raise ValueError(f"expected at least 2 groups for a grouped validation part, got "
                         f"{len(np.unique(groups))}")
    share = min(fraction, MAX_VALIDATION / max(len(ids), 1))
    k = max(2, round(1.0 / share))
    folds = group_folds(ids, groups, k, rng)
    sizes = np.bincount(folds, minlength=k)
    pick = int(np.argmin(np.abs(sizes - share * len(ids))))
    va = np.flatnonzero(folds == pick).astype(np.intp)
    tr = np.flatnonzero(folds != pick).astype(np.intp)
    return tr, va
