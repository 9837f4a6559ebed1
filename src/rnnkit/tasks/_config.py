"""Run configs in TOML for ``rnnkit train CONFIG.toml``.

A config names the task, the data, the model and the training::

    task = "classifier"              # "classifier" | "forecaster" | "generator"

    [data]
    dataset = "activity"             # a bundled dataset (demo data), or:
    # path = "train.npz"             #   .npz (X, y) | .csv (series) | .txt (text),
    #                                #   relative to the config file
    # test_path = "test.npz"         # classifier: held-out file (else a stratified split)
    test = 0.2                       # held-out fraction (forecaster: last rows; text: tail)
    # target = "load_mw"             # forecaster: column to forecast; id_column = "store" for
    #                                #   a long table of many series; past_covariates = [...],
    #                                #   future_covariates, static_covariates, ignore, calendar
    # time_column = "time"           # forecaster CSV: timestamps column

    [model]                          # task parameters describing the network
    layers = [
      { class = "LSTM", units = 32, return_sequences = true },
      { class = "LSTM", units = 32 },
    ]                                # or: cell = "lstm", units = [32, 32]

    [training]                       # task parameters of the training
    epochs = 60
    batch_size = 32
    learning_rate = 0.002
    clipnorm = 1.0                   # the default; clipnorm = false turns clipping off
    patience = 10
    random_state = 0

    [sample]                         # generator only: the sample in the report
    seed = "ROMEO:"
    length = 500
    temperature = 0.8

``[model]`` and ``[training]`` are merged into the task's constructor arguments (an unknown
key is an error naming the valid ones); the head (softmax / forecast ``Dense``) and, for
text, the input embedding are added by the task.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import _bounded
from ..data import read_text
from ..errors import ConfigFileError
from ._base import Task
from ._classifier import SequenceClassifier
from ._demos import DATA_NAMES, demo_data
from ._files import read_labelled, read_panel_csv, read_series_csv
from ._forecaster import Forecaster
from ._generator import TextGenerator
from ._resume import STORED_FILE, check_resume
from ._runs import (
    Run,
    copy_config,
    run_classification,
    run_forecast,
    run_text,
    split_classification,
)


def _toml() -> Any:
    """The TOML reader (``tomllib``, Python 3.11+)."""
    import tomllib

    return tomllib


__all__ = ["TASKS", "check_run_config", "load_config", "train_from_config"]

TASKS: dict[str, type[Task]] = {
    "classifier": SequenceClassifier,
    "forecaster": Forecaster,
    "generator": TextGenerator,
}
_SECTIONS = {"task", "data", "model", "training", "sample"}
MAX_CONFIG_BYTES = 1 << 20  #: a run config is a few hundred bytes
#: forecaster constructor arguments that describe the data, allowed in [data]
_FORECAST_DATA_KEYS = ("target", "id_column", "past_covariates", "future_covariates",
                       "static_covariates", "ignore", "calendar", "pad_short")


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a TOML run config (see the module docs).

    Raises :class:`~rnnkit.errors.ConfigFileError` naming the file for anything but a regular
    UTF-8 file of at most :data:`MAX_CONFIG_BYTES` holding valid TOML nested at most
    ``MAX_JSON_DEPTH`` deep with the known sections (``FileNotFoundError`` if missing)."""

    def fail(reason: str) -> ConfigFileError:
        return ConfigFileError(reason, path=path)

    try:
        raw = _bounded.read_file(path, MAX_CONFIG_BYTES, fail)
    except FileNotFoundError:
        raise FileNotFoundError(f"expected a TOML config file, got {os.fspath(path)!r} "
                                "(not found)") from None
    toml = _toml()
    try:
        config = toml.loads(raw.decode("utf-8"))
    except (toml.TOMLDecodeError, UnicodeError, RecursionError) as err:
        raise fail(f"expected valid TOML, got: {type(err).__name__}: {err}") from None
    depth = _bounded.json_depth(config)
    if depth > _bounded.MAX_JSON_DEPTH:
        raise fail(f"expected tables and arrays nested at most {_bounded.MAX_JSON_DEPTH} deep, "
                   f"got {depth}")
    unknown = set(config) - _SECTIONS
    if unknown:
        raise fail(f"expected only the keys/sections {sorted(_SECTIONS)}, got {sorted(unknown)}")
    if config.get("task") not in TASKS:
        raise fail(f"expected task = one of {sorted(TASKS)}, got {config.get('task')!r}")
    for section in ("data", "model", "training", "sample"):
        if not isinstance(config.get(section, {}), dict):
            raise fail(f"expected [{section}] to be a table, got {config[section]!r:.80}")
    if "dataset" not in config.get("data", {}) and "path" not in config.get("data", {}):
        raise fail("expected [data] to name a bundled dataset (dataset = ...) or a file "
                   "(path = ...), got neither")
    return config


def build_task(kind: str, params: Mapping[str, Any]) -> Task:
    """The task of ``kind`` with the given constructor arguments (checked by name)."""
    cls = TASKS[kind]
    task = cls()
    params = dict(params)
    if params.get("clipnorm") is False:  # TOML has no null
        params["clipnorm"] = None
    task.set_params(**params)
    for name in cls.tuple_params:
        value = getattr(task, name)
        if isinstance(value, list):
            setattr(task, name, tuple(value))
    return task


def _resolve(base: Path, value: Any) -> Path:
    p = Path(str(value))
    return p if p.is_absolute() else base / p


def check_run_config(path: str | os.PathLike[str], out: str | os.PathLike[str],
                     checkpoint_dir: str | os.PathLike[str], allow_change: bool = False) -> None:
    """Before resuming ``out`` from ``checkpoint_dir``: refuse a config that differs from the
    stored ``out/config.toml`` (see :mod:`._resume`)."""
    stored = Path(out) / STORED_FILE
    check_resume(Path(out), load_config(stored) if stored.is_file() else None,
                 load_config(path), checkpoint_dir, allow_change)


def train_from_config(path: str | os.PathLike[str], *, out: str | os.PathLike[str],
                      verbose: int | str = 1,
                      checkpoint_dir: str | os.PathLike[str] | None = None,
                      allow_config_change: bool = False) -> Run:
    """Run a TOML config (see the module docs) into the folder ``out``.

    ``checkpoint_dir``: checkpoint every epoch there, and resume from the last complete
    checkpoint when the same run is started again (after a crash or a kill). Resuming with a
    config that differs from the one ``out`` keeps is refused (a ConfigMismatchError naming
    the changed keys) unless ``allow_config_change`` (see :mod:`._resume`)."""
    config = load_config(path)
    if checkpoint_dir is not None:
        check_run_config(path, out, checkpoint_dir, allow_config_change)
    base = Path(path).resolve().parent
    kind = config["task"]
    data = dict(config.get("data", {}))
    params: dict[str, Any] = {**config.get("model", {}), **config.get("training", {})}
    params.setdefault("verbose", verbose)
    if checkpoint_dir is not None:
        params["checkpoint_dir"] = os.fspath(checkpoint_dir)
    test = data.pop("test", None)
    dataset = data.pop("dataset", None)
    file = data.pop("path", None)
    test_path = data.pop("test_path", None)
    time_column = data.pop("time_column", None)
    freq = data.pop("freq", None)
    if kind == "forecaster":
        for key in _FORECAST_DATA_KEYS:
            if key in data:
                params[key] = data.pop(key)
    if data:
        raise ValueError(f"expected [data] keys among dataset, path, test, test_path, "
                         f"{', '.join(_FORECAST_DATA_KEYS)}; got {sorted(data)}")
    if dataset is not None and dataset not in DATA_NAMES:
        raise ValueError(f"expected dataset in {list(DATA_NAMES)}, got {dataset!r}")
    task = build_task(kind, params)
    meta = {"command": "train", "config_file": os.fspath(path)}
    source = f"bundled dataset {dataset!r}" if dataset else f"file {file}"
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    copy_config(path, out_dir)
    if kind == "classifier":
        assert isinstance(task, SequenceClassifier)
        if dataset is not None:
            xtr, ytr, xte, yte = demo_data(dataset)
        else:
            xtr, ytr = read_labelled(_resolve(base, file))
            if test_path is not None:
                xte, yte = read_labelled(_resolve(base, test_path))
            else:
                xtr, ytr, xte, yte = split_classification(
                    xtr, ytr, float(test or 0.2), task.training_config().random_state)
        return run_classification(task, xtr, ytr, xte, yte, out=out_dir, config=meta,
                                  data=source)
    if kind == "forecaster":
        assert isinstance(task, Forecaster)
        if dataset is not None:
            series = demo_data(dataset)
        elif task.id_column is not None:  # a long table of many series
            series = read_panel_csv(_resolve(base, file), task.id_column, time_column)
            task.set_params(time_column=time_column, freq=freq)
        else:
            series = read_series_csv(_resolve(base, file), time_column, freq)
        return run_forecast(task, series, out=out_dir, test=test if test is not None else 0.2,
                            config=meta, data=source)
    assert isinstance(task, TextGenerator)
    text = demo_data(dataset) if dataset is not None else \
        read_text(_resolve(base, file))
    sample = dict(config.get("sample", {}))
    return run_text(task, text, out=out_dir, test=float(test if test is not None else 0.1),
                    config=meta, data=source, seed_text=sample.get("seed", text[:10]),
                    sample_length=sample.get("length", 500),
                    temperature=sample.get("temperature", 0.8),
                    top_k=sample.get("top_k"), random_state=sample.get("random_state", 0))
