"""PNG plots of the run reports (matplotlib's object API: no pyplot, no global state).

Figures are drawn on ``matplotlib.figure.Figure`` objects and written with ``savefig``,
which renders PNG with the Agg canvas; the CLI additionally selects the Agg backend, so
nothing here opens a window or depends on a display.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "plot_confusion_matrix",
    "plot_forecast",
    "plot_gates",
    "plot_gradient_norms",
    "plot_learning_curves",
    "plot_text_sample",
]

PathLike = str | os.PathLike[str]


def _figure(width: float = 8.0, height: float = 4.5) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(fig: Any, path: PathLike) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


def plot_learning_curves(history: Mapping[str, Sequence[float]], path: PathLike,
                         title: str = "Learning curves") -> Path:
    """Training and validation loss per epoch (and accuracy, when logged)."""
    keys = [k for k in history if not k.startswith("val_")]
    metric_keys = [k for k in keys if k != "loss"]
    fig = _figure(10.0 if metric_keys else 7.0, 4.0)
    axes = fig.subplots(1, 2 if metric_keys else 1, squeeze=False)[0]
    for ax, names in zip(axes, (["loss"], metric_keys), strict=False):
        for name in names:
            for key, style in ((name, "-"), (f"val_{name}", "--")):
                values = history.get(key)
                if values:
                    epochs = np.arange(1, len(values) + 1)
                    ax.plot(epochs, values, style, marker="o", markersize=3, label=key)
        ax.set_xlabel("epoch")
        ax.set_ylabel(names[0] if names else "")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return _save(fig, path)


def plot_forecast(backtest: Any, path: PathLike, *, context: int = 200, max_points: int = 400,
                  title: str = "Forecast vs actual (held-out part)") -> Path:
    """A backtest of one series: the actual series (with ``context`` steps of history),
    the model's, the naive and the seasonal-naive forecasts at step 1 of the last
    ``max_points`` origins and, when the model has quantiles, its step-1 interval. With a
    horizon over 1, the top panel adds the whole horizon forecast from the last origin and a
    second panel shows the MAE at every horizon step of each forecast over the same origins
    (step 1 of it is the MAE in the top legend)."""
    origins = np.asarray(backtest.origins)[-max_points:]
    n, horizon = len(origins), int(np.asarray(backtest.actual).shape[1])
    fig = _figure(11.0, 7.5 if horizon > 1 else 4.5)
    axes = fig.subplots(2 if horizon > 1 else 1, 1, squeeze=False)[:, 0]
    _plot_step_one(axes[0], backtest, origins, context)
    m = backtest.metrics
    axes[0].set_title(title + (f", step 1 of {horizon} at each origin" if horizon > 1 else ""))
    if horizon > 1:
        _plot_last_path(axes[0], backtest, int(origins[-1]))
        _plot_step_errors(axes[1], backtest, n, int(m["seasonal_period"]))
    axes[0].legend(loc="best", fontsize=8)
    return _save(fig, path)


def _forecasts(backtest: Any, m: int) -> list[tuple[str, np.ndarray, dict[str, Any]]]:
    """(label, forecasts ``(n, horizon)``, line style) of the model and the baselines."""
    return [("model", np.asarray(backtest.forecast), {"color": "tab:blue", "linewidth": 1.2}),
            ("naive", np.asarray(backtest.naive),
             {"color": "tab:orange", "linewidth": 0.9, "alpha": 0.8}),
            (f"seasonal naive m={m}", np.asarray(backtest.seasonal_naive),
             {"color": "tab:green", "linewidth": 0.9, "alpha": 0.8})]


def _plot_step_one(ax: Any, backtest: Any, origins: np.ndarray, context: int) -> None:
    """Actual values and every forecast's step 1 at ``origins`` (legend: their MAE)."""
    n, pos = len(origins), origins + 1  # the forecast step h = 1
    y = np.asarray(backtest.history, dtype=np.float64)
    span = np.arange(max(int(pos[0]) - context, 0), int(pos[-1]) + 1)
    xs = _times(backtest.index)
    ax.plot(xs(span), y[span], color="black", linewidth=1.2, label="actual")
    q = backtest.quantiles
    if q is not None and q.shape[-1] >= 2:
        ax.fill_between(xs(pos), q[-n:, 0, 0], q[-n:, 0, -1], color="tab:blue", alpha=0.2,
                        label="interval, step 1")
    actual = np.asarray(backtest.actual)[-n:, 0]
    for name, forecast, style in _forecasts(backtest, backtest.metrics["seasonal_period"]):
        mae = np.abs(actual - forecast[-n:, 0]).mean()
        ax.plot(xs(pos), forecast[-n:, 0], label=f"{name}, step 1 (MAE {mae:.3g})", **style)
    ax.axvline(xs(np.array([int(pos[0])]))[0], color="grey", linestyle=":", linewidth=1)
    ax.set_ylabel(str(backtest.metrics.get("target", "value")))
    ax.grid(alpha=0.3)


def _plot_last_path(ax: Any, backtest: Any, origin: int) -> None:
    """The model's forecast of every step from the last origin (and its interval)."""
    xs = _times(backtest.index)
    h = np.asarray(backtest.actual).shape[1]
    steps = origin + 1 + np.arange(h)
    if backtest.index is not None and steps[-1] >= len(backtest.index):
        return  # the last horizon runs past the series' timestamps
    q = backtest.quantiles
    if q is not None and q.shape[-1] >= 2:
        ax.fill_between(xs(steps), q[-1, :, 0], q[-1, :, -1], color="tab:purple", alpha=0.15,
                        label=f"interval, steps 1-{h} from the last origin")
    ax.plot(xs(steps), np.asarray(backtest.forecast)[-1], color="tab:purple", marker="o",
            markersize=3, linewidth=1.2, label=f"model, steps 1-{h} from the last origin")


def _plot_step_errors(ax: Any, backtest: Any, n: int, m: int) -> None:
    """MAE at every horizon step of each forecast over the last ``n`` origins."""
    actual = np.asarray(backtest.actual)[-n:]
    steps = np.arange(1, actual.shape[1] + 1)
    for name, forecast, style in _forecasts(backtest, m):
        mae = np.abs(actual - forecast[-n:]).mean(axis=0)  # (horizon,)
        ax.plot(steps, mae, marker="o", markersize=3, label=f"{name} (mean {mae.mean():.3g})",
                **style)
    ax.set_xlabel("horizon step")
    ax.set_ylabel(f"MAE over {n} origins")
    ax.set_xticks(steps)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)


def _times(index: Any) -> Any:
    """Positions -> the x values drawn (timestamps when the series has them)."""

    def xs(p: np.ndarray) -> Any:
        return index[p] if index is not None else p

    return xs


def plot_confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str],
                          path: PathLike, title: str = "Confusion matrix (held-out)") -> Path:
    """Counts with rows = true class and columns = predicted class (colour: row share)."""
    cm = np.asarray(matrix, dtype=np.float64)
    k = len(labels)
    size = max(4.0, 0.6 * k + 2.0)
    fig = _figure(size + 1.0, size)
    ax = fig.subplots()
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    im = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, label="share of the true class")
    ax.set_xticks(range(k), labels=[str(lab) for lab in labels], rotation=45, ha="right")
    ax.set_yticks(range(k), labels=[str(lab) for lab in labels])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 30:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=8,
                        color="white" if share[i, j] > 0.5 else "black")
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def plot_text_sample(seed: str, sample: str, path: PathLike, *, title: str = "Sample",
                     width: int = 90, max_lines: int = 40) -> Path:
    """The seed (bold) and the generated text, as a monospace picture."""
    lines: list[str] = []
    for raw in (seed + sample).split("\n"):
        lines += textwrap.wrap(raw, width, replace_whitespace=False, drop_whitespace=False) or [""]
    lines = lines[:max_lines]
    height = 0.22 * len(lines) + 0.9  # inches: a title band of 0.5 in above the text
    fig = _figure(10.0, height)
    fig.text(0.5, 1.0 - 0.12 / height, f"{title} (seed: {seed!r})", fontsize=10, va="top",
             ha="center")
    fig.text(0.01, 1.0 - 0.5 / height, "\n".join(lines), family="monospace", fontsize=9,
             va="top", ha="left")
    return _save(fig, path)


def plot_gradient_norms(norms: Mapping[str, Any], path: PathLike) -> Path:
    """``||dL/dx_t||`` per time step (log scale): how much each input step can still move
    the loss; a steep fall towards early steps is the vanishing gradient."""
    values = np.asarray(norms["per_step"], dtype=np.float64)
    fig = _figure(8.0, 4.0)
    ax = fig.subplots()
    ax.semilogy(np.arange(len(values)), np.maximum(values, 1e-30), marker=".")
    ax.set_xlabel("time step t (input)")
    ax.set_ylabel("mean ||dL / dx_t||")
    ax.grid(alpha=0.3, which="both")
    ax.set_title(f"Gradient of the loss w.r.t. the input ({norms.get('wrt', 'inputs')})")
    return _save(fig, path)


def plot_gates(gates: Mapping[str, Mapping[str, Sequence[float]]], path: PathLike) -> Path:
    """Mean gate activation over time, one panel per gated layer."""
    names = list(gates)
    fig = _figure(8.0, 3.0 * max(len(names), 1))
    axes = fig.subplots(max(len(names), 1), 1, squeeze=False)[:, 0]
    if not names:
        axes[0].text(0.5, 0.5, "no LSTM/GRU layer", ha="center", va="center")
    for ax, name in zip(axes, names, strict=False):
        for gate, values in gates[name].items():
            ax.plot(np.arange(len(values)), values, label=gate)
        ax.set_ylim(0.0, 1.0)
        ax.set_xlabel("time step")
        ax.set_ylabel("mean activation")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)
