"""The recurrent layers beyond Keras's: LayerNormLSTM, LayerNormGRU (haste's), MinGRU, MinLSTM.

They take every option of :class:`RNN` (masks, ``go_backwards``, initial states, ``stateful``,
dropout, ``return_sequences``/``return_state``) and work inside ``Bidirectional``. The min layers
have no recurrent product, hence no ``recurrent_dropout``; a whole sequence runs on the "scan"
engine (parallel over time), one step at a time with ``stateful=True`` or ``layer.cell(x_t,
states)``.
"""

from __future__ import annotations

from typing import Any

from ._base import register
from ._min_cells import MinGRUCell, MinLSTMCell
from ._norm_cells import LayerNormGRUCell, LayerNormLSTMCell
from ._recurrent import CellLayer, split_kwargs


@register
class LayerNormLSTM(CellLayer):
    """haste's layer-normalised LSTM in Keras's layout (see :class:`LayerNormLSTMCell`).

    Weights: kernel (features, 4u), recurrent_kernel (u, 4u), bias (4u,), gamma (2, 4u),
    gamma_h (u,), beta_h (u,). Parameters: ``4u(features + u + 3) + 2u``. States (h, c);
    ``zoneout`` as for :class:`LSTM`.
    """

    def __init__(
        self,
        units: int,
        activation: str | None = "tanh",
        recurrent_activation: str = "sigmoid",
        unit_forget_bias: bool = True,
        **kwargs: Any,
    ) -> None:
        cell, layer = split_kwargs(kwargs)
        super().__init__(
            LayerNormLSTMCell(
                units,
                activation=activation,
                recurrent_activation=recurrent_activation,
                unit_forget_bias=unit_forget_bias,
                **cell,
            ),
            **layer,
        )


@register
class LayerNormGRU(CellLayer):
    """haste's layer-normalised GRU (``reset_after=True`` form; see :class:`LayerNormGRUCell`).

    Weights: kernel (features, 3u), recurrent_kernel (u, 3u), bias (2, 3u), gamma (2, 3u).
    Parameters: ``3u(features + u + 4)``. ``zoneout`` as for :class:`LSTM`.
    """

    def __init__(
        self,
        units: int,
        activation: str | None = "tanh",
        recurrent_activation: str = "sigmoid",
        **kwargs: Any,
    ) -> None:
        cell, layer = split_kwargs(kwargs)
        super().__init__(
            LayerNormGRUCell(
                units, activation=activation, recurrent_activation=recurrent_activation, **cell
            ),
            **layer,
        )


def _no_recurrent_dropout(name: str, layer: dict[str, Any]) -> None:
    rate = layer.get("recurrent_dropout", 0.0)
    if rate:
        raise ValueError(
            f"expected recurrent_dropout=0 for {name} (it has no recurrent product), got {rate!r}"
        )


@register
class MinGRU(CellLayer):
    """minGRU (Feng et al. 2024): ``z = sigmoid(x W_z + b_z)``, ``h = (1 - z) h + z g(x W_h +
    b_h)``. Weights: kernel (features, 2u), bias (2u,). Parameters: ``2u(features + 1)``."""

    def __init__(self, units: int, **kwargs: Any) -> None:
        cell, layer = split_kwargs(kwargs)
        _no_recurrent_dropout("MinGRU", layer)
        super().__init__(MinGRUCell(units, **cell), **layer)


@register
class MinLSTM(CellLayer):
    """minLSTM (Feng et al. 2024): ``h = f/(f + i) h + i/(f + i) g(x W_h + b_h)`` with
    ``f, i = sigmoid(x W_f + b_f), sigmoid(x W_i + b_i)``. Weights: kernel (features, 3u),
    bias (3u,). Parameters: ``3u(features + 1)``."""

    def __init__(self, units: int, **kwargs: Any) -> None:
        cell, layer = split_kwargs(kwargs)
        _no_recurrent_dropout("MinLSTM", layer)
        super().__init__(MinLSTMCell(units, **cell), **layer)
