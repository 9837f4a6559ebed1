"""Run folders: train a task, score it on held-out data, and write a report.

A run folder holds:

========================  ===============================================================
``config.json``           what was run: command, task class and parameters, data source
``config.toml``           the TOML config, when the run came from ``rnnkit train``
``model.rnnkit``          the network (JSON config + safetensors weights)
``baseline.rnnkit``       the classifier's non-recurrent baseline network
``task.json``             the task's parameters and learned state (scaler, vocabulary,
                          classes, window settings, training history)
``heldout.npz``           the held-out data (plain arrays, no pickles), for ``evaluate`` /
                          ``inspect``
``metrics.json``          held-out metrics under fixed keys (below), the baselines' figures
                          under ``baselines``, the training time and the machine
``*.png``                 ``learning_curves.png`` and ``forecast.png`` /
                          ``confusion_matrix.png`` / ``sample.png`` (+ ``sample.txt``)
========================  ===============================================================

``metrics.json`` keys: ``task`` (``forecaster``, ``classifier``, ``generator``); forecasting:
``mae``, ``rmse``, ``mape``, ``mase``, ``horizon``, ``seasonal_period``, ``n_origins``,
``baselines.naive.*``, ``baselines.seasonal_naive.*`` (same four metrics), ``interval`` (with
quantiles); classification: ``accuracy``, ``macro_f1``, ``per_class``,
``confusion_matrix``, ``labels``, ``baselines.majority.accuracy``,
``baselines.non_recurrent.accuracy``; text: ``bits_per_char``, ``perplexity``,
``baselines.unigram.bits_per_char``, ``sample``; always ``train_seconds``, ``epochs_run``,
``stopped_by_time``, ``machine``, ``rnnkit_version``.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import platform
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import _bounded
from ..data import read_npz_arrays
from ..errors import DataFileError, RnnkitError, RunFolderError
from ._backtest import test_rows
from ._base import Task, load_task, rnnkit_version, task_class, to_json
from ._checks import check_float, check_int
from ._classifier import SequenceClassifier
from ._forecast_input import panel_head
from ._forecaster import Forecaster
from ._generator import TextGenerator
from ._inspect import gate_activations, gradient_norms
from ._report import plot_gates, plot_gradient_norms, plot_learning_curves

__all__ = [
    "Run",
    "evaluate_run",
    "headline_lines",
    "inspect_run",
    "load_heldout",
    "machine_info",
    "new_run_dir",
    "read_metrics",
    "run_classification",
    "run_forecast",
    "run_task",
    "run_text",
    "split_classification",
]

HELDOUT_FILE = "heldout.npz"
METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.json"
PathLike = str | os.PathLike[str]


@dataclass
class Run:
    """A finished run: its folder, the fitted task and the held-out metrics."""

    folder: Path
    task: Task
    metrics: dict[str, Any]


def new_run_dir(kind: str, base: PathLike = "runs") -> Path:
    """A new, empty folder ``base/<kind>-YYYYmmdd-HHMMSS`` (``-2``, ``-3`` ... if taken)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    root = Path(base)
    path = root / f"{kind}-{stamp}"
    n = 2
    while path.exists():
        path = root / f"{kind}-{stamp}-{n}"
        n += 1
    path.mkdir(parents=True)
    return path


def machine_info() -> dict[str, Any]:
    """The machine a run used: CPU count, torch threads, processor and platform."""
    return {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def _training_figures(task: Task) -> dict[str, Any]:
    history = getattr(task, "history_", {}) or {}
    return {
        "train_seconds": getattr(task, "train_seconds_", None),
        "epochs_run": len(history.get("loss", [])),
        "stopped_by_time": bool(getattr(task, "stopped_by_time_", False)),
        "machine": machine_info(),
        "rnnkit_version": rnnkit_version(),
    }


def copy_config(source: PathLike, folder: PathLike) -> None:
    """Keep the TOML config a run came from (``config.toml``) in its folder."""
    shutil.copyfile(source, Path(folder) / "config.toml")


def run_task(task: Task, heldout: Any, *, out: PathLike, data: str = "",
             config: Mapping[str, Any] | None = None,
             extra: Mapping[str, Any] | None = None) -> Run:
    """Score a fitted ``task`` on ``heldout`` and write its run folder ``out``: the task,
    ``config.json``, ``metrics.json`` (the held-out figures, ``extra``, the training
    figures), ``heldout.npz`` and the plots. Every task goes through the same steps."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    metrics = {"task": task.task_name, "data": data, **task.heldout_metrics(heldout),
               **dict(extra or {}), **_training_figures(task)}
    task.save(folder)
    cfg = {"task": task.task_name, "params": task.get_params(), "data": data,
           **dict(config or {})}
    (folder / CONFIG_FILE).write_text(to_json(cfg) + "\n", encoding="utf-8")
    (folder / METRICS_FILE).write_text(to_json(metrics) + "\n", encoding="utf-8")
    arrays = {"kind": np.array(task.task_name), **task.heldout_arrays(heldout)}
    np.savez_compressed(folder / HELDOUT_FILE, **arrays)  # type: ignore[arg-type]
    history = getattr(task, "history_", None)
    if history and history.get("loss"):
        plot_learning_curves(history, folder / "learning_curves.png",
                             title=f"Learning curves ({task.task_name})")
    task.write_plots(folder, heldout, metrics)
    return Run(folder, task, metrics)


# -- forecasting ------------------------------------------------------------------------------
def run_forecast(
    task: Forecaster, series: Any, *, out: PathLike, test: float | int = 0.2,
    config: Mapping[str, Any] | None = None, data: str = "",
) -> Run:
    """Fit ``task`` on every series of ``series`` (any input :meth:`Forecaster.fit` takes)
    before its last ``test`` rows (a count, or
    a fraction of each series; 0: train on every row), backtest those rows (rolling origin,
    one forecast per step) against the naive and seasonal-naive forecasts, and write the
    report to ``out``."""
    panel = task.read_panel(series)
    if test:
        n_test = test_rows(test, panel.lengths)
        task.fit(panel_head(panel, panel.lengths - n_test))
    else:
        task.fit(panel)
    return run_task(task, (panel, test), out=out, data=data,
                    config={"test": test, **dict(config or {})})


# -- classification ---------------------------------------------------------------------------
def split_classification(
    X: Any, y: Any, test: float = 0.2, random_state: int | None = 0
) -> tuple[Any, Any, Any, Any]:
    """Stratified random train/test split (each class keeps ``test`` of its samples,
    at least one when it has two or more)."""
    labels = np.asarray(y)
    if not 0.0 < float(test) < 1.0:
        raise ValueError(f"expected test in (0, 1), got {test!r}")
    rng = np.random.default_rng(random_state)
    test_idx = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        k = int(round(float(test) * len(idx)))
        k = min(max(k, 1 if len(idx) >= 2 else 0), len(idx) - 1)
        test_idx.extend(idx[:k].tolist())
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[test_idx] = True

    def take(data: Any, mask: np.ndarray) -> Any:
        if isinstance(data, np.ndarray):
            return data[mask]
        return [data[i] for i in np.flatnonzero(mask).tolist()]

    return take(X, ~is_test), labels[~is_test], take(X, is_test), labels[is_test]


def run_classification(
    task: SequenceClassifier, X_train: Any, y_train: Any, X_test: Any, y_test: Any, *,
    out: PathLike, config: Mapping[str, Any] | None = None, data: str = "",
    groups: Any = None,
) -> Run:
    """Fit on the training part (``groups``: one per training sequence, kept whole on one
    side of the validation part), score the test part (with the majority-class and
    non-recurrent baselines) and write the report to ``out``."""
    task.fit(X_train, y_train, groups=groups)
    return run_task(task, (X_test, y_test), out=out, data=data, config=config,
                    extra={"n_train": int(len(y_train))})


# -- text -------------------------------------------------------------------------------------
def run_text(
    task: TextGenerator, text: str, *, out: PathLike, test: float = 0.1,
    config: Mapping[str, Any] | None = None, data: str = "", seed_text: str = "ROMEO:",
    sample_length: int = 500, temperature: float = 0.8, top_k: int | None = None,
    random_state: int | None = 0, unknown: str = "error",
) -> Run:
    """Fit on all but the last ``test`` fraction of ``text``, score bits per character
    on that part, write a sample and the report to ``out``."""
    if not isinstance(text, str):
        raise TypeError(f"expected the text as a str, got {type(text).__name__}")
    n_test = math.floor(float(test) * len(text))
    if not 0 < n_test < len(text):
        raise ValueError(f"expected test in (0, 1) leaving text on both sides, got {test!r}")
    _check_sample(text[: len(text) - n_test], seed_text, sample_length, temperature, top_k,
                  random_state)
    task.fit(text[: len(text) - n_test])
    sample = task.generate(seed_text, sample_length, temperature=temperature, top_k=top_k,
                           random_state=random_state, unknown=unknown)
    extra = {"sample": seed_text + sample,
             "sample_settings": {"seed": seed_text, "length": sample_length,
                                 "temperature": temperature, "top_k": top_k,
                                 "random_state": random_state}}
    return run_task(task, text[len(text) - n_test :], out=out, data=data, extra=extra,
                    config={"test_chars": n_test, **dict(config or {})})


def _check_sample(train: str, seed: Any, length: Any, temperature: Any, top_k: Any,
                  random_state: Any) -> None:
    """The sample's settings, checked before training (a bad one would lose the run)."""
    if not isinstance(seed, str) or not seed:
        raise ValueError(f"expected the sample seed as a non-empty str, got {seed!r:.80}")
    unknown = sorted(set(seed) - set(train))
    if unknown:
        raise ValueError(f"expected a sample seed made of the training text's characters, got "
                         f"{unknown[:10]} that it never uses")
    check_int("sample length", length, 0)
    check_float("sample temperature", temperature, 0.0, math.inf)
    if top_k is not None:
        check_int("sample top_k", top_k, 1)
    if random_state is not None:
        check_int("sample random_state", random_state, 0)


# -- reloading --------------------------------------------------------------------------------
def load_heldout(folder: PathLike) -> dict[str, Any]:
    """The arrays of a run's ``heldout.npz`` (sizes and headers checked before reading, object
    arrays refused: a :class:`rnnkit.errors.DataFileError` naming the file)."""
    path = Path(folder) / HELDOUT_FILE
    if not path.exists():
        raise FileNotFoundError(f"expected {HELDOUT_FILE} in the run folder {os.fspath(folder)!r}")
    return read_npz_arrays(path)


def evaluate_run(folder: PathLike) -> dict[str, Any]:
    """Reload a run and recompute its held-out metrics (the same keys as ``metrics.json``)."""
    task = load_task(folder)
    arrays = load_heldout(folder)
    try:  # well-formed arrays that do not describe this task's held-out data
        heldout = task.heldout_from_arrays(arrays)
        return {"task": task.task_name, **task.heldout_metrics(heldout)}
    except RnnkitError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RecursionError,
            RuntimeError) as err:
        raise DataFileError(f"expected the held-out data of a {task.task_name} run, got "
                            f"{type(err).__name__}: {str(err)[:200]}",
                            path=Path(folder) / HELDOUT_FILE) from err


def headline_lines(metrics: Mapping[str, Any]) -> list[str]:
    """The key figures of a run's metrics, as lines: the task's own headline (the result
    beside its baselines), then the training time."""
    lines = task_class(metrics.get("task")).headline(metrics)
    if metrics.get("train_seconds") is not None:
        stop = ", stopped by --max-time" if metrics.get("stopped_by_time") else ""
        lines.append(f"training       {metrics['train_seconds']:.1f} s, "
                     f"{metrics.get('epochs_run', '?')} epochs{stop}")
    return lines


def read_metrics(folder: PathLike) -> dict[str, Any]:
    """A run's ``metrics.json`` (bounded read; a damaged one is a RunFolderError)."""
    path = Path(folder) / METRICS_FILE
    if not path.exists():
        raise FileNotFoundError(f"expected {METRICS_FILE} in {os.fspath(folder)!r}")

    def fail(reason: str) -> RunFolderError:
        return RunFolderError(reason, path=path)

    data = _bounded.parse_json(_bounded.read_file(path, 16 << 20, fail), fail, METRICS_FILE)
    return data if isinstance(data, dict) else {}


# -- diagnostics ------------------------------------------------------------------------------
def inspect_run(folder: PathLike, *, out: PathLike | None = None, samples: int = 32
                ) -> dict[str, Any]:
    """Gradient norms per input step and mean gate activations for a batch of a run's
    held-out data; writes ``gradients.png``, ``gates.png`` and ``inspect.json`` to ``out``
    (default: the run folder) and returns the figures."""
    task = load_task(folder)
    batch = task.inspect_batch(task.heldout_from_arrays(load_heldout(folder)), samples)
    grads = gradient_norms(task.model_, batch.x, batch.y, batch.loss)
    gates = gate_activations(task.model_, batch.x)
    target = Path(out) if out is not None else Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    result = {"gradient_norms": grads, "gates": gates, "samples": int(len(batch.y))}
    (target / "inspect.json").write_text(to_json(result) + "\n", encoding="utf-8")
    plot_gradient_norms(grads, target / "gradients.png")
    plot_gates(gates, target / "gates.png")
    result["files"] = [str(target / n) for n in ("gradients.png", "gates.png", "inspect.json")]
    return result
