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
* Readers: :func:`read_csv`, :func:`read_csv_frame` (a table, e.g. long panels with an id
  column), :func:`validate_series`, :func:`read_npy`, :func:`read_npz`, :func:`validate_arrays`,
  :func:`read_ts` (UEA/UCR ``.ts``).
* Panels (many series, one global model): :func:`make_panel` -> :class:`Panel` (flat
  per-series arrays with past/future/static covariates, validated), :func:`window_index`
  (windows as ``(series, start)`` index arrays, never crossing series) and :func:`gather`
  (a batch's rows), :func:`last_windows` (inputs of the next forecast), :class:`PanelScaler`
  (per series, on its own training rows), :func:`split_points`, :func:`rolling_origins`,
  :func:`future_covariates`, :func:`horizon_times`.
* Time index: :func:`infer_frequency` (month lengths, quarters, business days),
  :func:`seasonal_period`, :func:`future_times`, :func:`calendar_features`,
  :func:`default_calendar`.
* Bundled real datasets: :class:`Dataset` and ``load_*`` (also as :mod:`rnnkit.datasets`).

>>> import numpy as np
>>> from rnnkit.data import make_windows
>>> make_windows(np.arange(6.0), window=3)[1].tolist()
[3.0, 4.0, 5.0]
"""

from __future__ import annotations

from ._bundle import bundled_files
from ._calendar import (
    calendar_features,
    default_calendar,
    future_times,
    infer_frequency,
    seasonal_period,
)
from ._chars import UNK_CHAR, CharVocab, next_char_pairs
from ._csv import read_csv, read_csv_frame
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
from ._files import read_npz_arrays, read_text
from ._panel import Panel
from ._panel_datasets import load_aus_accommodation, load_us_employment, load_victoria_demand
from ._panel_future import future_covariates, horizon_times
from ._panel_input import make_panel
from ._panel_scaling import PanelScaler
from ._panel_windows import (
    Origins,
    PanelSplit,
    WindowBatch,
    WindowIndex,
    gather,
    last_windows,
    rolling_origins,
    split_points,
    window_index,
)
from ._ragged import Padded, length_buckets, to_padded
from ._readers import read_npy, read_npz, validate_arrays, validate_series
from ._scaling import MinMaxScaler, StandardScaler, scaler_from_dict, scaler_from_json
from ._sequences import lengths_from_mask, mask_from_lengths, mask_from_padded, pad_sequences
from ._splits import SeriesSplit, WindowSplit, chronological_split, windowed_split
from ._ts import TsData, parse_ts, read_ts
from ._windows import make_windows, n_windows
from ._words import WordTokenizer

__all__ = [
    "read_npz_arrays",
    "read_text",
    "CharVocab",
    "Dataset",
    "MinMaxScaler",
    "Origins",
    "Padded",
    "Panel",
    "PanelScaler",
    "PanelSplit",
    "SeriesSplit",
    "StandardScaler",
    "TsData",
    "UNK_CHAR",
    "WindowBatch",
    "WindowIndex",
    "WindowSplit",
    "WordTokenizer",
    "bundled_files",
    "calendar_features",
    "chronological_split",
    "default_calendar",
    "future_covariates",
    "future_times",
    "gather",
    "horizon_times",
    "infer_frequency",
    "last_windows",
    "length_buckets",
    "lengths_from_mask",
    "load_activity",
    "load_aus_accommodation",
    "load_basic_motions",
    "load_digits",
    "load_electricity",
    "load_prices",
    "load_sentiment",
    "load_shakespeare",
    "load_temperature",
    "load_us_employment",
    "load_victoria_demand",
    "make_panel",
    "make_windows",
    "mask_from_lengths",
    "mask_from_padded",
    "n_windows",
    "next_char_pairs",
    "pad_sequences",
    "parse_ts",
    "read_csv",
    "read_csv_frame",
    "read_npy",
    "read_npz",
    "read_ts",
    "rolling_origins",
    "scaler_from_dict",
    "scaler_from_json",
    "seasonal_period",
    "split_points",
    "to_padded",
    "validate_arrays",
    "validate_series",
    "window_index",
    "windowed_split",
]
