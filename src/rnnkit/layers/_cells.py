"""Recurrent cells: the weights and the math of one time step, in Keras's layout.

Each cell owns ``kernel`` (features, gates * units), ``recurrent_kernel`` (units, gates * units)
and ``bias``. ``step`` takes the step's row of the input projection ``xp = x W + b_in`` (the
recurrent layer computes it for the whole sequence at once) and the previous states, and returns
the output and the new states. ``forward(x, states)`` is one plain step, like a Keras cell call.

Recurrent dropout: ``rec_mask`` (batch, units), drawn once per sequence, multiplies the previous
output where it enters a recurrent product (never the carried state itself).

Zoneout (LSTM and GRU cells, haste's definition): in training each unit of the new output ``h'``
keeps its previous value with probability ``zoneout`` (the layer draws the (time, batch, out)
mask of every step at once: :meth:`RecurrentCell.draw_zoneout`); in inference
``h' = zoneout h + (1 - zoneout) h'``. An LSTM's cell state ``c`` is not zoned out (as in haste).
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import torch
from torch import Tensor

from ..kernels import CellKind, CellSpec, StepFn, spec_for
from ._activations import get_activation
from ._base import Layer, register

States = tuple[Tensor, ...]


def check_zoneout(zoneout: float) -> float:
    if isinstance(zoneout, bool) or not isinstance(zoneout, (int, float)):
        raise ValueError(f"expected zoneout in [0, 1), got {zoneout!r}")
    if not 0.0 <= zoneout < 1.0:
        raise ValueError(f"expected zoneout in [0, 1), got {zoneout!r}")
    return float(zoneout)


def zoned_out(step: StepFn, rate: float, keep_new: Tensor | None) -> StepFn:
    """``step`` with zoneout on its output ``h`` (the first state): in training (``keep_new``
    (time, batch, out), one row per call of the step, in processing order) the drawn per-unit
    mix of the previous and the new ``h``, in inference (None) its expectation."""
    rows = iter(keep_new.unbind(0)) if keep_new is not None else None

    def zoned(xp: Tensor, states: States) -> tuple[Tensor, States]:
        h_new, new_states = step(xp, states)
        h = states[0]
        if rows is not None:
            h_new = h + next(rows) * (h_new - h)
        else:
            h_new = rate * h + (1.0 - rate) * h_new
        return h_new, (h_new, *new_states[1:])

    return zoned


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
    def state_sizes(self) -> tuple[int, ...]:
        """The width of each state (the first is the output's)."""
        return (self.units,) * self.n_states

    @property
    def state_size(self) -> int | list[int]:
        """Keras's cell protocol: one int per state (an int for a single state)."""
        sizes = self.state_sizes
        return sizes[0] if len(sizes) == 1 else list(sizes)

    @property
    def output_size(self) -> int:
        return self.state_sizes[0]

    def recurrent_shape(self) -> tuple[int, ...]:
        return self.spec.recurrent_shape(self.units)

    def build(self, input_shape: Any) -> None:
        features = input_shape[-1]
        if features is None:
            raise ValueError(f"expected a known feature size (last axis), got {input_shape}")
        g = self.gates * self.units
        self.add_weight("kernel", (features, g), self.kernel_initializer)
        spec = self.spec
        self.add_weight("recurrent_kernel", self.recurrent_shape(), self.recurrent_initializer)
        if self.use_bias:
            self.add_weight("bias", spec.bias_shape(self.units), self.bias_initializer)
            self._init_bias()


    def _init_bias(self) -> None:
        """Hook for bias initialisation beyond the initializer (LSTM's unit_forget_bias)."""

    def input_bias(self) -> Tensor | None:
        return self.spec.input_bias(self.bias)

    def sequence_step(self, rec_mask: Tensor | None, zoneout_mask: Tensor | None) -> StepFn:
        """The step function a whole-sequence call runs (the masks :meth:`draw_zoneout` and
        the layer drew bound)."""
        return partial(self.step, rec_mask=rec_mask)

    def draw_zoneout(self, time: int, like: Tensor, training: bool) -> Tensor | None:
        """The zoneout mask of a call (time, batch, out) (None: no zoneout in this call)."""
        return None

    def call_options(self, training: bool) -> dict[str, Any]:
        """Fields of :class:`rnnkit.kernels.RecurrentCall` beyond the shared ones."""
        return {}

    def norm_weights(self) -> tuple[Tensor, ...]:
        """The kind's weights beyond kernel, recurrent kernel and bias (layer-norm gains), in
        ``RecurrentCall.norm_weights``'s order."""
        return ()

    def options(self) -> tuple[str, ...]:
        """The options in use beyond the kind's equations, as
        :meth:`rnnkit.kernels.RecurrentCall.options` names them (for the engine plan)."""
        return ()

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


def dropped(h: Tensor, rec_mask: Tensor | None) -> Tensor:
    return h if rec_mask is None else h * rec_mask


@register
class SimpleRNNCell(RecurrentCell):
    """Elman cell: ``h' = act(x W + b + (h * m) U)``; the output is ``h'``."""

    kind: ClassVar[CellKind] = "simple_rnn"

    def step(
        self, xp: Tensor, states: States, rec_mask: Tensor | None = None
    ) -> tuple[Tensor, States]:
        h = self.act(xp + dropped(states[0], rec_mask) @ self.recurrent_kernel)
        return h, (h,)


class _GatedCell(RecurrentCell):
    def __init__(
        self,
        units: int,
        recurrent_activation: str = "sigmoid",
        zoneout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(units, **kwargs)
        self.recurrent_activation = recurrent_activation
        self.ract = get_activation(recurrent_activation)
        self.zoneout = check_zoneout(zoneout)

    @property
    def recurrent_activation_name(self) -> str:
        return self.recurrent_activation

    def sequence_step(self, rec_mask: Tensor | None, zoneout_mask: Tensor | None) -> StepFn:
        step = super().sequence_step(rec_mask, zoneout_mask)
        return zoned_out(step, self.zoneout, zoneout_mask) if self.zoneout > 0 else step

    def draw_zoneout(self, time: int, like: Tensor, training: bool) -> Tensor | None:
        if not (training and self.zoneout > 0):
            return None
        shape = (time, like.shape[0], self.output_size)
        return torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(
            1.0 - self.zoneout
        )

    def call_options(self, training: bool) -> dict[str, Any]:
        return {"zoneout": self.zoneout, "training": training}

    def options(self) -> tuple[str, ...]:
        return ("zoneout",) if self.zoneout > 0 else ()

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "recurrent_activation": self.recurrent_activation}
        if self.zoneout > 0:
            config["zoneout"] = self.zoneout
        return config


@register
class LSTMCell(_GatedCell):
    """LSTM cell, gate order (i, f, c, o) along the last axis of the weights.

    ``z = x W + b + (h * m) U``; ``i, f, o = ract(z_i), ract(z_f), ract(z_o)``;
    ``c' = f c + i act(z_c)``; ``h' = o act(c')``. States (h, c).

    ``proj_size > 0`` (PyTorch's LSTM projection): ``h' = (o act(c')) P`` with
    ``projection_kernel`` P (units, proj_size), so ``h`` and the output are proj_size wide and
    ``recurrent_kernel`` is (proj_size, 4 units); ``c`` stays units wide.
    """

    kind: ClassVar[CellKind] = "lstm"

    def __init__(
        self, units: int, unit_forget_bias: bool = True, proj_size: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(units, **kwargs)
        self.unit_forget_bias = unit_forget_bias
        if isinstance(proj_size, bool) or not isinstance(proj_size, int):
            raise ValueError(f"expected proj_size an int in [0, units), got {proj_size!r}")
        if not 0 <= proj_size < units:
            raise ValueError(f"expected proj_size in [0, {units}) (units {units}), got {proj_size}")
        self.proj_size = proj_size
        self.projection_kernel: Tensor | None = None

    def recurrent_shape(self) -> tuple[int, ...]:
        return (self.output_size, self.gates * self.units)

    def build(self, input_shape: Any) -> None:
        super().build(input_shape)
        if self.proj_size:
            self.add_weight(
                "projection_kernel", (self.units, self.proj_size), self.kernel_initializer
            )

    @property
    def state_sizes(self) -> tuple[int, ...]:
        return (self.proj_size or self.units, self.units)

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
        z = self.gate_preactivations(xp, h, rec_mask)  # (batch, 4 * units)
        zi, zf, zc, zo = z.chunk(4, dim=-1)
        i, f, o = self.ract(zi), self.ract(zf), self.ract(zo)
        c = f * c + i * self.act(zc)
        h = o * self.cell_output(c)
        if self.projection_kernel is not None:
            h = h @ self.projection_kernel  # (batch, proj_size)
        return h, (h, c), (i, f, o)

    def gate_preactivations(self, xp: Tensor, h: Tensor, rec_mask: Tensor | None) -> Tensor:
        """``z`` (batch, 4 units) from the step's input projection and the previous output."""
        return xp + dropped(h, rec_mask) @ self.recurrent_kernel

    def cell_output(self, c: Tensor) -> Tensor:
        """What the output gate multiplies: ``act(c')``."""
        return self.act(c)

    def step(
        self, xp: Tensor, states: States, rec_mask: Tensor | None = None
    ) -> tuple[Tensor, States]:
        h, new_states, _ = self.step_with_gates(xp, states, rec_mask)
        return h, new_states

    def call_options(self, training: bool) -> dict[str, Any]:
        return {**super().call_options(training), "projection": self.projection_kernel}

    def options(self) -> tuple[str, ...]:
        return (("projection",) if self.proj_size else ()) + super().options()

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}
        if self.proj_size:
            config["proj_size"] = self.proj_size
        return config


@register
class GRUCell(_GatedCell):
    """GRU cell, gate order (z, r, h); Keras's update convention ``h' = z h + (1 - z) hh``.

    ``reset_after=True`` (Keras 3 and cuDNN default; bias (2, 3u) = input and recurrent rows):
    ``z = ract(xz + rz)``, ``r = ract(xr + rr)``, ``hh = act(xh + r * rh)`` with
    ``(rz, rr, rh) = (h * m) U + b_rec``. ``reset_after=False`` (bias (3u,)):
    ``hh = act(xh + (r * (h * m)) U_h)``. Note the seeds write ``h' = (1 - z) h + z hh``: Keras's
    ``z`` is one minus theirs.
    """

    kind: ClassVar[CellKind] = "gru"

    def __init__(self, units: int, reset_after: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.reset_after = reset_after

    gate_names: ClassVar[tuple[str, ...]] = ("update", "reset")

    def input_part(self, xp: Tensor) -> Tensor:
        """The input side of the gates (batch, 3 units), from the step's input projection."""
        return xp

    def recurrent_part(self, hm: Tensor) -> Tensor:
        """``reset_after``'s recurrent side ``(h * m) U + b_rec`` (batch, 3 units)."""
        rec = hm @ self.recurrent_kernel  # (batch, 3 * units)
        return rec if self.bias is None else rec + self.bias[1]

    def step_with_gates(
        self, xp: Tensor, states: States, rec_mask: Tensor | None = None
    ) -> tuple[Tensor, States, tuple[Tensor, ...]]:
        """:meth:`step` that also returns the gate activations (z, r) for diagnostics."""
        h = states[0]
        hm = dropped(h, rec_mask)
        u = self.units
        xz, xr, xh = self.input_part(xp).chunk(3, dim=-1)
        if self.reset_after:
            rz, rr, rh = self.recurrent_part(hm).chunk(3, dim=-1)
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

    kind: ClassVar[CellKind] = "indrnn"

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
        h = self.act(xp + self.recurrent_kernel * dropped(states[0], rec_mask))
        return h, (h,)
