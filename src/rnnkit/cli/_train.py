"""The training commands besides ``forecast``: ``demo``, ``train`` (a TOML run config),
``classify`` and ``text``; each writes a run folder."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from ._app import (
    Clipnorm,
    Debug,
    LearningRate,
    Out,
    Seed,
    Units,
    Unknown,
    Verbose,
    app,
    guard,
    ints,
    out_dir,
    report,
)


@app.command()
@guard
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
    from ..tasks import DEMOS, run_demo, run_lock

    if list_:
        for d in DEMOS.values():
            typer.echo(f"{d.name:<12} seed {d.seed}  {d.title}")
        return
    with run_lock(out_dir(out, f"demo-{name}")) as folder:
        typer.echo(f"demo {name}: {DEMOS[name].title}" + (" (quick)" if quick else ""))
        run = run_demo(name, out=folder, quick=quick, verbose=verbose)
    report(run, verbose)


@app.command()
@guard
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

    from ..tasks import (
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
    with run_lock(out_dir(out, f"train-{kind}")) as folder:
        run = train_from_config(config, out=folder, verbose=verbose, checkpoint_dir=checkpoints,
                                allow_config_change=allow_config_change)
    report(run, verbose)


@app.command()
@guard
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
    from ..tasks import (
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
        cell, ints(units, "--units"), filters=ints(filters, "--filters") if filters else (),
        bidirectional=bidirectional, class_weight=class_weight, learning_rate=learning_rate,
        clipnorm=clipnorm or None, random_state=random_state, verbose=verbose, **auto,
    )
    with run_lock(out_dir(out, "classify")) as folder:
        run = run_classification(
            task, xtr, ytr, xte, yte, out=folder, data=f"file {file}",
            config={"command": "classify", "file": os.fspath(file),
                    "test_file": None if test is None else os.fspath(test)},
        )
    report(run, verbose)


@app.command()
@guard
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
    from ..data import read_text
    from ..tasks import TextGenerator, run_text

    content = read_text(file).replace("\r\n", "\n")  # a regular UTF-8 file, at most 1 GiB
    task = TextGenerator(cell, ints(units, "--units"), seq_length=seq_length,
                         max_time=max_time, random_state=random_state, verbose=verbose)
    folder = out_dir(out, "text")
    start = content.lstrip()[:40].rsplit(" ", 1)[0] or content[:1]
    run = run_text(task, content, out=folder, test=test, data=f"file {file}",
                   seed_text=start if seed is None else seed, sample_length=length,
                   temperature=temperature, unknown=unknown,
                   config={"command": "text", "file": os.fspath(file)})
    report(run, verbose)
