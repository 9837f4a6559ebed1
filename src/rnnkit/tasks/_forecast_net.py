"""The forecaster's network and the arrays it reads.

Inputs (scaled; ``w`` = window, ``H`` = the steps the network forecasts at once: the
horizon for the direct strategy, 1 for the recursive one):

* ``window`` ``(n, w, 1 + P + F [+ 1])``: per step the target, the past covariates, the
  future covariates and, with masked padding, an indicator that is 1 on real rows. A
  padded row is all zeros, so ``Masking(0.0)`` masks exactly the padding and the
  recurrent layers keep their states over it;
* ``future`` ``(n, H, F)``: the future covariates of the steps forecast (the network reads
  their known values);
* ``static`` ``(n, S)``: numeric static covariates (standardised across series);
* ``codes`` ``(n, C)``: categorical static covariates, each offset into one shared
  ``Embedding`` table (``static_embedding`` numbers per category).

With only the window, the network is ``[Masking] -> recurrent layers -> Dense`` (a
``Sequential``). With more inputs, the last recurrent output is concatenated with the
flattened future covariates, the static values and the embeddings, and the head is
``Dense(out)(z) + Dense(out)(Dense(units, relu)(z))``: a linear path and a non-linear one,
so a covariate may shift or scale the forecast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..data import Panel, WindowIndex, gather
from ..layers import Add, Concatenate, Dense, Embedding, Flatten, Input, Masking
from ..model import Model, Sequential

__all__ = ["NetShape", "build_network", "window_arrays"]


@dataclass(frozen=True)
class NetShape:
    """The sizes of the network's inputs (see the module docs)."""

    window: int
    n_past: int
    n_future: int
    n_static: int
    categories: tuple[int, ...]
    steps: int
    masked: bool
    static_embedding: int = 4

    @property
    def n_window(self) -> int:
        """Features per window step."""
        return 1 + self.n_past + self.n_future + int(self.masked)

    @property
    def plain(self) -> bool:
        """Whether the window is the only input."""
        return not (self.n_future or self.n_static or self.categories)


def build_network(shape: NetShape, hidden: list[Any], n_out: int, units: int) -> Any:
    """The network for ``shape``: ``hidden`` recurrent (and other) layers, then the head
    of ``n_out`` values (``units``: width of the non-linear head path)."""
    front = [Masking(0.0)] if shape.masked else []
    if shape.plain:
        return Sequential([Input((shape.window, shape.n_window)), *front, *hidden,
                           Dense(n_out)], name="forecaster")
    window = Input((shape.window, shape.n_window), name="window")
    h = window
    for layer in [*front, *hidden]:
        h = layer(h)  # (n, units) after the last recurrent layer
    inputs, parts = [window], [h]
    if shape.n_future:
        future = Input((shape.steps, shape.n_future), name="future")
        inputs.append(future)
        parts.append(Flatten()(future))  # (n, H * F)
    if shape.n_static:
        static = Input((shape.n_static,), name="static")
        inputs.append(static)
        parts.append(static)
    if shape.categories:
        codes = Input((len(shape.categories),), name="codes", dtype="int64")
        inputs.append(codes)
        table = Embedding(int(sum(shape.categories)), shape.static_embedding)
        parts.append(Flatten()(table(codes)))  # (n, C * embedding)
    z = Concatenate()(parts)
    out = Add()([Dense(n_out)(z), Dense(n_out)(Dense(units, activation="relu")(z))])
    return Model(inputs, out, name="forecaster")


def category_offsets(shape: NetShape) -> NDArray[np.int64]:
    """Where each categorical covariate's codes start in the shared embedding table."""
    return np.concatenate([[0], np.cumsum(shape.categories)[:-1]]).astype(np.int64) \
        if shape.categories else np.zeros(0, np.int64)


def window_arrays(panel: Panel, series: NDArray[np.int64], cut: NDArray[np.int64],
                  shape: NetShape, steps: int, future: NDArray[np.float64] | None = None
                  ) -> tuple[list[NDArray[Any]], NDArray[np.float64]]:
    """Network inputs for forecasts of ``series`` made after their first ``cut`` rows of
    the (scaled) ``panel``, with the future covariates of the ``steps`` rows after them,
    and those rows' targets ``(n, steps)``. ``future`` ``(n, steps, F)``: the future
    covariates when the rows are not in the panel (forecasts after its end)."""
    steps = 0 if future is not None else steps
    batch = gather(panel, WindowIndex(series, cut - shape.window), shape.window, steps)
    w = shape.window
    cols = [batch.target[:, :, None], batch.past, batch.future[:, :w]]
    if shape.masked:
        cols.append(batch.mask[:, :, None].astype(np.float64))
    x = np.concatenate(cols, axis=2).astype(np.float32)  # (n, w, 1 + P + F [+ 1])
    inputs: list[NDArray[Any]] = [x]
    if shape.n_future:
        ahead = batch.future[:, w:] if future is None else future  # (n, steps, F)
        inputs.append(np.asarray(ahead, dtype=np.float32))
    if shape.n_static:
        inputs.append(batch.static.astype(np.float32))
    if shape.categories:
        inputs.append(batch.static_codes + category_offsets(shape)[None, :])
    y = batch.y if future is None else np.zeros((len(series), 0))
    return inputs, y
