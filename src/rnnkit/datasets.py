"""Real datasets bundled with rnnkit (no network): a thin re-export of :mod:`rnnkit.data`.

============================  ===========================================================
loader                        returns
============================  ===========================================================
``load_activity()``           Dataset: X float32 (1149, 200, 3) accelerometer, 7 classes
``load_electricity()``        DataFrame (84, 1) daily ``load_gwh`` (or half-hourly)
``load_temperature()``        DataFrame (1461, 4) Seattle daily weather
``load_digits()``             Dataset: X float32 (1797, 8, 8) in 0..1, 10 classes
``load_shakespeare()``        str, 1,036,496 characters of eight plays
``load_prices()``             DataFrame (7983, 5) MSFT daily OHLCV
``load_sentiment()``          Dataset: 10,568 movie-review snippets, binary labels
``load_basic_motions()``      Dataset: X float32 (80, 100, 6) UEA BasicMotions, 4 classes
``load_us_employment()``      long DataFrame: 148 monthly US employment series (panel)
``load_aus_accommodation()``  long DataFrame: 8 quarterly series by state, with CPI
``load_victoria_demand()``    DataFrame (17520, 3) half-hourly load, workday, temperature
============================  ===========================================================

Provenance, licences and checksums: DATASETS.md.

>>> import rnnkit.datasets
>>> rnnkit.datasets.load_digits().X.shape
(1797, 8, 8)
"""

from __future__ import annotations

from rnnkit.data._datasets import (
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
from rnnkit.data._panel_datasets import (
    load_aus_accommodation,
    load_us_employment,
    load_victoria_demand,
)

__all__ = [
    "Dataset",
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
]
