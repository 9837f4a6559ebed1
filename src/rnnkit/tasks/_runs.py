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
import json
import math
import os
import platform
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ._base import Task, load_task, rnnkit_version, to_json
from ._classifier import SequenceClassifier
from ._forecaster import Forecaster, _to_frame
from ._generator import TextGenerator
from ._report import (
    plot_confusion_matrix,
    plot_forecast,
    plot_learning_curves,
    plot_text_sample,
)

__all__ = [
    "Run",
    "evaluate_run",
    "load_heldout",
    "machine_info",
    "new_run_dir",
    "run_classification",
    "run_forecast",
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


def _prepare_out(out: PathLike) -> Path:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _common(task: Task) -> dict[str, Any]:
    history = getattr(task, "history_", {}) or {}
    return {
        "train_seconds": getattr(task, "train_seconds_", None),
        "epochs_run": len(history.get("loss", [])),
        "stopped_by_time": bool(getattr(task, "stopped_by_time_", False)),
        "machine": machine_info(),
        "rnnkit_version": rnnkit_version(),
    }


def _write(folder: Path, task: Task, metrics: dict[str, Any], config: Mapping[str, Any]) -> None:
    task.save(folder)
    cfg = {"task": task._task_name, "params": task.get_params(), **dict(config)}
    (folder / CONFIG_FILE).write_text(to_json(cfg) + "\n", encoding="utf-8")
    (folder / METRICS_FILE).write_text(to_json(metrics) + "\n", encoding="utf-8")
    history = getattr(task, "history_", None)
    if history and history.get("loss"):
        plot_learning_curves(history, folder / "learning_curves.png",
                             title=f"Learning curves ({task._task_name})")


def copy_config(source: PathLike, folder: PathLike) -> None:
    """Keep the TOML config a run came from (``config.toml``) in its folder."""
    shutil.copyfile(source, Path(folder) / "config.toml")


# -- forecasting ------------------------------------------------------------------------------
def _test_rows(n_rows: int, test: float | int) -> int:
    if isinstance(test, (int, np.integer)) and not isinstance(test, bool) and test >= 1:
        return int(test)
    if not isinstance(test, (int, float)) or not 0.0 < float(test) < 1.0:
        raise ValueError(f"expected test as a fraction in (0, 1) or a row count >= 1, "
                         f"got {test!r}")
    return math.floor(float(test) * n_rows)


def run_forecast(
    task: Forecaster, series: Any, *, out: PathLike, test: float | int = 0.2,
    config: Mapping[str, Any] | None = None, data: str = "",
) -> Run:
    """Fit ``task`` on the series before its last ``test`` part, backtest that part
    (rolling origin, one forecast per step) against the naive and seasonal-naive
    forecasts, and write the report to ``out``."""
    folder = _prepare_out(out)
    frame = _to_frame(series)
    n_test = _test_rows(len(frame), test)
    if n_test >= len(frame):
        raise ValueError(f"expected fewer test rows than the series' {len(frame)}, got {n_test}")
    task.fit(frame.iloc[: len(frame) - n_test])
    bt = task.backtest(frame, test=n_test)
    metrics = {"task": "forecaster", "data": data, **bt.metrics, **_common(task)}
    _write(folder, task, metrics, {"data": data, "test": n_test, **dict(config or {})})
    _save_series(folder, frame, n_test)
    plot_forecast(bt, folder / "forecast.png",
                  title=f"{task.cell.upper()} forecast vs actual ({data or 'held-out part'})")
    return Run(folder, task, metrics)


def _save_series(folder: Path, frame: pd.DataFrame, n_test: int) -> None:
    arrays: dict[str, Any] = {
        "kind": np.array("forecaster"),
        "values": frame.to_numpy(np.float64),
        "columns": np.array([str(c) for c in frame.columns]),
        "n_test": np.array(n_test),
    }
    if isinstance(frame.index, pd.DatetimeIndex):
        arrays["index_ns"] = frame.index.as_unit("ns").asi8
    np.savez_compressed(folder / HELDOUT_FILE, **arrays)


def _load_series(held: Mapping[str, Any]) -> pd.DataFrame:
    index = None
    if "index_ns" in held:
        index = pd.DatetimeIndex(pd.to_datetime(held["index_ns"], unit="ns"))
    return pd.DataFrame(held["values"], columns=[str(c) for c in held["columns"]], index=index)


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
) -> Run:
    """Fit on the training part, score the test part (with the majority-class and
    non-recurrent baselines) and write the report to ``out``."""
    folder = _prepare_out(out)
    task.fit(X_train, y_train)
    scores = task.evaluate(X_test, y_test)
    metrics = {"task": "classifier", "data": data, **scores,
               "n_train": int(len(y_train)), **_common(task)}
    _write(folder, task, metrics, {"data": data, **dict(config or {})})
    x_arr = np.array([str(t) for t in X_test]) if task.mode_ == "text" else np.asarray(X_test)
    np.savez_compressed(folder / HELDOUT_FILE, kind=np.array("classifier"), X=x_arr,
                        y=np.asarray(y_test))
    plot_confusion_matrix(scores["confusion_matrix"], scores["labels"],
                          folder / "confusion_matrix.png",
                          title=f"Confusion matrix (held-out), accuracy "
                                f"{scores['accuracy']:.3f}")
    return Run(folder, task, metrics)


# -- text -------------------------------------------------------------------------------------
def run_text(
    task: TextGenerator, text: str, *, out: PathLike, test: float = 0.1,
    config: Mapping[str, Any] | None = None, data: str = "", seed_text: str = "ROMEO:",
    sample_length: int = 500, temperature: float = 0.8, top_k: int | None = None,
    random_state: int | None = 0,
) -> Run:
    """Fit on all but the last ``test`` fraction of ``text``, score bits per character
    on that part, write a sample and the report to ``out``."""
    folder = _prepare_out(out)
    if not isinstance(text, str):
        raise TypeError(f"expected the text as a str, got {type(text).__name__}")
    n_test = math.floor(float(test) * len(text))
    if not 0 < n_test < len(text):
        raise ValueError(f"expected test in (0, 1) leaving text on both sides, got {test!r}")
    task.fit(text[: len(text) - n_test])
    held = text[len(text) - n_test :]
    scores = task.evaluate(held)
    sample = task.generate(seed_text, sample_length, temperature=temperature, top_k=top_k,
                           random_state=random_state)
    metrics = {"task": "generator", "data": data, **scores, "sample": seed_text + sample,
               "sample_settings": {"seed": seed_text, "length": sample_length,
                                   "temperature": temperature, "top_k": top_k,
                                   "random_state": random_state},
               **_common(task)}
    _write(folder, task, metrics, {"data": data, "test_chars": n_test, **dict(config or {})})
    np.savez_compressed(folder / HELDOUT_FILE, kind=np.array("generator"), text=np.array(held))
    (folder / "sample.txt").write_text(seed_text + sample + "\n", encoding="utf-8")
    plot_text_sample(seed_text, sample, folder / "sample.png",
                     title=f"Sample, temperature {temperature}")
    return Run(folder, task, metrics)


# -- reloading --------------------------------------------------------------------------------
def load_heldout(folder: PathLike) -> dict[str, Any]:
    """The arrays of a run's ``heldout.npz`` (read with ``allow_pickle=False``)."""
    path = Path(folder) / HELDOUT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"expected {HELDOUT_FILE} in the run folder {os.fspath(folder)!r}")
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def heldout_data(task: Task, held: Mapping[str, Any]) -> Any:
    """The held-out data in the form the task's ``evaluate`` takes."""
    if isinstance(task, Forecaster):
        return _load_series(held), int(held["n_test"])
    if isinstance(task, SequenceClassifier):
        X = held["X"]
        return ([str(t) for t in X] if task.mode_ == "text" else X), held["y"]
    if isinstance(task, TextGenerator):
        return str(held["text"])
    raise TypeError(f"expected a task, got {type(task).__name__}")  # pragma: no cover


def evaluate_run(folder: PathLike) -> dict[str, Any]:
    """Reload a run and recompute its held-out metrics (the same keys as ``metrics.json``)."""
    task = load_task(folder)
    data = heldout_data(task, load_heldout(folder))
    if isinstance(task, Forecaster):
        series, n_test = data
        return {"task": "forecaster", **task.evaluate(series, test=n_test)}
    if isinstance(task, SequenceClassifier):
        X, y = data
        return {"task": "classifier", **task.evaluate(X, y)}
    assert isinstance(task, TextGenerator)
    return {"task": "generator", **task.evaluate(data)}


def read_metrics(folder: PathLike) -> dict[str, Any]:
    """A run's ``metrics.json``."""
    path = Path(folder) / METRICS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"expected {METRICS_FILE} in {os.fspath(folder)!r}")
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


# -- diagnostics ------------------------------------------------------------------------------
def task_batch(task: Task, held: Mapping[str, Any], samples: int = 32
               ) -> tuple[Any, Any, Any]:
    """A batch of a run's held-out data as network inputs, targets and a per-sample loss
    ``loss(y_true, y_pred) -> (batch,)``, for :func:`rnnkit.tasks.gradient_norms`: the
    cross-entropy of the class (classifier), the squared error of the forecast
    (forecaster), the cross-entropy of the last character of each sequence (generator)."""
    from torch import Tensor

    samples = max(1, int(samples))
    if isinstance(task, SequenceClassifier):
        X, y = heldout_data(task, held)
        X, y = X[:samples], y[:samples]
        x = task._prepare(X, fitting=False)
        ids = task._encode_labels(y)

        def ce(y_true: Tensor, y_pred: Tensor) -> Tensor:
            p = y_pred.gather(1, y_true.long().reshape(-1, 1)).squeeze(1)
            return -torch.log(p.clamp_min(1e-12))

        return x, ids, ce
    if isinstance(task, Forecaster):
        series, n_test = heldout_data(task, held)
        values = series[task.inputs_].to_numpy(np.float64)
        first = max(len(values) - n_test - 1, task.window - 1)
        origins = np.arange(first, len(values) - task.horizon)[:samples]
        scaled = task._scale(values)
        x = np.stack([scaled[t - task.window + 1 : t + 1] for t in origins]).astype(np.float32)
        h = np.arange(1, task.horizon + 1)
        direct = task.strategy.lower() == "direct"
        y = scaled[origins[:, None] + h[None, :], 0] if direct else scaled[origins + 1]
        if task.residual:
            y = y - (x[:, -1, 0:1] if direct else x[:, -1, :])
        width = y.shape[1]

        def se(y_true: Tensor, y_pred: Tensor) -> Tensor:
            return ((y_pred[:, :width] - y_true.to(y_pred.dtype)) ** 2).mean(dim=1)

        return x, y.astype(np.float32), se
    if isinstance(task, TextGenerator):
        from ..data import next_char_pairs

        ids = task.vocab_.encode(heldout_data(task, held))
        xs, ys = next_char_pairs(ids, task.seq_length)
        x, y = np.array(xs[:samples]), np.array(ys[:samples])

        def token_ce(y_true: Tensor, y_pred: Tensor) -> Tensor:
            # the loss of the last prediction only: how far back its gradient reaches
            logp = torch.log_softmax(y_pred[:, -1], dim=-1)  # (batch, vocab)
            return -logp.gather(1, y_true[:, -1].long().unsqueeze(-1)).squeeze(-1)

        return x, y, token_ce
    raise TypeError(f"expected a task, got {type(task).__name__}")  # pragma: no cover


def inspect_run(folder: PathLike, *, out: PathLike | None = None, samples: int = 32
                ) -> dict[str, Any]:
    """Gradient norms per input step and mean gate activations for a batch of a run's
    held-out data; writes ``gradients.png``, ``gates.png`` and ``inspect.json`` to ``out``
    (default: the run folder) and returns the figures."""
    from ._inspect import gate_activations, gradient_norms
    from ._report import plot_gates, plot_gradient_norms

    task = load_task(folder)
    x, y, loss = task_batch(task, load_heldout(folder), samples)
    grads = gradient_norms(task.model_, x, y, loss)
    gates = gate_activations(task.model_, x)
    target = Path(out) if out is not None else Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    result = {"gradient_norms": grads, "gates": gates, "samples": int(len(x))}
    (target / "inspect.json").write_text(to_json(result) + "\n", encoding="utf-8")
    plot_gradient_norms(grads, target / "gradients.png")
    plot_gates(gates, target / "gates.png")
    result["files"] = [str(target / n) for n in ("gradients.png", "gates.png", "inspect.json")]
    return result
