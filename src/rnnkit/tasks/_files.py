"""The files the tasks read (CSV series, labelled ``.npz``, sequences to predict) and the
CSV text they write. Arrays are read with ``allow_pickle=False``: nothing is unpickled."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data import read_csv, read_npy, validate_arrays

__all__ = ["csv_text", "read_labelled_npz", "read_sequences", "read_series_csv"]


def csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """CSV text (``\\n`` line ends) of a header and rows."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def read_labelled_npz(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """``X (samples, timesteps, features)`` and labels ``y`` of any plain dtype (numbers,
    strings, bools) from an ``.npz`` (read with ``allow_pickle=False``)."""
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise ValueError(f"expected plain arrays in {os.fspath(path)!r}, got a pickled "
                             "(object) array; rnnkit never unpickles files") from None
        raise
    if isinstance(archive, np.ndarray):
        raise ValueError(f"expected an .npz archive with X and y in {os.fspath(path)!r}, "
                         "got a single .npy array")
    with archive:
        if "X" not in archive.files or "y" not in archive.files:
            raise ValueError(f"expected arrays 'X' and 'y' in {os.fspath(path)!r}, got "
                             f"{archive.files}; save with np.savez(path, X=X, y=y)")
        try:
            X, y = archive["X"], archive["y"]
        except ValueError as err:
            if "allow_pickle" in str(err):
                raise ValueError(f"expected plain arrays in {os.fspath(path)!r}, got a pickled "
                                 "(object) array; save strings as a fixed-width str array, "
                                 "e.g. y.astype(str)") from None
            raise
    x, _ = validate_arrays(X)
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"expected y of shape ({len(x)},) (one label per sample), got "
                         f"{y.shape}")
    return x, y


def read_sequences(path: Path, text: bool) -> Any:
    """Sequences to classify: one text per non-empty line of a ``.txt`` (``text``), else
    ``X`` from an ``.npy`` or from the array ``X`` of an ``.npz``."""
    if text:
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if path.suffix == ".npy":
        return read_npy(path)
    with np.load(path, allow_pickle=False) as z:
        if "X" not in z.files:
            raise ValueError(f"expected an array 'X' in {os.fspath(path)!r}, got {z.files}")
        return z["X"]


def read_series_csv(path: str | os.PathLike[str], time_column: str | None = None,
                    freq: str | None = None) -> pd.DataFrame:
    """A CSV time series; the time column is ``time_column`` or, by default, the first
    column when it holds dates (a DatetimeIndex then)."""
    if time_column is None:
        head = pd.read_csv(path, nrows=50)
        first = head.columns[0] if len(head.columns) else None
        if first is not None and not pd.api.types.is_numeric_dtype(head[first]):
            parsed = pd.to_datetime(head[first], errors="coerce", format="mixed")
            if parsed.notna().all():
                time_column = str(first)
    return read_csv(path, time_column=time_column, freq=freq)
