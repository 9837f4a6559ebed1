"""Recurrent layers: a cell run over a whole sequence with Keras's options.

``forward`` describes the call as a :class:`rnnkit.kernels.RecurrentCall` and hands it to
:func:`rnnkit.kernels.run_recurrent`, the one dispatch point between the layers and the engines.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from .. import kernels
from ._base import Layer, register
from ._cell_loop import cell_config, cell_from_config, cell_weights, run_cell, state_sizes
from ._cell_loop import initial_states as protocol_initial_states
from ._cell_loop import output_size as protocol_output_size
from ._cells import GRUCell, IndRNNCell, LSTMCell, RecurrentCell, SimpleRNNCell

_CELL_ARGS = (
    "units",
    "activation",
    "recurrent_activation",
    "use_bias",
    "kernel_initializer",
    "recurrent_initializer",
    "bias_initializer",
    "unit_forget_bias",
    "reset_after",
    "proj_size",
    "zoneout",
)


def _dropout_mask(shape: tuple[int, ...], rate: float, like: Tensor) -> Tensor:
    keep = 1.0 - rate
    return torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(keep) / keep


def _check_rate(name: str, rate: float) -> float:
    if not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
        raise ValueError(f"expected {name} in [0, 1), got {rate!r}")
    return float(rate)


def _trim_padding(x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Drop the last steps that are masked in every row. A masked step leaves the states as
    they are, so the final output and states are unchanged, and the work follows the longest
    real sequence of the batch (batches bucketed by length then cost their true lengths)."""
    real = mask.any(dim=0)  # (time,)
    if bool(real[-1]) or not bool(real.any()):
        return x, mask
    last = int(real.nonzero().max()) + 1
    return x[:, :last], mask[:, :last]  # (batch, last, features), (batch, last)


@register
class RNN(Layer):
    """Runs ``cell`` over the time axis of a (batch, time, features) input.

    Args mirror Keras 3: ``return_sequences`` gives (batch, time, units) instead of the last
    output (batch, units); ``return_state`` also returns the final states; ``go_backwards`` reads
    the sequence in reverse (outputs stay in that order); ``stateful`` carries the final states of
    one call into the next (same batch size) until :meth:`reset_states`; ``dropout`` and
    ``recurrent_dropout`` draw one mask per sequence for the inputs and the recurrent product
    (shared by the gates, as Keras's default implementation does for input dropout; Keras
    switches to one mask per gate once ``recurrent_dropout > 0``).
    At call time ``mask`` (batch, time) skips steps (state and output carried over) and
    ``initial_state`` gives the starting states. ``engine`` forces an engine (see
    :mod:`rnnkit.kernels`); the default picks the fastest correct one per call.

    ``cell`` is a built-in cell (``LSTMCell``, ``GRUCell``, ``SimpleRNNCell``, ``IndRNNCell``:
    the engines run it, fused where they can) or any cell with Keras's cell protocol (see
    :mod:`rnnkit.layers._cell_loop`; ``StackedRNNCells`` included), which runs on the reference
    loop; such a cell applies its own dropout (``dropout`` here must stay 0).
    """

    supports_masking = True
    cell_class: ClassVar[type[RecurrentCell]]

    def __init__(
        self,
        cell: Any,
        *,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        zero_output_for_mask: bool = False,
        engine: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cell = cell
        self.builtin = isinstance(cell, RecurrentCell)  # the engines' cell kinds
        if not self.builtin:
            state_sizes(cell)  # a clear error for an object that is no cell
        self.dropout = _check_rate("dropout", dropout)
        self.recurrent_dropout = _check_rate("recurrent_dropout", recurrent_dropout)
        if not self.builtin and (self.dropout or self.recurrent_dropout):
            raise ValueError(
                f"expected dropout=0 and recurrent_dropout=0 for RNN({type(cell).__name__}) "
                f"(a user-defined cell applies its own dropout), got {dropout} and "
                f"{recurrent_dropout}"
            )
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.zero_output_for_mask = zero_output_for_mask
        if engine is not None and engine not in kernels.ENGINES:
            raise ValueError(f"expected engine in {kernels.ENGINES}, got {engine!r}")
        self.engine = engine
        self.last_engine: str | None = None
        self._states: tuple[Tensor, ...] | None = None

    @property
    def units(self) -> int:
        """The output size (a built-in cell's ``units``)."""
        return self.cell.units if self.builtin else protocol_output_size(self.cell)

    @property
    def output_size(self) -> int:
        """The width of the outputs (an LSTM with ``proj_size``: that size)."""
        return self.cell.output_size if self.builtin else protocol_output_size(self.cell)

    def state_sizes(self) -> list[int]:
        return list(self.cell.state_sizes) if self.builtin else state_sizes(self.cell)

    def build(self, input_shape: Any) -> None:
        if len(input_shape) != 3:
            raise ValueError(
                f"expected input of rank 3 (batch, time, features), got shape {input_shape}"
            )
        if isinstance(self.cell, Layer):  # Keras builds a cell with one step's shape
            self.cell.ensure_built(input_shape if self.builtin else (None, *input_shape[2:]))

    def keras_weights(self) -> list[Tensor]:
        return cell_weights(self.cell)

    def engine_plan(self, batch: int = 32, training: bool = True) -> kernels.EngineChoice:
        """The engine a call would use (for ``summary()``), with the reason."""
        plan = getattr(kernels, "plan_engine", None)
        if not self.builtin:
            return kernels.EngineChoice(
                "loop", "a cell of no built-in kind (user-defined, stacked) runs on the loop"
            )
        if plan is None:
            return kernels.EngineChoice(self.engine or "loop", "the reference loop")
        cell = self.cell
        return plan(
            cell.kind,
            activation=cell.activation,
            recurrent_activation=cell.recurrent_activation_name,
            dtype=cell.kernel.dtype if cell.built else cell.dtype,
            device=cell.kernel.device if cell.built else torch.device("cpu"),
            training=training,
            batch=batch,
            has_mask=False,
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            requested=self.engine,
            reset_after=cell.reset_after,
            units=self.units,
            options=cell.options(),
        )

    def reset_states(self) -> None:
        """Forget the carried states of a ``stateful`` layer (the next call starts from zeros)."""
        self._states = None

    def _initial_states(self, x: Tensor, initial_state: Any) -> tuple[Tensor, ...]:
        batch = x.shape[0]
        sizes = self.state_sizes()
        if initial_state is not None:
            states = [initial_state] if isinstance(initial_state, Tensor) else list(initial_state)
            if len(states) != len(sizes):
                raise ValueError(
                    f"expected {len(sizes)} initial state tensor(s), got {len(states)}"
                )
            for s, size in zip(states, sizes, strict=True):
                if not isinstance(s, Tensor) or tuple(s.shape) != (batch, size):
                    shape = tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__
                    raise ValueError(
                        f"expected initial states of shape {(batch, size)}, got {shape}"
                    )
            return tuple(s.to(x.dtype) for s in states)
        if self.stateful and self._states is not None:
            if self._states[0].shape[0] != batch:
                raise ValueError(
                    f"expected batch size {self._states[0].shape[0]} for a stateful layer "
                    f"(call reset_states() to change it), got {batch}"
                )
            return self._states
        if not self.builtin:
            return tuple(protocol_initial_states(self.cell, x))
        return tuple(x.new_zeros(batch, size) for size in sizes)

    def forward(
        self,
        inputs: Tensor,
        mask: Tensor | None = None,
        initial_state: Tensor | list[Tensor] | tuple[Tensor, ...] | None = None,
        training: bool | None = None,
    ) -> Tensor | tuple[Tensor, ...]:
        x = inputs
        if not isinstance(x, Tensor) or x.dim() != 3:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"expected input of shape (batch, time, features), got {got}")
        if not x.is_floating_point():
            raise TypeError(f"expected a floating-point input, got {x.dtype}")
        batch, time, features = x.shape
        if time == 0:
            raise ValueError("expected at least one time step, got 0")
        if mask is not None:
            mask = kernels.as_bool_mask(mask, batch, time)
            # a speed-up only (same outputs); its length depends on the mask's values, which a
            # compiled or exported graph cannot. With zero_output_for_mask the last output is
            # zero when the last step is masked (Keras): trailing masked steps then matter.
            if (
                not self.return_sequences
                and not self.zero_output_for_mask
                and not torch.compiler.is_compiling()
            ):
                x, mask = _trim_padding(x, mask)
        training = self.training if training is None else training
        if not self.builtin:
            outputs, states = run_cell(
                self.cell,
                x,
                self._initial_states(x, initial_state),
                mask=mask,
                go_backwards=self.go_backwards,
                return_sequences=self.return_sequences,
                zero_output_for_mask=self.zero_output_for_mask,
                training=training,
            )
            self.last_engine = "loop"
            return self._finish(outputs, states)
        cell = self.cell
        if x.dtype != cell.kernel.dtype:
            x = x.to(cell.kernel.dtype)
        dp = rec = None
        if training and self.dropout > 0:
            dp = _dropout_mask((batch, features), self.dropout, x)
        if training and self.recurrent_dropout > 0:
            rec = _dropout_mask((batch, cell.output_size), self.recurrent_dropout, x)
        zk = cell.draw_zoneout(x.shape[1], x, training)  # (time, batch, out) or None
        call = kernels.RecurrentCall(
            cell=cell.kind,
            x=x,
            kernel=cell.kernel,
            recurrent_kernel=cell.recurrent_kernel,
            bias=cell.bias,
            states=self._initial_states(x, initial_state),
            mask=mask,
            dropout_mask=dp,
            recurrent_dropout_mask=rec,
            go_backwards=self.go_backwards,
            return_sequences=self.return_sequences,
            zero_output_for_mask=self.zero_output_for_mask,
            activation=cell.activation,
            recurrent_activation=cell.recurrent_activation_name,
            reset_after=cell.reset_after,
            zoneout_mask=zk,
            **cell.call_options(training),
        )
        result = kernels.run_recurrent(call, cell.sequence_step(rec, zk), self.engine)
        if self.last_engine != result.engine:
            self.last_engine = result.engine
        return self._finish(result.outputs, result.states)

    def _finish(self, outputs: Tensor, states: tuple[Tensor, ...]) -> Tensor | tuple[Tensor, ...]:
        if self.stateful:
            self._states = tuple(s.detach() for s in states)
        if self.return_state:
            return (outputs, *states)
        return outputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        batch, time = input_shape[0], input_shape[1]
        size = self.output_size
        out = (batch, time, size) if self.return_sequences else (batch, size)
        if self.return_state:
            return [out] + [(batch, size) for size in self.state_sizes()]
        return out

    def compute_mask(self, inputs: Any, mask: Tensor | None) -> Any:
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out] + [None] * len(self.state_sizes())
        return out

    def layer_config(self) -> dict[str, Any]:
        """The arguments of the layer itself (not its cell's)."""
        return {
            **super().get_config(),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "zero_output_for_mask": self.zero_output_for_mask,
            "engine": self.engine,
        }

    def get_config(self) -> dict[str, Any]:
        return {**self.layer_config(), "cell": cell_config(self.cell)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        config = dict(config)
        return cls(cell_from_config(config.pop("cell", None)), **config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, units={self.units}, return_sequences={self.return_sequences}"



class CellLayer(RNN):
    """A layer of one built-in cell kind (SimpleRNN, LSTM, GRU, IndRNN): the cell's arguments
    are the layer's own, flat in its config (as Keras's)."""

    cell: RecurrentCell

    def get_config(self) -> dict[str, Any]:
        cell_cfg = self.cell.get_config()
        return {**self.layer_config(), **{k: cell_cfg[k] for k in _CELL_ARGS if k in cell_cfg}}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return cls(**config)


_LAYER_ARGS = (
    "dropout",
    "recurrent_dropout",
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "zero_output_for_mask",
    "engine",
    "name",
    "dtype",
    "trainable",
    "input_shape",
)


def split_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A recurrent layer's keyword arguments split into the cell's and the layer's."""
    layer = {k: v for k, v in kwargs.items() if k in _LAYER_ARGS}
    cell = {k: v for k, v in kwargs.items() if k not in _LAYER_ARGS}
    for shared in ("dtype", "trainable"):
        if shared in layer:
            cell[shared] = layer[shared]
    return cell, layer


@register
class SimpleRNN(CellLayer):
    """Fully connected recurrent layer: ``h_t = act(x_t W + h_{t-1} U + b)`` (Keras ``SimpleRNN``).

    Shapes: input (batch, time, features) -> (batch, units), or (batch, time, units) with
    ``return_sequences``. Weights: kernel (features, units), recurrent_kernel (units, units),
    bias (units,). Parameters: ``units * (features + units + 1)``.
    """

    def __init__(self, units: int, activation: str | None = "tanh", **kwargs: Any) -> None:
        cell, layer = split_kwargs(kwargs)
        super().__init__(SimpleRNNCell(units, activation=activation, **cell), **layer)


@register
class LSTM(CellLayer):
    """Long short-term memory layer (Keras ``LSTM``; gates i, f, c, o).

    Weights: kernel (features, 4u), recurrent_kernel (u, 4u), bias (4u,);
    ``unit_forget_bias`` starts the forget-gate bias at 1. Parameters: ``4u(features + u + 1)``.
    States: (h, c).
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
            LSTMCell(
                units,
                activation=activation,
                recurrent_activation=recurrent_activation,
                unit_forget_bias=unit_forget_bias,
                **cell,
            ),
            **layer,
        )


@register
class GRU(CellLayer):
    """Gated recurrent unit layer (Keras ``GRU``; gates z, r, h).

    Parameters: ``3u(features + u + 2)`` with ``reset_after=True`` (the default, bias (2, 3u)),
    ``3u(features + u + 1)`` without.
    """

    def __init__(
        self,
        units: int,
        activation: str | None = "tanh",
        recurrent_activation: str = "sigmoid",
        reset_after: bool = True,
        **kwargs: Any,
    ) -> None:
        cell, layer = split_kwargs(kwargs)
        super().__init__(
            GRUCell(
                units,
                activation=activation,
                recurrent_activation=recurrent_activation,
                reset_after=reset_after,
                **cell,
            ),
            **layer,
        )


@register
class IndRNN(CellLayer):
    """Independently recurrent layer (seed 004): ``h_t = act(x_t W + u * h_{t-1} + b)``.

    The recurrent weight is a vector (units,). Parameters: ``u(features + 2)``.
    """

    def __init__(
        self,
        units: int,
        activation: str | None = "relu",
        recurrent_initializer: str = "unit_uniform",
        **kwargs: Any,
    ) -> None:
        cell, layer = split_kwargs(kwargs)
        super().__init__(
            IndRNNCell(
                units, activation=activation, recurrent_initializer=recurrent_initializer, **cell
            ),
            **layer,
        )
