"""The ``rnnkit`` command line (typer), on top of :mod:`rnnkit.tasks`.

Commands: ``demo``, ``train``, ``forecast``, ``classify`` (training runs, each writing a run
folder, by default a new one under ``runs/``), ``generate``, ``evaluate``, ``predict``,
``summary`` and ``inspect`` (on a run folder). Exit codes: 0 on success, 1 when a run fails
(one line on stderr; the traceback with ``--debug``), 2 on a usage error.

Training commands clip the gradient norm at 1.0 by default (``--clipnorm``).
"""

from __future__ import annotations

import contextlib
import enum
import functools
import itertools
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer

__all__ = ["app", "main"]

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="rnnkit",
    help="Recurrent neural networks with Keras semantics on PyTorch: demos on bundled data, "
         "training from TOML configs, forecasting, classification, text generation and "
         "diagnostics. Training runs write a report folder (model, metrics.json, plots).",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_STATE = {"debug": False}

Debug = Annotated[bool, typer.Option("--debug", help="Show the traceback when a run fails.")]
Out = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Run folder to write (default: a new folder under runs/)."),
]
Verbose = Annotated[
    int, typer.Option("--verbose", "-v", min=0, max=2,
                      help="Training progress: 0 silent, 1 progress bar, 2 one line per epoch.")
]
Unknown = Annotated[Literal["error", "skip", "unk"], typer.Option(
    "--unknown", help="Seed characters the vocabulary lacks: error (refuse), skip (leave them "
                      "out) or unk (read them as the unknown symbol).")]
RunDir = Annotated[Path, typer.Argument(help="A run folder written by a training command.",
                                        show_default=False)]


def _use_agg() -> None:
    import matplotlib

    matplotlib.use("Agg")


def _guard(fn: F) -> F:
    """Turn a failure into exit code 1 with a one-line message (traceback with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(kwargs.get("debug")) or _STATE["debug"] or \
            os.environ.get("RNNKIT_DEBUG", "") not in ("", "0")
        try:
            _use_agg()
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            typer.echo("rnnkit: interrupted", err=True)
            raise typer.Exit(130) from None
        except Exception as err:  # noqa: BLE001 - every failure becomes exit code 1
            if debug:
                traceback.print_exc()
            message = str(err).strip().splitlines()[0] if str(err).strip() else ""
            typer.echo(f"rnnkit: error: {type(err).__name__}: {message}", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of failed runs.")]
    = False,
) -> None:
    """rnnkit command line."""
    _STATE["debug"] = debug


def _out_dir(out: Path | None, kind: str) -> Path:
    from .tasks import new_run_dir

    if out is None:
        return new_run_dir(kind)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _echo_headline(metrics: dict[str, Any]) -> None:
    from .tasks import headline_lines

    for line in headline_lines(metrics):
        typer.echo(line)


def _report(run: Any, verbose: int | str = 1) -> None:
    if verbose:
        run.task.model_.summary(print_fn=typer.echo)
    _echo_headline(run.metrics)
    typer.echo(f"run folder     {run.folder}")


# -- training commands ------------------------------------------------------------------------
@app.command()
@_guard
def demo(
    name: Annotated[Literal["activity", "energy", "temperature", "digits", "shakespeare",
                            "prices", "accommodation", "sentiment"],
                    typer.Argument(help="The demo.")]
    = "activity",
    quick: Annotated[bool, typer.Option("--quick", help="A tiny run on a slice of the data "
                                                        "(seconds; for CI).")] = False,
    list_: Annotated[bool, typer.Option("--list", help="List the demos and exit.")] = False,
    out: Out = None,
    verbose: Verbose = 1,
    debug: Debug = False,
) -> None:
    """Run one of the seeds' applications on bundled data (default: activity recognition
    with SequenceClassifier's defaults) and print the result beside its baselines."""
    from .tasks import DEMOS, run_demo, run_lock

    if list_:
        for d in DEMOS.values():
            typer.echo(f"{d.name:<12} seed {d.seed}  {d.title}")
        return
    with run_lock(_out_dir(out, f"demo-{name}")) as folder:
        typer.echo(f"demo {name}: {DEMOS[name].title}" + (" (quick)" if quick else ""))
        run = run_demo(name, out=folder, quick=quick, verbose=verbose)
    _report(run, verbose)


@app.command()
@_guard
def train(
    config: Annotated[Path, typer.Argument(help="A TOML run config (task, [data], [model], "
                                               "[training]).", show_default=False)],
    out: Out = None,
    verbose: Verbose = 1,
    nproc: Annotated[int, typer.Option("--nproc", min=1, help="Train with N processes on this "
                                       "machine (torch.distributed, DDP).")] = 1,
    allow_config_change: Annotated[bool, typer.Option(
        "--allow-config-change", help="Resume OUT although CONFIG differs from the one it was "
        "started with (epochs, verbose, [sample] only; recorded in config_changes.json).")]
    = False,
    debug: Debug = False,
) -> None:
    """Train a run described in TOML (see configs/ for examples). With --out, every epoch is
    checkpointed in OUT/checkpoints and the same command run again resumes from there."""
    import tempfile

    from .tasks import (
        check_run_config,
        distributed_rank,
        launch_distributed,
        load_config,
        run_lock,
        train_from_config,
    )

    kind = load_config(config)["task"]
    rank = distributed_rank()
    if nproc > 1 and rank is None:  # re-run this command line in nproc watched processes
        with run_lock(out) if out is not None else contextlib.nullcontext():
            if out is not None:  # a refused resume must stop before any worker starts
                check_run_config(config, out, out / "checkpoints", allow_config_change)
            raise typer.Exit(launch_distributed(nproc, sys.argv[1:]))
    checkpoints = None if out is None else out / "checkpoints"  # the same for every rank
    if rank:  # ranks other than 0 train but write to a scratch folder and stay quiet
        folder = Path(tempfile.mkdtemp(prefix=f"rnnkit-rank{rank}-"))
        train_from_config(config, out=folder, verbose=0, checkpoint_dir=checkpoints,
                          allow_config_change=allow_config_change)
        return
    with run_lock(_out_dir(out, f"train-{kind}")) as folder:
        run = train_from_config(config, out=folder, verbose=verbose, checkpoint_dir=checkpoints,
                                allow_config_change=allow_config_change)
    _report(run, verbose)


def _floats(text: str | None, name: str) -> tuple[float, ...] | None:
    if text is None or text == "":
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated numbers for {name}, got {text!r}")\
            from None


def _ints(text: str, name: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers for {name}, got {text!r}")\
            from None


Units = Annotated[str, typer.Option("--units", help="Units per recurrent layer, e.g. 32,32.")]
Epochs = Annotated[int, typer.Option("--epochs", min=0, help="Maximum training epochs.")]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1)]
LearningRate = Annotated[float, typer.Option("--learning-rate", min=0.0, help="Adam's rate.")]
Clipnorm = Annotated[float, typer.Option("--clipnorm", min=0.0,
                                         help="Gradient-norm clipping (0: off).")]
Patience = Annotated[int, typer.Option("--patience", min=0, help="Early-stopping patience.")]
Seed = Annotated[int, typer.Option("--random-state", min=0, help="Seed of the run.")]


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


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [c for c in text.split(",") if c]


def _test_part(text: str) -> float | int:
    """``--test``: a row count (``24``), a fraction (``0.2``) or ``0`` (no test part); a
    bad value is a usage error (exit status 2)."""
    try:
        value: float | int = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            value = -1
        if not 0.0 < value < 1.0:
            raise typer.BadParameter(f"expected a row count or a fraction in (0, 1), got "
                                     f"{text!r}") from None
    if value < 0:
        raise typer.BadParameter(f"expected a row count >= 0, got {text!r}")
    return value


Columns = Annotated[str | None, typer.Option(help="Comma-separated column names.")]


@app.command()
@_guard
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
        "--test", callback=_test_part,
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
    from .tasks import Forecaster, read_panel_csv, read_series_csv, run_forecast, run_lock

    held = test  # already parsed by _test_part
    if id_column is None:
        series: Any = read_series_csv(file, time_column, freq)
        time_column = None  # it became the index
    else:
        series = read_panel_csv(file, id_column, time_column)
    task = Forecaster(
        cell.value, "auto" if window is None else window, horizon,
        units=_ints(units, "--units"), strategy=strategy.value,
        target=target, id_column=id_column, time_column=time_column,
        past_covariates=_names(past_covariates), future_covariates=_names(future_covariates),
        static_covariates=_names(static_covariates), ignore=_names(ignore), calendar=calendar,
        pad_short=pad_short, freq=freq if id_column is not None else None,
        residual=RESIDUALS[residual],
        quantiles=_floats(quantiles, "--quantiles"), seasonal_period=seasonal_period,
        likelihood=None if likelihood is None else likelihood.value,
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        clipnorm=clipnorm or None, validation=validation, patience=patience,
        random_state=random_state, verbose=verbose,
    )
    with run_lock(_out_dir(out, "forecast")) as folder:
        run = run_forecast(task, series, out=folder, test=held, data=f"file {file}",
                           config={"command": "forecast", "file": os.fspath(file)})
    _report(run, verbose)


@app.command()
@_guard
def classify(
    file: Annotated[Path, typer.Argument(help=".npz with X (samples, timesteps, features; NaN "
                                              "after each sequence, or an array 'lengths') "
                                              "and y (labels of any dtype), or a UEA/UCR .ts "
                                              "file.", show_default=False)],
    test: Annotated[Path | None, typer.Option("--test", help="Held-out .npz or .ts (default: "
                                                             "a stratified split).")] = None,
    test_size: Annotated[float, typer.Option("--test-size", min=0.0, max=1.0)] = 0.2,
    cell: Annotated[Literal["lstm", "gru", "rnn", "indrnn"], typer.Option("--cell")] = "lstm",
    units: Units = "64",
    filters: Annotated[str, typer.Option("--filters", help="Filters of the Conv1D front end, "
                                                           "e.g. 64,64 ('' for none).")]
    = "64,64",
    bidirectional: Annotated[bool, typer.Option("--bidirectional")] = False,
    class_weight: Annotated[Literal["balanced", "none"], typer.Option("--class-weight")]
    = "balanced",
    epochs: Annotated[int | None, typer.Option(
        "--epochs", min=0, help="Maximum epochs (default: scaled to the data).")] = None,
    batch_size: Annotated[int | None, typer.Option(
        "--batch-size", min=1, help="Default: scaled to the data.")] = None,
    learning_rate: LearningRate = 1e-3,
    clipnorm: Clipnorm = 1.0,
    patience: Annotated[int | None, typer.Option(
        "--patience", min=0, help="Early-stopping patience (default: scaled to the data).")]
    = None,
    random_state: Seed = 0,
    out: Out = None,
    verbose: Verbose = 1,
    debug: Debug = False,
) -> None:
    """Train a sequence classifier on an .npz or .ts file (sequences may differ in length)
    and score it beside the majority-class and non-recurrent baselines."""
    from .tasks import (
        SequenceClassifier,
        read_labelled,
        run_classification,
        run_lock,
        split_classification,
    )

    X, y = read_labelled(file)
    if test is not None:
        xte, yte = read_labelled(test)
        xtr, ytr = X, y
    else:
        xtr, ytr, xte, yte = split_classification(X, y, test_size, random_state)
    auto: dict[str, Any] = {name: "auto" if value is None else value for name, value in
                            (("epochs", epochs), ("batch_size", batch_size),
                             ("patience", patience))}
    task = SequenceClassifier(
        cell, _ints(units, "--units"), filters=_ints(filters, "--filters") if filters else (),
        bidirectional=bidirectional, class_weight=class_weight, learning_rate=learning_rate,
        clipnorm=clipnorm or None, random_state=random_state, verbose=verbose, **auto,
    )
    with run_lock(_out_dir(out, "classify")) as folder:
        run = run_classification(
            task, xtr, ytr, xte, yte, out=folder, data=f"file {file}",
            config={"command": "classify", "file": os.fspath(file),
                    "test_file": None if test is None else os.fspath(test)},
        )
    _report(run, verbose)


@app.command()
@_guard
def text(
    file: Annotated[Path, typer.Argument(help="A UTF-8 text file to train a character model "
                                              "on.", show_default=False)],
    max_time: Annotated[float, typer.Option(
        "--max-time", min=1.0, help="Training time budget in seconds.")] = 300.0,
    cell: Annotated[Literal["gru", "lstm", "rnn", "indrnn"], typer.Option("--cell")] = "gru",
    units: Units = "256",
    seq_length: Annotated[int, typer.Option("--seq-length", min=2)] = 100,
    test: Annotated[float, typer.Option("--test", min=0.0, max=1.0,
                                        help="Held-out fraction (the end of the text).")]
    = 0.1,
    seed: Annotated[str | None, typer.Option(
        "--seed", help="Text the sample continues (default: the start of the file).")]
    = None,
    length: Annotated[int, typer.Option("--length", min=0, help="Sample characters.")] = 500,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0)] = 0.8,
    unknown: Unknown = "error",
    random_state: Seed = 0,
    out: Out = None,
    verbose: Verbose = 1,
    debug: Debug = False,
) -> None:
    """Train a character-level language model on any text file within a time budget, score
    bits per character on its last part beside the unigram baseline, and write a sample."""
    from .data import read_text
    from .tasks import TextGenerator, run_text

    content = read_text(file).replace("\r\n", "\n")  # a regular UTF-8 file, at most 1 GiB
    task = TextGenerator(cell, _ints(units, "--units"), seq_length=seq_length,
                         max_time=max_time, random_state=random_state, verbose=verbose)
    folder = _out_dir(out, "text")
    start = content.lstrip()[:40].rsplit(" ", 1)[0] or content[:1]
    run = run_text(task, content, out=folder, test=test, data=f"file {file}",
                   seed_text=start if seed is None else seed, sample_length=length,
                   temperature=temperature, unknown=unknown,
                   config={"command": "text", "file": os.fspath(file)})
    _report(run, verbose)


# -- commands on a run folder -----------------------------------------------------------------
def _load(run: Path) -> Any:
    from .tasks import load_task

    return load_task(run)


@app.command()
@_guard
def generate(
    run: RunDir,
    seed: Annotated[str, typer.Option("--seed", help="Text to continue.")] = "ROMEO:",
    length: Annotated[int, typer.Option("--length", min=0, help="Characters to generate.")]
    = 500,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0,
                                               help="0: greedy; <1: safer; >1: wilder.")]
    = 0.8,
    top_k: Annotated[int | None, typer.Option("--top-k", min=1,
                                              help="Sample among the k likeliest.")] = None,
    random_state: Annotated[int | None, typer.Option("--random-state", min=0,
                                                     help="Seed (reproducible text).")] = None,
    unknown: Unknown = "error",
    debug: Debug = False,
) -> None:
    """Stream text from a text-generation run, one character at a time."""
    from .tasks import TextGenerator, load_task

    task = load_task(run, TextGenerator)
    chars = task.stream(seed, length, temperature=temperature, top_k=top_k,
                        random_state=random_state, unknown=unknown)
    first = next(chars, "")  # the seed is checked before anything is printed
    typer.echo(seed, nl=False)
    for ch in itertools.chain([first], chars):
        sys.stdout.write(ch)
        sys.stdout.flush()
    typer.echo("")


@app.command()
@_guard
def evaluate(
    run: RunDir,
    as_json: Annotated[bool, typer.Option("--json", help="Print all metrics as JSON.")]
    = False,
    debug: Debug = False,
) -> None:
    """Reload a run and recompute its held-out metrics beside the baselines."""
    from .tasks import evaluate_run, to_json

    metrics = evaluate_run(run)
    if as_json:
        typer.echo(to_json(metrics))
        return
    _echo_headline(metrics)


@app.command()
@_guard
def predict(
    run: RunDir,
    file: Annotated[Path, typer.Argument(help="forecaster: CSV series to forecast after; "
                                              "classifier: .npz/.npy with X, or .txt (one "
                                              "text per line) for text; generator: .txt "
                                              "seed.", show_default=False)],
    output: Annotated[Path | None, typer.Option("--output", help="Write the CSV here "
                                                                 "instead of stdout.")] = None,
    length: Annotated[int, typer.Option("--length", min=0, help="generator: characters.")]
    = 200,
    future_covariates: Annotated[Path | None, typer.Option(
        "--future-covariates", help="forecaster: CSV of the future covariates over the "
                                    "horizon of every series.")] = None,
    debug: Debug = False,
) -> None:
    """Predict with a run on new data (CSV output): a forecaster writes the next horizon
    of every series with its intervals."""
    from .tasks import PredictRequest

    request = PredictRequest(file, length=length, future_covariates=future_covariates)
    text = _load(run).predict_file(request)
    if output is not None:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}")
    else:
        typer.echo(text, nl=False)


@app.command()
@_guard
def summary(run: RunDir, debug: Debug = False) -> None:
    """Describe a run: task, parameters, the network (layers, shapes, parameters) and its
    held-out metrics."""
    from .tasks import read_metrics

    task = _load(run)
    typer.echo(f"run            {run}")
    typer.echo(f"task           {task!r}")
    task.model_.summary(print_fn=typer.echo)
    metrics_path = Path(run) / "metrics.json"
    if metrics_path.is_file():
        _echo_headline(read_metrics(run))


@app.command()
@_guard
def export(
    run: RunDir,
    onnx: Annotated[bool, typer.Option("--onnx", help="Write ONNX (needs rnnkit[onnx]).")] = False,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="The file to write (default: RUN/model.onnx).")] = None,
    with_states: Annotated[bool, typer.Option("--with-states", help="Initial states as inputs "
                                              "and final states as outputs (streaming).")] = False,
    debug: Debug = False,
) -> None:
    """Export a run's network; the file is written only after onnxruntime matches rnnkit."""
    if not onnx:  # a usage error: exit status 2
        typer.echo("rnnkit export: expected a format option, got none (use --onnx)", err=True)
        raise typer.Exit(2)
    task = _load(run)
    target = out if out is not None else Path(run) / "model.onnx"
    result = task.model_.export_onnx(target, with_states=with_states)
    typer.echo(f"wrote {result.path} (inputs {', '.join(result.inputs)}; "
               f"outputs {', '.join(result.outputs)})")


@app.command()
@_guard
def inspect(
    run: RunDir,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Batch size used.")] = 32,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for the plots "
                                                                 "(default: the run).")] = None,
    debug: Debug = False,
) -> None:
    """Plot the gradient norm of the loss w.r.t. each input step (vanishing / exploding
    gradients) and the mean LSTM/GRU gate activations over time, for held-out data."""
    from .tasks import inspect_run

    result = inspect_run(run, out=out, samples=samples)
    norms = result["gradient_norms"]["per_step"]
    if norms:
        ratio = norms[0] / norms[-1] if norms[-1] > 0 else float("inf")
        typer.echo(f"gradient norm  first step {norms[0]:.3g}, last step {norms[-1]:.3g} "
                   f"(ratio {ratio:.3g})")
    for layer, gates in result["gates"].items():
        means = ", ".join(f"{g} {sum(v) / len(v):.3f}" for g, v in gates.items() if v)
        typer.echo(f"gates          {layer}: {means}")
    for path in result["files"]:
        typer.echo(f"wrote          {path}")


def main() -> None:
    """Entry point of the ``rnnkit`` script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
