"""Panels: input forms, one-line errors naming series and timestamp, windows that never
cross series, per-series scaling on training rows, splits and future covariates."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from rnnkit.data import (
    Panel,
    PanelScaler,
    WindowIndex,
    future_covariates,
    gather,
    horizon_times,
    last_windows,
    make_panel,
    rolling_origins,
    split_points,
    window_index,
)


def long_table(seed: int = 0) -> pd.DataFrame:
    """Three monthly series of different lengths and starts, interleaved rows."""
    rng = np.random.default_rng(seed)
    parts = []
    for sid, start, n in (("north", "2019-01-01", 30), ("south", "2020-03-01", 17),
                          ("east", "2018-07-01", 41)):
        month = pd.date_range(start, periods=n, freq="MS")
        parts.append(pd.DataFrame({
            "store": sid, "month": month, "sales": rng.normal(100, 10, n).round(2),
            "price": rng.normal(5, 1, n).round(2), "promo": rng.integers(0, 2, n),
            "region": sid[0].upper(), "size": {"north": 3.0, "south": 1.0, "east": 2.0}[sid],
        }))
    return pd.concat(parts).sample(frac=1.0, random_state=seed).reset_index(drop=True)


ROLES = {"past_covariates": ["price"], "future_covariates": ["promo"],
         "static_covariates": ["region", "size"]}


def test_long_multiindex_and_dict_give_the_same_panel() -> None:
    table = long_table()
    p = make_panel(table, "sales", id_column="store", time_column="month", **ROLES)
    assert set(p.ids) == {"north", "south", "east"}
    assert dict(zip(p.ids, p.lengths.tolist(), strict=True)) == {"north": 30, "south": 17,
                                                                 "east": 41}
    assert p.freq.freqstr == "MS"
    north = table[table.store == "north"].sort_values("month")
    assert p.values_of("north").tolist() == north["sales"].tolist()
    assert list(p.times_of("north")) == list(north["month"])
    assert p.static_names == ("size",) and p.categorical_names == ("region",)
    assert p.static[p.position("south"), 0] == 1.0
    assert p.categories["region"][p.static_codes[p.position("east"), 0]] == "E"

    multi = table.set_index(["store", "month"])
    q = make_panel(multi, "sales", **ROLES)
    by_dict = {k: g.drop(columns="store").set_index("month") for k, g in table.groupby("store")}
    r = make_panel(by_dict, "sales", **ROLES)
    columns = {k: g.drop(columns="store") for k, g in table.groupby("store")}
    c = make_panel(columns, "sales", time_column="month", **ROLES)
    for other in (q, r, c):
        for sid in p.ids:
            np.testing.assert_array_equal(other.frame(sid), p.frame(sid))


@pytest.mark.parametrize("change, message", [
    (lambda t: pd.concat([t, t.iloc[[3]]]),
     r"expected unique timestamps within each series, got series '\w+' at \d{4}-\d\d-01"),
    (lambda t: pd.concat([t, t.iloc[[0]].assign(store="solo")]),
     r"expected at least 2 rows per series, got 1 series of one row: 'solo' \(\d{4}"),
    (lambda t: t.assign(price=t.price.where(t.index != 5)),
     r"expected finite values in column 'price', got nan in series '\w+' at \d{4}-\d\d-01"),
    (lambda t: t.assign(store=t.store.where(t.index != 4, 7)),
     r"expected series ids of one type, got str and int \(row 0: '\w+', row 4: 7\)"),
    (lambda t: t.assign(size=t["size"].where(t.index != 6, 9.0)),
     r"expected static covariate 'size' to be constant within each series, got 9.0 in "
     r"series '\w+' at \d{4}"),
    (lambda t: t.assign(sales=t.sales.astype(object).where(t.index != 2, "n/a")),
     r"expected numbers in column 'sales', got 'n/a' in series '\w+' at \d{4}"),
])
def test_bad_input_is_one_line_naming_series_and_timestamp(change, message) -> None:
    with pytest.raises(ValueError, match=message) as err:
        make_panel(change(long_table()), "sales", id_column="store", time_column="month",
                   **ROLES)
    assert "\n" not in str(err.value)


def test_undeclared_columns_are_named_and_ignore_drops_them() -> None:
    table = long_table().assign(note="x", weather=1.0)
    with pytest.raises(ValueError, match=re.escape(
            "got undeclared column(s) ['note', 'weather']; declare them")):
        make_panel(table, "sales", id_column="store", time_column="month", **ROLES)
    p = make_panel(table, "sales", id_column="store", time_column="month",
                   ignore=["note", "weather"], **ROLES)
    assert p.past_names == ("price",) and p.future_names == ("promo",)


def test_irregular_series_and_mixed_frequencies_are_named() -> None:
    table = long_table()
    gap = table.drop(table[(table.store == "south") & (table.month == "2020-06-01")].index)
    with pytest.raises(ValueError, match="series 'south': expected regular timestamps every "
                       "'MS', got 2020-07-01 00:00:00 at row 3"):
        make_panel(gap, "sales", id_column="store", time_column="month", ignore=list(
            table.columns[3:]))
    assert make_panel(gap, "sales", id_column="store", time_column="month", freq=None,
                      ignore=list(table.columns[3:])).freq is None
    mixed = {"m": pd.Series(1.0, pd.date_range("2020-01-01", periods=6, freq="MS")),
             "q": pd.Series(1.0, pd.date_range("2020-01-01", periods=6, freq="QS"))}
    with pytest.raises(ValueError, match="expected every series at one frequency, got 'MS' for "
                       "series 'm' and 'QS-JAN' for series 'q'"):
        make_panel(mixed, "y")


def series_of(p: Panel, idx, window: int, horizon: int) -> np.ndarray:
    rows = p.offsets[idx.series][:, None] + idx.start[:, None] + np.arange(window + horizon)
    return p.series_of_row[np.clip(rows, 0, len(p.target) - 1)]  # (n, window + horizon)


@pytest.mark.parametrize("seed", range(5))
def test_no_window_crosses_two_series(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 40, size=12)
    p = Panel.from_arrays({f"s{i}": 1000.0 * i + np.arange(n) for i, n in enumerate(lengths)})
    window, horizon, stride = int(rng.integers(1, 8)), int(rng.integers(1, 5)), 1
    idx = window_index(p, window, horizon, stride=stride, pad_short=True)
    owner = series_of(p, idx, window, horizon)
    real_rows = idx.start[:, None] + np.arange(window + horizon) >= 0  # (n, window + horizon)
    assert (owner == idx.series[:, None])[real_rows].all()
    assert (idx.start[~real_rows.all(1)] < 0).all()
    batch = gather(p, idx, window, horizon)
    # every value of a window is from its own series (values encode the series) or padding
    vals = np.concatenate([batch.target, batch.y], axis=1)
    real = np.concatenate([batch.mask, np.ones_like(batch.y, dtype=bool)], axis=1)
    assert (np.floor(vals[real] / 1000.0) == np.repeat(idx.series, real.sum(1))).all()
    assert (vals[~real] == 0.0).all()
    long_enough = lengths >= window + horizon
    expected = np.where(long_enough, lengths - window - horizon + 1, 1)
    assert np.bincount(idx.series, minlength=len(lengths)).tolist() == expected.tolist()
    assert idx.series.nbytes + idx.start.nbytes == 16 * len(idx.series)


def test_short_series_are_named_or_padded_with_a_mask() -> None:
    p = Panel.from_arrays({"long": np.arange(20.0), "tiny": np.arange(4.0), "mid": np.arange(7.0)})
    with pytest.raises(ValueError, match=re.escape(
            "expected every series to hold window + horizon = 8 rows, got 2 shorter series: "
            "'tiny' (4 rows), 'mid' (7 rows); pass pad_short=True")):
        window_index(p, window=6, horizon=2)
    idx = window_index(p, window=6, horizon=2, pad_short=True)
    tiny = idx.series == 1
    assert idx.start[tiny].tolist() == [-4]
    b = gather(p, idx, 6, 2)
    assert b.mask[tiny].tolist() == [[False] * 4 + [True] * 2]
    assert b.target[tiny].tolist() == [[0.0] * 4 + [0.0, 1.0]] and b.y[tiny].tolist() == [[2, 3]]
    with pytest.raises(ValueError, match="need at least horizon \\+ 1 rows"):
        window_index(Panel.from_arrays({"x": np.arange(2.0)}), 6, 2, pad_short=True)


def test_training_windows_and_scaler_see_only_training_rows() -> None:
    p = make_panel(long_table(), "sales", id_column="store", time_column="month", **ROLES)
    split = split_points(p, test=6, validation=0.2)
    assert (split.length - split.val_end == 6).all()
    train = window_index(p, 4, 2, end=split.train_end)
    assert (train.start + 6 <= split.train_end[train.series]).all()
    val = window_index(p, 4, 2, end=split.val_end, targets_from=split.train_end)
    assert (val.start + 4 >= split.train_end[val.series]).all()
    assert (val.start + 6 <= split.val_end[val.series]).all()

    scaler = PanelScaler().fit(p, end=split.train_end)
    changed = p.with_values(p.target + np.where(np.arange(len(p.target)) % 2, 1e6, 0) *
                            (np.arange(len(p.target)) - p.offsets[p.series_of_row]
                             >= split.train_end[p.series_of_row]), p.past, p.future, p.static)
    np.testing.assert_array_equal(PanelScaler().fit(changed, end=split.train_end).mean,
                                  scaler.mean)
    z = scaler.transform(p)
    for i in range(p.n_series):
        head = z.target[p.rows(i)][: split.train_end[i]]
        assert abs(head.mean()) < 1e-9 and abs(head.std() - 1.0) < 1e-9
    back = scaler.inverse_target(z.target[:, None], p.series_of_row)[:, 0]
    np.testing.assert_allclose(back, p.target)
    again = PanelScaler.from_json(scaler.to_json())
    np.testing.assert_array_equal(again.transform(p).target, z.target)


def test_rolling_origins_cover_every_series() -> None:
    p = make_panel(long_table(), "sales", id_column="store", time_column="month", **ROLES)
    o = rolling_origins(p, horizon=3, folds=4)
    assert np.bincount(o.series).tolist() == [4, 4, 4]
    assert (o.cut[o.fold == 3] == p.lengths - 3).all()
    assert (np.diff(o.cut.reshape(3, 4), axis=1) == 3).all()
    with pytest.raises(ValueError, match="got series 'south' with 17 rows"):
        rolling_origins(p, horizon=6, folds=3)


def test_future_covariates_and_calendar_over_the_horizon() -> None:
    table = long_table()
    p = make_panel(table, "sales", id_column="store", time_column="month", calendar=True,
                   **ROLES)
    assert p.future_names == ("promo", "month_sin", "month_cos")
    times = horizon_times(p, 2)
    nxt = pd.DataFrame([(sid, t, k) for sid, ts in zip(p.ids, times, strict=True)
                        for k, t in enumerate(ts)], columns=["store", "month", "promo"])
    f = future_covariates(p, 2, nxt, id_column="store", time_column="month")
    assert f.shape == (3, 2, 3)
    assert f[:, :, 0].tolist() == [[0.0, 1.0]] * 3
    month = np.array([[t.month for t in ts] for ts in times])
    np.testing.assert_allclose(f[:, :, 1], np.sin(2 * np.pi * (month - 1) / 12))
    with pytest.raises(ValueError, match=r"expected future covariate 'promo' for series "
                       r"'\w+' at \d{4}-\d\d-01 00:00:00, got no row there"):
        future_covariates(p, 2, nxt.iloc[1:], id_column="store", time_column="month")
    with pytest.raises(ValueError, match=r"expected values of the future covariates \['promo'\]"):
        future_covariates(p, 2)


def test_last_windows_and_origin_windows_gather_the_right_rows() -> None:
    p = make_panel(long_table(), "sales", id_column="store", time_column="month", **ROLES)
    b = gather(p, last_windows(p, 12), 12, horizon=0)
    assert b.y.shape == (3, 0) and b.future.shape == (3, 12, 1) and b.past.shape == (3, 12, 1)
    for i, sid in enumerate(p.ids):
        frame = p.frame(sid)
        np.testing.assert_array_equal(b.target[i], frame["sales"].to_numpy()[-12:])
        np.testing.assert_array_equal(b.past[i, :, 0], frame["price"].to_numpy()[-12:])
    o = rolling_origins(p, horizon=3, folds=2)
    ob = gather(p, WindowIndex(o.series, o.cut - 12), 12, 3)
    for k in range(len(o.series)):
        values = p.target[p.rows(int(o.series[k]))]
        np.testing.assert_array_equal(ob.y[k], values[o.cut[k]: o.cut[k] + 3])
        pad = max(12 - int(o.cut[k]), 0)  # south (17 rows) has 11 rows before fold 0
        np.testing.assert_array_equal(ob.target[k][pad:], values[o.cut[k] - 12 + pad: o.cut[k]])
        assert ob.mask[k].tolist() == [False] * pad + [True] * (12 - pad)
    with pytest.raises(ValueError, match=r"shorter series: 'south' \(17 rows\)"):
        last_windows(p, 20)


def test_time_column_as_text_is_parsed_with_one_format_and_bad_rows_named() -> None:
    table = long_table().assign(month=lambda t: t.month.dt.strftime("%Y-%m-%d"))
    p = make_panel(table, "sales", id_column="store", time_column="month", **ROLES)
    assert p.freq.freqstr == "MS" and p.lengths.sum() == len(table)
    table.loc[7, "month"] = "2019-13-01"
    with pytest.raises(ValueError, match=re.escape(
            "expected timestamps in the time column (format '%Y-%m-%d'), got '2019-13-01' at "
            "row 7 (1 unparsable)")):
        make_panel(table, "sales", id_column="store", time_column="month", **ROLES)
    table.loc[7, "month"] = None
    with pytest.raises(ValueError, match="got a missing one at row 7"):
        make_panel(table, "sales", id_column="store", time_column="month", **ROLES)
