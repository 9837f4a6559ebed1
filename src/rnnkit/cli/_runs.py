"""Commands on a run folder: ``generate``, ``evaluate``, ``predict``, ``summary``, ``export``,
``inspect``."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ._app import Debug, RunDir, Unknown, app, echo_headline, guard


def load_run(run: Path) -> Any:
    from ..tasks import load_task

    return load_task(run)


@app.command()
@guard
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
    from ..tasks import TextGenerator, load_task

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
@guard
def evaluate(
    run: RunDir,
    as_json: Annotated[bool, typer.Option("--json", help="Print all metrics as JSON.")]
    = False,
    debug: Debug = False,
) -> None:
    """Reload a run and recompute its held-out metrics beside the baselines."""
    from ..tasks import evaluate_run, to_json

    metrics = evaluate_run(run)
    if as_json:
        typer.echo(to_json(metrics))
        return
    echo_headline(metrics)


@app.command()
@guard
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
    from ..tasks import PredictRequest

    request = PredictRequest(file, length=length, future_covariates=future_covariates)
    text = load_run(run).predict_file(request)
    if output is not None:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}")
    else:
        typer.echo(text, nl=False)


@app.command()
@guard
def summary(run: RunDir, debug: Debug = False) -> None:
    """Describe a run: task, parameters, the network (layers, shapes, parameters) and its
    held-out metrics."""
    from ..tasks import read_metrics

    task = load_run(run)
    typer.echo(f"run            {run}")
    typer.echo(f"task           {task!r}")
    task.model_.summary(print_fn=typer.echo)
    metrics_path = Path(run) / "metrics.json"
    if metrics_path.is_file():
        echo_headline(read_metrics(run))


@app.command()
@guard
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
    task = load_run(run)
    target = out if out is not None else Path(run) / "model.onnx"
    result = task.model_.export_onnx(target, with_states=with_states)
    typer.echo(f"wrote {result.path} (inputs {', '.join(result.inputs)}; "
               f"outputs {', '.join(result.outputs)})")


@app.command()
@guard
def inspect(
    run: RunDir,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Batch size used.")] = 32,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for the plots "
                                                                 "(default: the run).")] = None,
    debug: Debug = False,
) -> None:
    """Plot the gradient norm of the loss w.r.t. each input step (vanishing / exploding
    gradients) and the mean LSTM/GRU gate activations over time, for held-out data."""
    from ..tasks import inspect_run

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
