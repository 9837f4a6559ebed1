"""Recurrent cells: the weights and the math of one time step, in Keras's layout.

Each cell owns ``kernel`` (features, gates * units), ``recurrent_kernel`` (units, gates * units)
and ``bias``. ``step`` takes the step's row of the input projection ``xp = x W + b_in`` (the
recurrent layer computes it for the whole sequence at once) and the previous states, and returns
the output and the new states. ``forward(x, states)`` is one plain step, like a Keras cell call.

Recurrent dropout: ``rec_mask`` (batch, units), drawn once per sequence, multiplies the previous
output where it enters a recurrent product (never the carried state itself).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from ..kernels import CellKind, CellSpec, spec_for
from ._activations import get_activation
from ._base import Layer, register

States = tuple[Tensor, ...]


class RecurrentCell(Layer):
    """Shared weights, config and plumbing of the cells; subclasses write ``step``."""

    #: The cell kind: its spec (``rnnkit.kernels.cells``) holds the layout and the engines.
    kind: ClassVar[CellKind]
    #: GRU's form (see :class:`GRUCell`); the spec of other kinds ignores it.
    reset_after: bool = True
    kernel: Tensor
    recurrent_kernel: Tensor
    bias: Tensor | None

    def __init__(
        self,
        units: int,
        activation: str | None = "tanh",
        use_bias: bool = True,
        kernel_initializer: str = "glorot_uniform",
        recurrent_initializer: str = "orthogonal",
        bias_initializer: str = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"expected units to be a positive int, got {units!r}")
        self.units = units
        self.activation = activation or "linear"
        self.act = get_activation(self.activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.bias: Tensor | None = None

    @property
    def spec(self) -> CellSpec:
        return spec_for(self.kind, self.reset_after)

    @property
    def gates(self) -> int:
        return self.spec.gates

    @property
    def n_states(self) -> int:
        return self.spec.n_states

    @property
    def recurrent_activation_name(self) -> str:
        return "sigmoid"

    @property
    def state_size(self) -> int | list[int]:
        """Keras's cell protocol: one int per state (an int for a single state)."""
        return self.units if self.n_states == 1 else [self.units] * self.n_states

    @property
    def output_size(self) -> int:
        return self.units

    def build(self, input_shape: Any) -> None:
        features = input_shape[-1]
        if features is None:
            raise ValueError(f"expected a known feature size (last axis), got {input_shape}")
        g = self.gates * self.units
        self.add_weight("kernel", (features, g), self.kernel_initializer)
        spec = self.spec
        self.add_weight(
            "recurrent_kernel", spec.recurrent_shape(self.units), self.recurrent_initializer
        )
        if self.use_bias:
            self.add_weight("bias", spec.bias_shape(self.units), self.bias_initializer)
            self._init_bias()


    def _init_bias(self) -> None:
        """Hook for bias initialisation beyond the initializer (LSTM's unit_forget_bias)."""

    def input_bias(self) -> Tensor | None:
        return self.spec.input_bias(self.bias)

    def step(
        self, xp: Tensor, states: States, rec_mask: Tensor | None = None
    ) -> tuple[Tensor, States]:
        raise TypeError(f"{type(self).__name__} does not define a step")  # pragma: no cover

    def forward(self, x: Tensor, states: States) -> tuple[Tensor, States]:  # one plain step
        xp = x @ self.kernel  # (batch, gates * units)
        b = self.input_bias()
        return self.step(xp if b is None else xp + b, tuple(states))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer,
            "recurrent_initializer": self.recurrent_initializer,
            "bias_initializer": self.bias_initializer,
        }


def _dropped(h: Tensor, rec_mask: Tensor | None) -> Tensor:
    return h if rec_mask is None else h * rec_mask


@register
class SimpleRNNCell(RecurrentCell):
    """Elman cell: ``h' = act(x W + b + (h * m) U)``; the output is ``h'``."""

    kind = "simple_rnn"

    def step(
        self, xp: Tensor, states: States, rec_mask: Tensor | None = None
    ) -> tuple[Tensor, States]:
        h = self.act(xp + _dropped(states[0], rec_mask) @ self.recurrent_kernel)
        return h, (h,)


class _GatedCell(RecurrentCell):
    def __init__(self, units: int, recurrent_activation: str = "sigmoid", **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.recurrent_activation = recurrent_activation
        self.ract = get_activation(recurrent_activation)

    @property
    def recurrent_activation_name(self) -> str:
        return self.recurrent_activation

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "recurrent_activation": self.recurrent_activation}


@register
class LSTMCell(_GatedCell):
    """LSTM cell, gate order (i, f, c, o) along the last axis of the weights.

    ``z = x W + b + (h * m) U``; ``i, f, o = ract(z_i), ract(z_f), ract(z_o)``;
    ``c' = f c + i act(z_c)``; ``h' = o act(c')``. States (h, c).
    """

    kind = "lstm"

    def __init__(self, units: int, unit_forget_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.unit_forget_bias = unit_forget_bias

    def _init_bias(self) -> None:
        if self.unit_forget_bias and self.bias is not None:  # ones on the forget gate (Keras)
            with torch.no_grad():
                self.bias[self.units : 2 * self.units] = 1.0

    gate_names: ClassVar[tuple[str, ...]] = ("input", "forget", "output")

    def step_with_gates(
        self, xp: Tensor, states: States, rec_mask: Tensor | None = None
    ) -> tuple[Tensor, States, tuple[Tensor, ...]]:
        """:meth:`step` that also returns the gate activations (i, f, o) for diagnostics."""
        h, c = states
        z = xp + _dropped(h, rec_mask) @ self.recurrent_kernel  # (batch, 4 * units)
        zi, zf, zc, zo = z.chunk(4, dim=-1)
        i, f, o = self.ract(zi), self.ract(zf), self.ract(zo)
        c = f * c + i * self.act(zc)
        h = o * self.act(c)
        return h, (h, c), (i, f, o)

    def step(
        self, xp: Tensor, states: States, rec_mask: Tensor | None = None
    ) -> tuple[Tensor, States]:
        h, new_states, _ = self.step_with_gates(xp, states, rec_mask)
        return h, new_states

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


@register
class GRUCell(_GatedCell):
    """GRU cell, gate order (z, r, h); Keras's update convention ``h' = z h + (1 - z) hh``.

    ``reset_after=True`` (Keras 3 and cuDNN default; bias (2, 3u) = input and recurrent rows):
    ``z = ract(xz + rz)``, ``r = ract(xr + rr)``, ``hh = act(xh + r * rh)`` with
    ``(rz, rr, rh) = (h * m) U + b_rec``. ``reset_after=False`` (bias (3u,)):
    ``hh = act(xh + (r * (h * m)) U_h)``. Note the seeds write ``h' = (1 - z) h + z hh``: Keras's
    ``z`` is one minus theirs.
    """

    kind = "gru"

    def __init__(self, units: int, reset_after: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.reset_after = reset_after

    gate_names: ClassVar[tuple[str, ...]] = ("update", "reset")

    def step_with_gates(
        self, xp: Tensor, states: States, rec_mask: Tensor | None = None
    ) -> tuple[Tensor, States, tuple[Tensor, ...]]:
        """:meth:`step` that also returns the gate activations (z, r) for diagnostics."""
        h = states[0]
        hm = _dropped(h, rec_mask)
        u = self.units
        xz, xr, xh = xp.chunk(3, dim=-1)
        if self.reset_after:
            rec = hm @ self.recurrent_kernel  # (batch, 3 * units)
            if self.bias is not None:
                rec = rec + self.bias[1]
            rz, rr, rh = rec.chunk(3, dim=-1)
            z, r = self.ract(xz + rz), self.ract(xr + rr)
            hh = self.act(xh + r * rh)
        else:
            rz, rr = (hm @ self.recurrent_kernel[:, : 2 * u]).chunk(2, dim=-1)
            z, r = self.ract(xz + rz), self.ract(xr + rr)
            hh = self.act(xh + (r * hm) @ self.recurrent_kernel[:, 2 * u :])
        h = z * h + (1.0 - z) * hh
        return h, (h,), (z, r)

    def step(
        self, xp: Tensor, states: States, rec_mask: Tensor | None = None
    ) -> tuple[Tensor, States]:
        h, new_states, _ = self.step_with_gates(xp, states, rec_mask)
        return h, new_states

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "reset_after": self.reset_after}


@register
class IndRNNCell(RecurrentCell):
    """Independently recurrent cell (Li et al. 2018, seed 004): ``h' = act(x W + b + u * h)``.

    The recurrent weight ``recurrent_kernel`` is a vector (units,): each unit sees only its own
    past, so ``|u| <= 1`` keeps the gradient through time from exploding (ReLU by default).
    """

    kind = "indrnn"

    def __init__(
        self,
        units: int,
        activation: str | None = "relu",
        recurrent_initializer: str = "unit_uniform",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            units, activation=activation, recurrent_initializer=recurrent_initializer, **kwargs
        )

    def step(
        self, xp: Tensor, states: States, rec_mask: Tensor | None = None
    ) -> tuple[Tensor, States]:
        h = self.act(xp + self.recurrent_kernel * _dropped(states[0], rec_mask))
        return h, (h,)
