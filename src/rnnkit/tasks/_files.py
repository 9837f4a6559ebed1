"""The files the tasks read (CSV series, labelled ``.npz``, sequences to predict) and the
CSV text they write. Arrays are read by :mod:`rnnkit.data` with their headers checked
before anything is allocated; nothing is unpickled."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import _bounded
from ..data import (
    read_csv,
    read_csv_frame,
    read_npy,
    read_npz_arrays,
    read_text,
    read_ts,
    to_padded,
    validate_arrays,
)
from ..errors import DataFileError

__all__ = ["check_csv_file", "csv_text", "read_labelled", "read_labelled_npz", "read_panel_csv",
           "read_sequences", "read_series_csv"]


def csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """CSV text (``\\n`` line ends) of a header and rows."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def read_labelled_npz(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """``X (samples, timesteps, features)`` and labels ``y`` of any plain dtype (numbers,
    strings, bools) from an ``.npz`` (headers and sizes checked before reading, object arrays
    refused). Raises :class:`rnnkit.errors.DataFileError` naming the file."""
    arrays = read_npz_arrays(path, ["X", "y"])
    X, y = arrays["X"], arrays["y"]
    try:
        x, _ = validate_arrays(X)
    except ValueError as err:
        raise DataFileError(str(err), path=os.fspath(path)) from None
    if y.ndim != 1 or len(y) != len(x):
        raise DataFileError(f"expected y of shape ({len(x)},) (one label per sample), got "
                            f"{y.shape}", path=os.fspath(path))
    return x, y


def _ragged(X: Any, lengths: Any = None) -> list[np.ndarray]:
    """Sequences as a list of float64 arrays ``(length_i, features)``, validated (lengths,
    NaN padding, finite real steps) by :func:`rnnkit.data.to_padded`."""
    padded = to_padded(X, lengths, dtype=np.float64)
    return [padded.values[i, :n] for i, n in enumerate(padded.lengths.tolist())]


def _npz_arrays(path: Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """The named arrays (those present of ``keys``) of an ``.npz`` and its member names
    (``_files``): sizes and headers checked before reading, object arrays refused."""
    arrays = read_npz_arrays(path)
    return {k: arrays[k] for k in keys if k in arrays} | {"_files": np.array(sorted(arrays))}


def _labelled_npz(path: Path) -> tuple[Any, np.ndarray]:
    arrays = _npz_arrays(path, ("X", "y", "lengths"))
    if "X" not in arrays or "y" not in arrays:
        raise ValueError(f"expected arrays 'X' and 'y' (and optionally 'lengths') in "
                         f"{os.fspath(path)!r}, got {arrays['_files'].tolist()}; save with "
                         "np.savez(path, X=X, y=y, lengths=lengths)")
    X, y = arrays["X"], arrays["y"]
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"expected y of shape ({len(X)},) (one label per sample), got "
                         f"{y.shape}")
    return _ragged(X, arrays.get("lengths")), y


def _labelled_ts(path: Path) -> tuple[Any, np.ndarray]:
    data = read_ts(path)
    return _ragged(data.X), data.y


_LABELLED = {".npz": _labelled_npz, ".ts": _labelled_ts}


def read_labelled(path: str | os.PathLike[str]) -> tuple[list[np.ndarray], np.ndarray]:
    """Labelled sequences for ``rnnkit classify``: an ``.npz`` with ``X`` (padded
    ``(samples, timesteps, features)``, NaN after each sequence or with ``lengths``) and
    ``y``, or a UEA/UCR ``.ts`` file. Returns the sequences as a list of arrays
    ``(length_i, features)`` and the labels."""
    p = Path(path)
    reader = _LABELLED.get(p.suffix.lower())
    if reader is None:
        raise ValueError(f"expected a .npz (X, y and optionally lengths) or a .ts (UEA/UCR) "
                         f"file, got {p.suffix or 'no suffix'!r} in {os.fspath(p)!r}")
    return reader(p)


def read_sequences(path: Path, text: bool) -> Any:
    """Sequences to classify: one text per non-empty line of a ``.txt`` (``text``), else
    ``X`` from an ``.npy``, the ``X`` (and ``lengths``) of an ``.npz``, or a ``.ts`` file
    (its labels are not used), as a list of arrays ``(length_i, features)``."""
    if text:
        return [line for line in read_text(path).splitlines() if line.strip()]
    if path.suffix == ".npy":
        return _ragged(read_npy(path))
    if path.suffix.lower() == ".ts":
        return _ragged(read_ts(path).X)
    if path.suffix.lower() != ".npz":
        raise ValueError(f"expected sequences in a .npz (X, optionally lengths), .npy or .ts "
                         f"file, got {path.suffix or 'no suffix'!r} in {os.fspath(path)!r}")
    arrays = _npz_arrays(path, ("X", "lengths"))
    if "X" not in arrays:
        raise ValueError(f"expected an array 'X' in {os.fspath(path)!r}, got "
                         f"{arrays['_files'].tolist()}")
    return _ragged(arrays["X"], arrays.get("lengths"))


def check_csv_file(path: str | os.PathLike[str]) -> None:
    """Refuse, saying what was expected, a file a forecaster cannot read as CSV text: an
    ``.npz``/``.npy``/``.ts`` file, or binary data (no ``UnicodeDecodeError`` from pandas)."""
    name = os.fspath(path)
    suffix = Path(name).suffix.lower()
    if suffix in (".npz", ".npy", ".ts"):
        raise ValueError(f"expected a CSV time series (columns of values, optionally a time "
                         f"column) for a forecaster, got a {suffix} file {name!r}")
    with _bounded.open_regular(path, lambda reason: DataFileError(reason, path=name)) as f:
        start = f.read(1 << 16)  # a FIFO or folder is refused at once
    try:
        start.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(start) - 4:  # not a multi-byte character cut at the block's end
            raise ValueError(f"expected a CSV text file for a forecaster, got binary data in "
                             f"{name!r} (byte {err.start} is not UTF-8 text)") from None


def read_panel_csv(path: str | os.PathLike[str], id_column: str | None,
                   time_column: str | None = None) -> pd.DataFrame:
    """A long CSV table of many series (or a table of covariate rows), read with bounded
    memory (:func:`rnnkit.data.read_csv_frame`): the id column stays text (``0017`` is not
    17), ``time_column`` is parsed as timestamps, numbers are float32, other text columns
    (categorical covariates) stay text. A binary file is refused with what was expected."""
    check_csv_file(path)
    ids = [] if id_column is None else [id_column]
    return read_csv_frame(path, time_column=time_column, text_columns=ids)


def read_series_csv(path: str | os.PathLike[str], time_column: str | None = None,
                    freq: str | None = None) -> pd.DataFrame:
    """A CSV time series; the time column is ``time_column`` or, by default, the first
    column when it holds dates (a DatetimeIndex then). A binary file (an ``.npz``, ``.npy``,
    anything that is not text) is refused with what was expected."""
    check_csv_file(path)
    if time_column is None:
        head = pd.read_csv(path, nrows=50)
        first = head.columns[0] if len(head.columns) else None
        if first is not None and not pd.api.types.is_numeric_dtype(head[first]):
            parsed = pd.to_datetime(head[first], errors="coerce", format="mixed")
            if parsed.notna().all():
                time_column = str(first)
    return read_csv(path, time_column=time_column, freq=freq)
