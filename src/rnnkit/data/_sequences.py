"""Variable-length sequences: Keras-style padding and boolean masks.

A padded batch has shape ``(batch, time)`` (token ids) or ``(batch, time, features)``; its
mask is a boolean array of shape ``(batch, time)`` that is ``True`` on real steps and
``False`` on padding, the form the recurrent layers accept as ``mask=``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ._checks import check_int

__all__ = ["lengths_from_mask", "mask_from_lengths", "mask_from_padded", "pad_sequences"]

Side = Literal["pre", "post"]


def _check_side(value: Any, name: str) -> Side:
    if value not in ("pre", "post"):
        raise ValueError(f"expected {name} to be 'pre' or 'post', got {value!r}")
    return value  # type: ignore[no-any-return]


def pad_sequences(
    sequences: Sequence[Any],
    maxlen: int | None = None,
    dtype: DTypeLike = "int32",
    padding: Side = "pre",
    truncating: Side = "pre",
    value: float = 0.0,
) -> NDArray[Any]:
    """Pad (and truncate) sequences to one length, as ``keras.utils.pad_sequences``.

    Args:
        sequences: list of sequences; each is a list/array of scalars (token ids) or of
            equally shaped samples (e.g. ``(len_i, features)``).
        maxlen: output length; default: the longest sequence.
        dtype: output dtype (default ``"int32"``, as Keras). Casting non-integer values to
            an integer dtype raises instead of silently truncating them.
        padding: ``"pre"`` (default) pads at the start, ``"post"`` at the end.
        truncating: ``"pre"`` drops steps from the start of long sequences, ``"post"`` from
            the end.
        value: the padding value.

    Returns:
        Array of shape ``(len(sequences), maxlen) + sample_shape``.

    >>> pad_sequences([[1, 2, 3], [4]]).tolist()
    [[1, 2, 3], [0, 0, 4]]
    >>> pad_sequences([[1, 2, 3], [4]], maxlen=2, padding="post", truncating="post").tolist()
    [[1, 2], [4, 0]]
    """
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise ValueError(f"expected a list of sequences, got {type(sequences).__name__}")
    padding = _check_side(padding, "padding")
    truncating = _check_side(truncating, "truncating")
    lengths: list[int] = []
    sample_shape: tuple[int, ...] = ()
    found = False
    for i, s in enumerate(sequences):
        try:
            lengths.append(len(s))
        except TypeError:
            raise ValueError(
                f"expected every item to be a sequence, got {type(s).__name__} at index {i}"
            ) from None
        if not found and len(s):
            sample_shape = np.asarray(s).shape[1:]
            found = True
    if maxlen is None:
        maxlen = max(lengths, default=0)
    else:
        maxlen = check_int(maxlen, "maxlen", 0)
    out_dtype = np.dtype(dtype)
    if isinstance(value, str) and out_dtype.kind not in "OUS":
        raise ValueError(
            f"expected a numeric padding value for dtype {out_dtype}, got {value!r}"
        )
    x = np.full((len(sequences), maxlen) + sample_shape, value, dtype=out_dtype)
    if maxlen == 0:
        return x
    for i, s in enumerate(sequences):
        if not len(s):
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        arr = np.asarray(trunc)
        if arr.shape[1:] != sample_shape:
            raise ValueError(
                f"expected every sample to have shape {sample_shape}, got {arr.shape[1:]} "
                f"in sequence {i}"
            )
        if out_dtype.kind in "iub" and arr.dtype.kind == "f":
            cast = arr.astype(out_dtype)
            if not np.array_equal(cast, arr):
                raise ValueError(
                    f"expected whole numbers for dtype {out_dtype}, got non-integer values in "
                    f"sequence {i}; pass dtype='float32'"
                )
        if padding == "post":
            x[i, : len(arr)] = arr
        else:
            x[i, -len(arr) :] = arr
    return x


def mask_from_lengths(
    lengths: ArrayLike, maxlen: int | None = None, padding: Side = "post"
) -> NDArray[np.bool_]:
    """Boolean mask ``(batch, maxlen)``: ``True`` on the first (``"post"`` padding) or last
    (``"pre"`` padding) ``lengths[i]`` steps of row ``i``.

    ``maxlen`` defaults to ``max(lengths)``; a length above ``maxlen`` raises (cap the
    lengths with ``np.minimum(lengths, maxlen)`` if the sequences were truncated).

    >>> mask_from_lengths([3, 1], padding="post").astype(int).tolist()
    [[1, 1, 1], [1, 0, 0]]
    >>> mask_from_lengths([3, 1], padding="pre").astype(int).tolist()
    [[1, 1, 1], [0, 0, 1]]
    """
    padding = _check_side(padding, "padding")
    arr = np.asarray(lengths)
    if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(
            f"expected a 1-D array of integer lengths, got shape {arr.shape} dtype {arr.dtype}"
        )
    if arr.size and arr.min() < 0:
        raise ValueError(f"expected lengths >= 0, got {int(arr.min())}")
    top = int(arr.max()) if arr.size else 0
    maxlen = top if maxlen is None else check_int(maxlen, "maxlen", 0)
    if top > maxlen:
        raise ValueError(
            f"expected lengths <= maxlen={maxlen}, got {top}; cap them with "
            "np.minimum(lengths, maxlen) if the sequences were truncated"
        )
    steps = np.arange(maxlen)[None, :]  # (1, maxlen)
    if padding == "post":
        return steps < arr[:, None]  # (batch, maxlen)
    return steps >= (maxlen - arr)[:, None]  # (batch, maxlen)


def lengths_from_mask(mask: ArrayLike) -> NDArray[np.int64]:
    """Number of real (``True``) steps per row of a ``(batch, time)`` mask.

    >>> lengths_from_mask([[True, True, False], [False, False, True]]).tolist()
    [2, 1]
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"expected a mask of shape (batch, time), got shape {m.shape}")
    if m.dtype != np.bool_:
        if not (np.issubdtype(m.dtype, np.integer) and np.isin(m, (0, 1)).all()):
            raise ValueError(f"expected a boolean (or 0/1) mask, got dtype {m.dtype}")
        m = m.astype(bool)
    counts: NDArray[np.int64] = m.sum(axis=1, dtype=np.int64)  # (batch,)
    return counts


def mask_from_padded(padded: ArrayLike, value: float = 0.0) -> NDArray[np.bool_]:
    """Mask of a padded batch, as Keras ``Masking``/``Embedding(mask_zero=True)`` compute it.

    For ``(batch, time)`` ids a step is real when ``x != value``; for
    ``(batch, time, features)`` when any feature differs from ``value``. A ``value`` of NaN
    matches NaN entries.

    >>> mask_from_padded([[0, 0, 5, 7]]).astype(int).tolist()
    [[0, 0, 1, 1]]
    >>> mask_from_padded(np.array([[[0.0, 0.0], [0.0, 1.0]]])).tolist()
    [[False, True]]
    """
    x = np.asarray(padded)
    if x.ndim not in (2, 3):
        raise ValueError(
            f"expected shape (batch, time) or (batch, time, features), got shape {x.shape}"
        )
    if isinstance(value, float) and np.isnan(value):
        differs = ~np.isnan(x)
    else:
        differs = x != value
    mask: NDArray[np.bool_] = differs if x.ndim == 2 else differs.any(axis=-1)  # (batch, time)
    return mask
