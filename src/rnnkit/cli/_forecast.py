"""``rnnkit forecast``: one forecaster over every series of a CSV, backtested."""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from ._app import (
    BatchSize,
    Clipnorm,
    Debug,
    Epochs,
    LearningRate,
    Out,
    Patience,
    Seed,
    Units,
    Verbose,
    app,
    floats,
    guard,
    ints,
    names,
    out_dir,
    report,
    test_part,
)


class CellName(enum.StrEnum):
    """Recurrent cells of the forecaster."""

    lstm = "lstm"
    gru = "gru"
    rnn = "rnn"
    indrnn = "indrnn"
    cnn_lstm = "cnn-lstm"


class LikelihoodName(enum.StrEnum):
    """Distribution heads of the forecaster."""

    normal = "normal"
    studentt = "studentt"
    negbin = "negbin"


class ResidualName(enum.StrEnum):
    """What the forecaster's network forecasts."""

    auto = "auto"
    value = "value"
    last = "last"
    seasonal = "seasonal"
    combined = "combined"


RESIDUALS: dict[ResidualName, bool | str] = {
    ResidualName.auto: "auto", ResidualName.value: False, ResidualName.last: True,
    ResidualName.seasonal: "seasonal", ResidualName.combined: "combined"}


class StrategyName(enum.StrEnum):
    """Multi-step strategies of the forecaster."""

    direct = "direct"
    recursive = "recursive"


@app.command()
@guard
def forecast(
    file: Annotated[Path, typer.Argument(help="CSV: one series (a first column of dates "
                                              "becomes the time index) or a long table of "
                                              "many (--id-column).", show_default=False)],
    target: Annotated[str, typer.Option("--target", help="Column to forecast.")],
    id_column: Annotated[str | None, typer.Option(
        "--id-column", help="Column naming the series of a long table (one global model "
                            "over every series).")] = None,
    time_column: Annotated[str | None, typer.Option("--time-column")] = None,
    window: Annotated[int | None, typer.Option(
        "--window", min=1, help="Input steps (default: two seasons, or 33 without a "
                                "season).", show_default=False)] = None,
    horizon: Annotated[int, typer.Option("--horizon", min=1, help="Steps forecast.")] = 1,
    cell: Annotated[CellName, typer.Option("--cell")] = CellName.lstm,
    units: Units = "64",
    strategy: Annotated[StrategyName, typer.Option("--strategy")] = StrategyName.direct,
    past_covariates: Annotated[str | None, typer.Option(
        "--past-covariates", help="Columns known up to the forecast origin.")] = None,
    future_covariates: Annotated[str | None, typer.Option(
        "--future-covariates", help="Columns known over the horizon too (predict needs "
                                    "their future values).")] = None,
    static_covariates: Annotated[str | None, typer.Option(
        "--static-covariates", help="Columns constant within each series.")] = None,
    ignore: Annotated[str | None, typer.Option(
        "--ignore", help="Columns to drop (any other undeclared column is an error).")] = None,
    calendar: Annotated[bool, typer.Option(
        "--calendar", help="Add hour/day-of-week/month features as future covariates.")]
    = False,
    pad_short: Annotated[bool, typer.Option(
        "--pad-short", help="Keep series shorter than window + horizon with masked "
                            "padding.")] = False,
    residual: Annotated[ResidualName, typer.Option(
        "--residual", help="What the network forecasts: the value, the change from the last "
                           "value, the change from the seasonal-naive forecast, or the mean "
                           "of that and the value (auto: combined with future covariates, "
                           "else seasonal, for seasonal data, direct).")] = ResidualName.auto,
    quantiles: Annotated[str | None, typer.Option(
        "--quantiles", help="Prediction-interval quantiles, e.g. 0.1,0.9.")] = None,
    likelihood: Annotated[LikelihoodName | None, typer.Option(
        "--likelihood", help="A distribution per step trained by likelihood (CRPS and "
                             "coverage in metrics.json).")] = None,
    seasonal_period: Annotated[int | None, typer.Option(
        "--seasonal-period", min=1, help="Season length of the seasonal-naive baseline "
                                         "(default: from the time index).")] = None,
    freq: Annotated[str | None, typer.Option(
        "--freq", help="Required spacing of the timestamps ('D', '30min', 'MS'...); default: "
                       "the common step when the series are regular.")] = None,
    test: Annotated[Any, typer.Option(
        "--test", callback=test_part,
        help="Held-out last rows of every series: a count (24), a fraction (0.2) or 0 "
             "(train on every row).")] = "0.2",
    validation: Annotated[float, typer.Option(
        "--validation", min=0.0, max=0.99, help="Last fraction of each series' training "
                                                "rows for early stopping.")] = 0.15,
    epochs: Epochs = 100,
    batch_size: BatchSize = 32,
    learning_rate: LearningRate = 1e-3,
    clipnorm: Clipnorm = 1.0,
    patience: Patience = 10,
    random_state: Seed = 0,
    out: Out = None,
    verbose: Verbose = 1,
    debug: Debug = False,
) -> None:
    """Train one forecaster on every series of a CSV and backtest the last part of each
    against the naive and seasonal-naive forecasts."""
    from ..tasks import Forecaster, read_panel_csv, read_series_csv, run_forecast, run_lock

    held = test  # already parsed by test_part
    if id_column is None:
        series: Any = read_series_csv(file, time_column, freq)
        time_column = None  # it became the index
    else:
        series = read_panel_csv(file, id_column, time_column)
    task = Forecaster(
        cell.value, "auto" if window is None else window, horizon,
        units=ints(units, "--units"), strategy=strategy.value,
        target=target, id_column=id_column, time_column=time_column,
        past_covariates=names(past_covariates), future_covariates=names(future_covariates),
        static_covariates=names(static_covariates), ignore=names(ignore), calendar=calendar,
        pad_short=pad_short, freq=freq if id_column is not None else None,
        residual=RESIDUALS[residual],
        quantiles=floats(quantiles, "--quantiles"), seasonal_period=seasonal_period,
        likelihood=None if likelihood is None else likelihood.value,
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        clipnorm=clipnorm or None, validation=validation, patience=patience,
        random_state=random_state, verbose=verbose,
    )
    with run_lock(out_dir(out, "forecast")) as folder:
        run = run_forecast(task, series, out=folder, test=held, data=f"file {file}",
                           config={"command": "forecast", "file": os.fspath(file)})
    report(run, verbose)
