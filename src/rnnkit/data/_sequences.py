"""Variable-length sequences: Keras-style padding and boolean masks.

A padded batch has shape ``(batch, time)`` (token ids) or ``(batch, time, features)``; its
mask is a boolean array of shape ``(batch, time)`` that is ``True`` on real steps and
``False`` on padding, the form the recurrent layers accept as ``mask=``.
"""

from __future__ import annotations

import math
import numbers
import os
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


def _int_range(dtype: np.dtype[Any]) -> tuple[int, int]:
    """Smallest and largest value of an integer or bool dtype."""
    if dtype.kind == "b":
        return 0, 1
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def _fits(value: Any, dtype: np.dtype[Any]) -> bool:
    """Whether the number ``value`` converts to the integer/bool ``dtype`` unchanged (other
    values are left to numpy, which raises for them)."""
    lo, hi = _int_range(dtype)
    if isinstance(value, numbers.Integral):
        return lo <= int(value) <= hi
    if isinstance(value, numbers.Real):
        f = float(value)
        return math.isfinite(f) and f.is_integer() and lo <= f <= hi
    return True


def _check_fits(arr: NDArray[Any], dtype: np.dtype[Any], i: int) -> None:
    """Raise unless sequence ``i`` converts to the integer/bool ``dtype`` unchanged (numpy
    would silently wrap 300 to 44 in uint8 and truncate 1.5 to 1)."""
    if arr.dtype.kind == "O":
        bad = [v for v in arr.flat if not _fits(v, dtype)][:1]
    elif arr.dtype.kind in "iuf":
        with np.errstate(invalid="ignore", over="ignore"):
            changed = arr.astype(dtype) != arr
        bad = arr[changed][:1].tolist()
    else:
        return
    if not bad:
        return
    value = bad[0]
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral) and not (
        math.isfinite(value) and float(value).is_integer()
    ):
        raise ValueError(
            f"expected whole numbers for dtype {dtype}, got {value!r} in sequence {i}; "
            "pass dtype='float32'"
        )
    lo, hi = _int_range(dtype)
    raise ValueError(
        f"expected values in [{lo}, {hi}] for dtype {dtype}, got {value!r} in sequence {i}; "
        "pass a wider dtype, e.g. dtype='int64'"
    )


def _physical_memory() -> int | None:
    """Bytes of RAM, where the OS says (None elsewhere)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


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
        dtype: output dtype (default ``"int32"``, as Keras). Values (and a padding value)
            that an integer or bool dtype cannot hold, non-integers or out of its range,
            raise instead of being silently truncated or wrapped.
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
    if out_dtype.kind in "iub" and not _fits(value, out_dtype):
        lo, hi = _int_range(out_dtype)
        raise ValueError(
            f"expected a padding value that dtype {out_dtype} holds (a whole number in "
            f"[{lo}, {hi}]), got {value!r}"
        )
    shape = (len(sequences), maxlen) + sample_shape
    nbytes = math.prod(shape) * out_dtype.itemsize
    memory = _physical_memory()
    if memory is not None and nbytes > memory:
        raise ValueError(
            f"expected an output that fits in memory ({memory / 2**30:.1f} GiB), got shape "
            f"{shape} of {out_dtype} ({nbytes / 2**30:.1f} GiB); pass a smaller maxlen"
        )
    try:
        x = np.full(shape, value, dtype=out_dtype)
    except MemoryError:
        raise ValueError(
            f"expected an output that fits in memory, got shape {shape} of {out_dtype} "
            f"({nbytes / 2**30:.1f} GiB); pass a smaller maxlen"
        ) from None
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
        if out_dtype.kind in "iub":
            _check_fits(arr, out_dtype, i)
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
