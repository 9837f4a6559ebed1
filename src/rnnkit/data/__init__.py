"""Data preparation for recurrent networks: windows, splits, scaling, padding, text, readers.

Imports nothing else of rnnkit (only numpy, pandas and the standard library).

* Windows: :func:`make_windows` (zero-copy sliding windows and their targets),
  :func:`n_windows`.
* Splits and scaling: :func:`chronological_split`, :func:`windowed_split`,
  :class:`StandardScaler`, :class:`MinMaxScaler` (JSON round trip), :func:`scaler_from_dict`,
  :func:`scaler_from_json`.
* Variable length: :func:`pad_sequences` (Keras semantics), :func:`mask_from_lengths`,
  :func:`lengths_from_mask`, :func:`mask_from_padded`; :func:`to_padded` (ragged lists,
  padded arrays with lengths or NaN padding -> :class:`Padded`), :func:`length_buckets`.
* Text: :class:`CharVocab`, :func:`next_char_pairs`, :class:`WordTokenizer`.
* Readers: :func:`read_csv`, :func:`validate_series`, :func:`read_npy`, :func:`read_npz`,
  :func:`validate_arrays`, :func:`read_ts` (UEA/UCR ``.ts``).
* Bundled real datasets: :class:`Dataset` and ``load_*`` (also as :mod:`rnnkit.datasets`).

>>> import numpy as np
>>> from rnnkit.data import make_windows
>>> make_windows(np.arange(6.0), window=3)[1].tolist()
[3.0, 4.0, 5.0]
"""

from __future__ import annotations

from ._bundle import bundled_files
from ._chars import UNK_CHAR, CharVocab, next_char_pairs
from ._datasets import (
    Dataset,
    load_activity,
    load_basic_motions,
    load_digits,
    load_electricity,
    load_prices,
    load_sentiment,
    load_shakespeare,
    load_temperature,
)
from ._ragged import Padded, length_buckets, to_padded
from ._readers import read_csv, read_npy, read_npz, validate_arrays, validate_series
from ._scaling import MinMaxScaler, StandardScaler, scaler_from_dict, scaler_from_json
from ._sequences import lengths_from_mask, mask_from_lengths, mask_from_padded, pad_sequences
from ._splits import SeriesSplit, WindowSplit, chronological_split, windowed_split
from ._ts import TsData, parse_ts, read_ts
from ._windows import make_windows, n_windows
from ._words import WordTokenizer

__all__ = [
    "UNK_CHAR",
    "CharVocab",
    "Dataset",
    "MinMaxScaler",
    "Padded",
    "SeriesSplit",
    "StandardScaler",
    "TsData",
    "WindowSplit",
    "WordTokenizer",
    "bundled_files",
    "chronological_split",
    "length_buckets",
    "lengths_from_mask",
    "load_activity",
    "load_basic_motions",
    "load_digits",
    "load_electricity",
    "load_prices",
    "load_sentiment",
    "load_shakespeare",
    "load_temperature",
    "make_windows",
    "mask_from_lengths",
    "mask_from_padded",
    "n_windows",
    "next_char_pairs",
    "pad_sequences",
    "parse_ts",
    "read_csv",
    "read_npy",
    "read_npz",
    "read_ts",
    "scaler_from_dict",
    "scaler_from_json",
    "to_padded",
    "validate_arrays",
    "validate_series",
    "windowed_split",
]
