"""The typer app, the options several commands share, and how a command fails (exit 1 with one
line, exit 2 on a usage error)."""

from __future__ import annotations

import functools
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer

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

Units = Annotated[str, typer.Option("--units", help="Units per recurrent layer, e.g. 32,32.")]
Epochs = Annotated[int, typer.Option("--epochs", min=0, help="Maximum training epochs.")]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1)]
LearningRate = Annotated[float, typer.Option("--learning-rate", min=0.0, help="Adam's rate.")]
Clipnorm = Annotated[float, typer.Option("--clipnorm", min=0.0,
                                         help="Gradient-norm clipping (0: off).")]
Patience = Annotated[int, typer.Option("--patience", min=0, help="Early-stopping patience.")]
Seed = Annotated[int, typer.Option("--random-state", min=0, help="Seed of the run.")]



def _use_agg() -> None:
    import matplotlib

    matplotlib.use("Agg")


def guard(fn: F) -> F:
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


def out_dir(out: Path | None, kind: str) -> Path:
    from ..tasks import new_run_dir

    if out is None:
        return new_run_dir(kind)
    out.mkdir(parents=True, exist_ok=True)
    return out


def echo_headline(metrics: dict[str, Any]) -> None:
    from ..tasks import headline_lines

    for line in headline_lines(metrics):
        typer.echo(line)


def report(run: Any, verbose: int | str = 1) -> None:
    if verbose:
        run.task.model_.summary(print_fn=typer.echo)
    echo_headline(run.metrics)
    typer.echo(f"run folder     {run.folder}")


def floats(text: str | None, name: str) -> tuple[float, ...] | None:
    if text is None or text == "":
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated numbers for {name}, got {text!r}")\
            from None


def ints(text: str, name: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers for {name}, got {text!r}")\
            from None


def names(text: str | None) -> list[str] | None:
    return None if text is None else [c for c in text.split(",") if c]


def test_part(text: str) -> float | int:
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
