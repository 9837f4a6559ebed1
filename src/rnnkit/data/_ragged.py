"""Sequences of different lengths as one padded array, their lengths and masks, and batches
bucketed by length.

Three forms of variable-length numeric input are accepted, and all become a :class:`Padded`
(zeros after each sequence's real steps, ``post`` padding):

* a list of arrays ``(length_i, features)``;
* a padded array ``(samples, timesteps, features)`` with ``lengths`` (the values after each
  length are ignored, whatever they are);
* a NaN-padded float array: the trailing steps that are NaN in every feature are padding.

Nothing is dropped, truncated or filled in silently: an empty sequence, a NaN inside a
sequence or a length beyond the array is an error that counts the sequences concerned and
names them by index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import check_int

__all__ = ["Padded", "length_buckets", "to_padded"]

_SHOWN = 10  # indices named in an error


def _named(indices: NDArray[Any]) -> str:
    shown = ", ".join(str(int(i)) for i in indices[:_SHOWN])
    more = f", ... ({len(indices) - _SHOWN} more)" if len(indices) > _SHOWN else ""
    return f"{len(indices)} sequence(s), index {shown}{more}"


@dataclass(frozen=True, eq=False)
class Padded:
    """Variable-length sequences as one array.

    Attributes:
        values: float ``(samples, timesteps, features)``; zeros after each real part.
        lengths: int64 ``(samples,)``, each >= 1.

    >>> p = to_padded([np.ones((3, 2)), np.ones((1, 2))])
    >>> p.values.shape, p.lengths.tolist(), p.mask.astype(int).tolist()
    ((2, 3, 2), [3, 1], [[1, 1, 1], [1, 0, 0]])
    """

    values: NDArray[np.floating[Any]]
    lengths: NDArray[np.int64]

    @property
    def mask(self) -> NDArray[np.bool_]:
        """``(samples, timesteps)``: ``True`` on real steps.

        >>> to_padded(np.zeros((1, 2, 1)), lengths=[1]).mask.tolist()
        [[True, False]]
        """
        steps = np.arange(self.values.shape[1])[None, :]  # (1, T)
        return steps < self.lengths[:, None]  # (samples, T)

    def __len__(self) -> int:
        return len(self.lengths)


def _check_finite_real(values: NDArray[Any], lengths: NDArray[np.int64]) -> None:
    real = np.arange(values.shape[1])[None, :] < lengths[:, None]  # (n, T)
    bad = real & ~np.isfinite(values).all(axis=-1)  # (n, T)
    rows = np.flatnonzero(bad.any(axis=1))
    if rows.size:
        s = int(rows[0])
        t = int(np.flatnonzero(bad[s])[0])
        raise ValueError(
            f"expected finite values on the real steps, got {values[s, t].tolist()} at step "
            f"{t} of sequence {s}: {_named(rows)}; fill or drop missing values first (NaN "
            "counts as padding only in trailing steps that are NaN in every feature)"
        )


def _check_empty(lengths: NDArray[np.int64]) -> None:
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        raise ValueError(f"expected at least one real step per sequence, got empty "
                         f"{_named(empty)}; remove them first")


def _from_list(sequences: Sequence[Any], dtype: Any) -> Padded:
    arrays = []
    for i, s in enumerate(sequences):
        a = np.asarray(s)
        if a.dtype.kind not in "biuf" or a.ndim != 2:
            hint = "; for one feature use x[:, None]" if a.ndim == 1 else ""
            raise ValueError(f"expected every sequence as a numeric array (length, features), "
                             f"got shape {a.shape} dtype {a.dtype} at index {i}{hint}")
        arrays.append(a)
    if not arrays:
        raise ValueError("expected at least one sequence, got an empty list")
    widths = {a.shape[1] for a in arrays}
    if len(widths) > 1:
        first = arrays[0].shape[1]
        odd = np.flatnonzero([a.shape[1] != first for a in arrays])
        raise ValueError(f"expected every sequence to have {first} feature(s) (as index 0), "
                         f"got {arrays[int(odd[0])].shape[1]} in {_named(odd)}")
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    _check_empty(lengths)
    out = np.zeros((len(arrays), int(lengths.max()), widths.pop()), dtype=dtype)  # (n, T, F)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    _check_finite_real(out, lengths)
    return Padded(out, lengths)


def _nan_lengths(x: NDArray[Any]) -> NDArray[np.int64]:
    """Real steps per sample: up to the trailing block of all-NaN steps."""
    filled = ~np.isnan(x).all(axis=-1)  # (n, T): a step with any value
    last = x.shape[1] - np.argmax(filled[:, ::-1], axis=1)  # one past the last such step
    return np.where(filled.any(axis=1), last, 0).astype(np.int64)


def _check_lengths(lengths: ArrayLike, n: int, timesteps: int) -> NDArray[np.int64]:
    arr = np.asarray(lengths)
    if arr.shape != (n,) or arr.dtype.kind not in "iu":
        raise ValueError(f"expected lengths as {n} integers (one per sample), got shape "
                         f"{arr.shape} dtype {arr.dtype}")
    out = arr.astype(np.int64)
    over = np.flatnonzero((out > timesteps) | (out < 0))
    if over.size:
        raise ValueError(f"expected lengths in [1, {timesteps}] (the array's timesteps), got "
                         f"{int(out[over[0]])} for {_named(over)}")
    return out


def to_padded(X: Any, lengths: ArrayLike | None = None, *, dtype: Any = np.float32) -> Padded:
    """Variable-length numeric sequences as a :class:`Padded` (zeros after the real steps).

    Args:
        X: a list of arrays ``(length_i, features)``; or an array ``(samples, timesteps,
            features)``, padded after each sequence, with ``lengths``; or such an array whose
            padding is NaN (trailing steps that are NaN in every feature); or an array of
            full-length sequences (no NaN, no ``lengths``).
        lengths: real steps per sample, for a padded array.
        dtype: float dtype of the values.

    Raises ``ValueError`` for an empty sequence, a NaN or Inf on a real step (a NaN in only
    some features counts as missing, not padding), lengths beyond the array, sequences of
    different feature counts; the error counts the sequences and names them by index.

    >>> p = to_padded(np.array([[[1.0], [2.0], [np.nan]], [[3.0], [np.nan], [np.nan]]]))
    >>> p.lengths.tolist(), p.values[..., 0].tolist()
    ([2, 1], [[1.0, 2.0, 0.0], [3.0, 0.0, 0.0]])
    >>> to_padded(np.ones((2, 4, 1)), lengths=[4, 2]).values[1, :, 0].tolist()
    [1.0, 1.0, 0.0, 0.0]
    >>> to_padded([np.ones((2, 1)), np.ones((0, 1))])
    Traceback (most recent call last):
    ValueError: expected at least one real step per sequence, got empty 1 sequence(s), \
index 1; remove them first
    """
    if isinstance(X, (list, tuple)):
        if lengths is not None:
            raise ValueError("expected lengths only with a padded array, got a list of "
                             "sequences (their lengths are known)")
        return _from_list(X, dtype)
    x = np.asarray(X)
    if x.dtype.kind not in "biuf" or x.ndim != 3:
        hint = "; for a single feature use X[..., None]" if x.ndim == 2 else ""
        raise ValueError(f"expected X as a list of (length, features) arrays or an array "
                         f"(samples, timesteps, features), got shape {x.shape} dtype "
                         f"{x.dtype}{hint}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"expected at least one sample and one step, got shape {x.shape}")
    if lengths is None:
        found = _nan_lengths(x) if x.dtype.kind == "f" else np.full(len(x), x.shape[1])
    else:
        found = _check_lengths(lengths, len(x), x.shape[1])
    _check_empty(found)
    _check_finite_real(x, found)
    real = np.arange(x.shape[1])[None, :] < found[:, None]  # (n, T)
    values = np.where(real[..., None], x, 0).astype(dtype, copy=False)  # (n, T, F)
    return Padded(values, found.astype(np.int64))


def length_buckets(
    lengths: ArrayLike, batch_size: int, rng: np.random.Generator | int | None = None,
    pool: int = 32,
) -> list[NDArray[np.intp]]:
    """Batches of sample indices whose sequences have similar lengths, in random order.

    The samples are shuffled, cut into pools of ``pool * batch_size``, each pool sorted by
    length and cut into batches; then the batches are shuffled. Every index appears once.
    Trimming each batch to its longest sequence then makes the work follow the true lengths.

    >>> batches = length_buckets([5, 1, 4, 2, 5, 1], batch_size=2, rng=0)
    >>> sorted(sorted(int(v) for v in b) for b in batches)
    [[0, 4], [1, 5], [2, 3]]
    """
    lens = np.asarray(lengths)
    if lens.ndim != 1 or lens.dtype.kind not in "iu":
        raise ValueError(f"expected lengths as a 1-D integer array, got shape {lens.shape} "
                         f"dtype {lens.dtype}")
    size = check_int(batch_size, "batch_size", 1)
    pool_size = size * check_int(pool, "pool", 1)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    order = gen.permutation(len(lens))
    batches: list[NDArray[np.intp]] = []
    for start in range(0, len(order), pool_size):
        chunk = order[start : start + pool_size]
        chunk = chunk[np.argsort(lens[chunk], kind="stable")]
        batches += [chunk[i : i + size] for i in range(0, len(chunk), size)]
    return [batches[i] for i in gen.permutation(len(batches))]
