"""The forecaster's constructor arguments and their checks: the first layer of
:class:`~rnnkit.tasks.Forecaster` (whose docstring lists the arguments); the cells it
builds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..layers import GRU, LSTM, IndRNN, SimpleRNN
from ._base import Task
from ._baselines import STATISTICAL_METHODS
from ._checks import check_choice, check_float, check_int, check_units
from ._likelihood import LIKELIHOODS, Head
from ._training import TrainingConfig

__all__ = ["CELLS", "RNN_CELLS", "ForecasterParams"]

RNN_CELLS: dict[str, Any] = {"lstm": LSTM, "gru": GRU, "rnn": SimpleRNN, "indrnn": IndRNN}
CELLS = (*RNN_CELLS, "cnn-lstm")


class ForecasterParams(Task):
    """The Forecaster's arguments (scikit-learn style: stored as given), their checks
    and what they say about the data; see :class:`~rnnkit.tasks.Forecaster`."""

    tuple_params = ("units", "quantiles", "past_covariates", "future_covariates",
                    "static_covariates", "ignore")
    training_defaults = TrainingConfig(epochs=100, batch_size=32, learning_rate=1e-3,
                                       validation=0.15, patience=10)

    def __init__(
        self,
        cell: str = "lstm",
        window: int | str = "auto",
        horizon: int = 1,
        *,
        units: int | Sequence[int] = (64,),
        layers: Sequence[dict[str, Any]] | None = None,
        strategy: str = "direct",
        target: str | int | None = None,
        id_column: str | None = None,
        time_column: str | None = None,
        past_covariates: Sequence[str] | None = None,
        future_covariates: Sequence[str] | None = None,
        static_covariates: Sequence[str] | None = None,
        ignore: Sequence[str] | None = None,
        calendar: bool = False,
        pad_short: bool = False,
        freq: str | None = None,
        static_embedding: int = 4,
        residual: bool | str = "auto",
        quantiles: Sequence[float] | None = None,
        likelihood: str | None = None,
        seasonal_period: int | None = None,
        baseline: str | None = "theta",
        scaler: str | None = "standard",
        dropout: float = 0.0,
        filters: int = 64,
        kernel_size: int = 5,
        loss: str = "mse",
        **training: Any,
    ) -> None:
        self.cell = cell
        self.window = window
        self.horizon = horizon
        self.units = units
        self.layers = layers
        self.strategy = strategy
        self.target = target
        self.id_column = id_column
        self.time_column = time_column
        self.past_covariates = past_covariates
        self.future_covariates = future_covariates
        self.static_covariates = static_covariates
        self.ignore = ignore
        self.calendar = calendar
        self.pad_short = pad_short
        self.freq = freq
        self.static_embedding = static_embedding
        self.residual = residual
        self.quantiles = quantiles
        self.likelihood = likelihood
        self.seasonal_period = seasonal_period
        self.baseline = baseline
        self.scaler = scaler
        self.dropout = dropout
        self.filters = filters
        self.kernel_size = kernel_size
        self.loss = loss
        self._store_training(training)

    # -- validation ---------------------------------------------------------------------------
    def _check_params(self) -> None:
        self.training_config().check()
        check_choice("cell", self.cell, CELLS)
        if self.window != "auto":
            check_int("window", self.window, 1)
        check_int("horizon", self.horizon, 1)
        check_choice("strategy", self.strategy, ("direct", "recursive"))
        if self.layers is None:
            check_units(self.units)
        check_float("dropout", self.dropout, 0.0, 1.0)
        if self.scaler is not None:
            check_choice("scaler", self.scaler, ("standard",))
        check_choice("loss", self.loss, ("mse", "mae"))
        check_int("static_embedding", self.static_embedding, 1)
        if self.seasonal_period is not None:
            check_int("seasonal_period", self.seasonal_period, 1)
        if self.baseline is not None:
            check_choice("baseline", self.baseline, tuple(STATISTICAL_METHODS))
        if self.quantiles is not None:
            qs = list(self.quantiles)
            if not qs:
                raise ValueError("expected quantiles as a non-empty list or None, got []")
            for q in qs:
                check_float("quantile", q, 0.0, 1.0)
                if q <= 0:
                    raise ValueError(f"expected quantiles in (0, 1), got {q}")
            if self.strategy == "recursive":
                raise ValueError("expected strategy='direct' with quantiles (intervals are "
                                 "not propagated through the recursion), got 'recursive'")
        if isinstance(self.residual, str):
            check_choice("residual", self.residual, ("auto", "seasonal", "combined"))
            if self.residual != "auto" and not self._direct:
                raise ValueError(f"expected strategy='direct' with residual="
                                 f"{self.residual!r}, got 'recursive'")
            if self.residual == "combined" and self.likelihood is not None:
                raise ValueError(f"expected likelihood=None with residual='combined' (a "
                                 f"mean of two forecasts), got {self.likelihood!r}")
        if self.likelihood is not None:
            check_choice("likelihood", self.likelihood, tuple(LIKELIHOODS))
            if self.strategy == "recursive":
                raise ValueError("expected strategy='direct' with a likelihood, got "
                                 "'recursive'")
            if self._head.counts and self.residual not in (False, "auto"):
                raise ValueError(f"expected residual=False with likelihood="
                                 f"{self.likelihood!r} (a distribution of counts), got "
                                 f"residual={self.residual!r}")
        if self.cell == "cnn-lstm" and self.layers is None:
            check_int("filters", self.filters, 1)
            check_int("kernel_size", self.kernel_size, 1)
            if self.window != "auto" and self.kernel_size > int(self.window):
                raise ValueError(f"expected kernel_size <= window ({self.window}), "
                                 f"got {self.kernel_size}")
            if self.pad_short:
                raise ValueError("expected a recurrent cell with pad_short=True (Conv1D "
                                 "reads padding as data), got cell='cnn-lstm'")

    @property
    def _direct(self) -> bool:
        return self.strategy.lower() == "direct"

    @property
    def _head(self) -> Head:
        """The distribution head (a likelihood is set)."""
        return LIKELIHOODS[str(self.likelihood)]
