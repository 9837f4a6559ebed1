"""Scikit-learn-style tasks on top of rnnkit models, with run reports and diagnostics.

* :class:`Forecaster`: forecast the next ``horizon`` steps of a series (LSTM, GRU, RNN,
  CNN-LSTM; direct or recursive; quantile intervals); :meth:`Forecaster.backtest` scores a
  rolling origin against the naive and seasonal-naive forecasts (MAE, RMSE, MAPE, MASE).
* :class:`SequenceClassifier`: one label (any dtype) per sequence or text; accuracy,
  per-class precision/recall/F1 and the confusion matrix beside the majority-class and a
  non-recurrent baseline.
* :class:`TextGenerator`: character-level language model; temperature / top-k sampling
  streamed one character at a time with the recurrent states carried; bits per character.

Conventions (scikit-learn): ``__init__`` stores the arguments, ``fit`` returns ``self``,
learned state ends in ``_``, ``get_params`` / ``set_params`` / :func:`clone`. Training uses
``model.fit`` with Adam and gradient-norm clipping ``clipnorm=1.0`` by default (``None``
turns it off), early stopping on a validation part, and ``random_state`` seeding.

Runs: :func:`run_forecast`, :func:`run_classification`, :func:`run_text` and
:func:`run_demo` train, score and write a report folder that :func:`load_task`,
:func:`evaluate_run` and :func:`inspect_run` read back (JSON + safetensors, never pickle).
Diagnostics: :func:`gradient_norms` and :func:`gate_activations`.

>>> from rnnkit.tasks import Forecaster, clone
>>> f = Forecaster("gru", window=24, horizon=6)
>>> clone(f).get_params()["cell"]
'gru'
"""

from ._base import (
    InspectBatch,
    NotFittedError,
    PredictRequest,
    Task,
    build_layer,
    clone,
    load_task,
    task_class,
    to_json,
)
from ._baselines import (
    STATISTICAL_METHODS,
    majority_class,
    naive_forecast,
    panel_baselines,
    seasonal_naive_forecast,
    statistical_forecast,
)
from ._classifier import SequenceClassifier
from ._config import check_run_config, load_config, train_from_config
from ._demos import DEMOS, Demo, demo_data, run_demo
from ._files import read_labelled, read_labelled_npz, read_panel_csv, read_series_csv
from ._forecaster import Backtest, Forecaster, future_index, infer_seasonal_period
from ._generator import StatefulRunner, TextGenerator, sample_from_logits
from ._inspect import gate_activations, gradient_norms, run_gates
from ._lock import run_lock
from ._metrics import (
    classification_report,
    confusion_matrix,
    forecast_metrics,
    mae,
    mape,
    mase,
    mase_scale,
    panel_metrics,
    rmse,
    smape,
)
from ._runs import (
    Run,
    evaluate_run,
    headline_lines,
    inspect_run,
    load_heldout,
    machine_info,
    new_run_dir,
    read_metrics,
    run_classification,
    run_forecast,
    run_task,
    run_text,
    split_classification,
)
from ._scale import distributed_rank, launch_distributed
from ._schedule import CosineBudget
from ._training import TimeLimit, TrainingConfig, TrainingResult, train_model

__all__ = [
    "check_run_config",
    "distributed_rank",
    "launch_distributed",
    "DEMOS",
    "Backtest",
    "CosineBudget",
    "Demo",
    "Forecaster",
    "InspectBatch",
    "NotFittedError",
    "PredictRequest",
    "Run",
    "SequenceClassifier",
    "StatefulRunner",
    "Task",
    "TextGenerator",
    "TimeLimit",
    "TrainingConfig",
    "TrainingResult",
    "build_layer",
    "classification_report",
    "clone",
    "confusion_matrix",
    "demo_data",
    "evaluate_run",
    "forecast_metrics",
    "future_index",
    "gate_activations",
    "gradient_norms",
    "headline_lines",
    "infer_seasonal_period",
    "inspect_run",
    "load_config",
    "load_heldout",
    "load_task",
    "machine_info",
    "mae",
    "majority_class",
    "mape",
    "mase",
    "mase_scale",
    "panel_baselines",
    "panel_metrics",
    "naive_forecast",
    "new_run_dir",
    "read_labelled",
    "read_labelled_npz",
    "run_lock",
    "read_metrics",
    "read_panel_csv",
    "read_series_csv",
    "rmse",
    "smape",
    "statistical_forecast",
    "STATISTICAL_METHODS",
    "run_classification",
    "run_demo",
    "run_forecast",
    "run_gates",
    "run_task",
    "run_text",
    "sample_from_logits",
    "seasonal_naive_forecast",
    "split_classification",
    "task_class",
    "to_json",
    "train_from_config",
    "train_model",
]
