"""The contract between the recurrent layers and the engines that run a whole sequence.

A recurrent layer describes one call as a :class:`RecurrentCall` and hands it to
:func:`rnnkit.kernels.run_recurrent`, the single dispatch point. Every engine computes exactly
the same function, Keras's ``backend.rnn`` semantics:

* the sequence is read in time order, or reversed when ``go_backwards`` (outputs then stay in the
  reversed order, as in Keras);
* where ``mask[b, t]`` is False the step is skipped: the states keep their previous values and the
  output repeats the previous output (zeros before the first valid step), or is zero when
  ``zero_output_for_mask``;
* ``dropout_mask`` (batch, features) multiplies the inputs of every step and
  ``recurrent_dropout_mask`` (batch, units) multiplies the previous output before it enters the
  recurrent product; both are drawn once per sequence and already scaled by ``1 / (1 - rate)``.

Cell equations (Keras layout and gate order; ``x`` the input, ``h``/``c`` the previous states):

* ``simple_rnn``: ``h' = act(x W + h U + b)``
* ``lstm`` (gates i, f, c, o): ``z = x W + h U + b``; ``i, f, o = ract(z_i, z_f, z_o)``;
  ``c' = f c + i act(z_c)``; ``h' = o act(c')``
* ``gru`` (gates z, r, h), ``reset_after=True`` (bias shape (2, 3u): input and recurrent):
  ``xz, xr, xh = x W + b_in``; ``rz, rr, rh = h U + b_rec``; ``z = ract(xz + rz)``;
  ``r = ract(xr + rr)``; ``hh = act(xh + r rh)``; ``h' = z h + (1 - z) hh``
* ``gru``, ``reset_after=False`` (bias (3u,)): ``rz, rr = h U[:, :2u]``;
  ``hh = act(xh + (r h) U[:, 2u:])``
* ``indrnn``: ``h' = act(x W + u * h + b)`` with an element-wise recurrent weight ``u`` (units,)
* ``layer_norm_lstm``, ``layer_norm_gru`` (haste's), ``min_gru``, ``min_lstm`` (Feng et al.
  2024): see their specs in ``kernels.cells`` (``layer_norm``, ``min_rnn``).

Options of a kind beyond those equations (the loop and, for LSTM/GRU ``reset_after`` and the
layer-norm kinds, the split fused engine ``_fused_ext`` run them):
``projection`` (LSTM ``proj_size``: ``h' = (o act(c')) P``, PyTorch's ``weight_hr`` transposed)
and ``zoneout`` (haste's: in training each unit of ``h'`` keeps its previous value where
``zoneout_mask`` (time, batch, out), drawn by the layer with probability ``1 - zoneout`` of a
one and indexed by processing step, is 0; in inference ``h' = zoneout h + (1 - zoneout) h'``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from .cells import CellSpec, spec_for

CellKind = Literal[
    "simple_rnn",
    "lstm",
    "gru",
    "indrnn",
    "layer_norm_lstm",
    "layer_norm_gru",
    "min_gru",
    "min_lstm",
]

#: One time step of a cell: ``step(xp_t, states) -> (output_t, new_states)`` where ``xp_t`` is the
#: step's row of the input projection ``x W + b_in`` (batch, gates * units).
StepFn = Callable[[Tensor, tuple[Tensor, ...]], tuple[Tensor, tuple[Tensor, ...]]]


@dataclass(frozen=True)
class RecurrentCall:
    """Everything an engine needs for one layer call.

    Shapes: ``x`` (batch, time, features); ``kernel`` (features, gates * units);
    ``recurrent_kernel`` (units, gates * units), or (units,) for IndRNN; ``bias`` (gates * units,),
    (2, 3 * units) for GRU with ``reset_after``, or None; ``states`` one (batch, units) tensor per
    state (LSTM: h, c); ``mask`` (batch, time) bool or None.
    """

    cell: CellKind
    x: Tensor
    kernel: Tensor
    recurrent_kernel: Tensor
    bias: Tensor | None
    states: tuple[Tensor, ...]
    mask: Tensor | None = None
    dropout_mask: Tensor | None = None
    recurrent_dropout_mask: Tensor | None = None
    go_backwards: bool = False
    return_sequences: bool = False
    zero_output_for_mask: bool = False
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    reset_after: bool = True
    #: Weights of the kind beyond the three above (layer-norm gains), in the cell's order.
    norm_weights: tuple[Tensor, ...] = ()
    #: LSTM ``proj_size``: (units, proj_size); the output and ``h`` are then proj_size wide.
    projection: Tensor | None = None
    zoneout: float = 0.0
    #: Whether zoneout takes its random mix (training) or its expectation (inference).
    training: bool = False
    #: Zoneout in training: (time, batch, out) of 0 (keep the previous unit) and 1 (take the
    #: new one), indexed by processing step (``go_backwards`` reads it in order too).
    zoneout_mask: Tensor | None = None

    @property
    def spec(self) -> CellSpec:
        """The cell kind's spec (GRU: of its ``reset_after`` form)."""
        return spec_for(self.cell, self.reset_after)

    @property
    def units(self) -> int:
        """The output's width (``proj_size`` with a projection)."""
        return self.states[0].shape[-1]

    @property
    def cell_units(self) -> int:
        """The cell's width (the gates': ``units`` unless there is a projection)."""
        return self.units if self.projection is None else self.projection.shape[0]

    def needs_grad(self) -> bool:
        """Whether autograd will want gradients from this call: grad mode is on and ``x``, a
        weight or an initial state requires them."""
        tensors = (
            self.x,
            self.kernel,
            self.recurrent_kernel,
            self.bias,
            self.projection,
            *self.norm_weights,
            *self.states,
        )
        return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)

    def weights_and_dropout(self) -> tuple[tuple[str, Tensor | None], ...]:
        """The floating-point tensors besides ``x`` and the states, by name (each must have
        ``x``'s dtype)."""
        return (
            ("kernel", self.kernel),
            ("recurrent_kernel", self.recurrent_kernel),
            ("bias", self.bias),
            ("dropout_mask", self.dropout_mask),
            ("recurrent_dropout_mask", self.recurrent_dropout_mask),
            ("projection", self.projection),
            ("zoneout_mask", self.zoneout_mask),
            *((f"norm_weights[{i}]", t) for i, t in enumerate(self.norm_weights)),
        )

    def options(self) -> tuple[str, ...]:
        """The options in use beyond the kind's base equations ("projection", "zoneout"): only
        the reference loop runs them for now."""
        used = (("projection", self.projection is not None), ("zoneout", self.zoneout > 0))
        return tuple(name for name, on in used if on)


@dataclass(frozen=True)
class RecurrentResult:
    """``outputs`` is (batch, time, units) with ``return_sequences``, else (batch, units)."""

    outputs: Tensor
    states: tuple[Tensor, ...]
    engine: str


@dataclass(frozen=True)
class EngineChoice:
    name: str
    reason: str


def check_shapes(call: RecurrentCall) -> None:
    """Every tensor's shape against ``x`` (batch, time, features) and the units: the compiled
    engines index without bounds checks beyond these."""
    x = call.x
    if x.dim() != 3:
        raise ValueError(f"expected x of shape (batch, time, features), got {tuple(x.shape)}")
    batch, time, features = x.shape
    out, units = call.units, call.cell_units
    spec = call.spec
    if len(call.states) != spec.n_states:
        raise ValueError(f"expected {spec.n_states} state tensors, got {len(call.states)}")
    rec_shape = spec.recurrent_shape(units)
    norm_shapes = spec.norm_shapes(units)
    if len(call.norm_weights) != len(norm_shapes):
        raise ValueError(f"expected {len(norm_shapes)} norm weights, got {len(call.norm_weights)}")
    if call.training and call.zoneout > 0 and call.zoneout_mask is None:
        raise ValueError("expected a zoneout_mask for zoneout in training, got None")
    expect: tuple[tuple[str, Tensor | None, tuple[int, ...]], ...] = (
        ("kernel", call.kernel, (features, spec.gates * units)),
        ("recurrent_kernel", call.recurrent_kernel, (out, *rec_shape[1:])),
        ("bias", call.bias, spec.bias_shape(units)),
        ("dropout_mask", call.dropout_mask, (batch, features)),
        ("recurrent_dropout_mask", call.recurrent_dropout_mask, (batch, out)),
        ("mask", call.mask, (batch, time)),
        ("projection", call.projection, (units, out)),
        ("zoneout_mask", call.zoneout_mask, (time, batch, out)),
        *(
            (f"norm_weights[{i}]", t, s)
            for i, (t, s) in enumerate(zip(call.norm_weights, norm_shapes, strict=True))
        ),
    )
    for name, t, shape in expect:
        if t is not None and t.shape != shape:
            raise ValueError(f"expected {name} of shape {shape}, got {tuple(t.shape)}")
    for i, s in enumerate(call.states):
        width = out if i == 0 else units
        if s.shape != (batch, width):
            raise ValueError(
                f"expected states[{i}] of shape {(batch, width)}, got {tuple(s.shape)}"
            )


def as_bool_mask(mask: Tensor, batch: int, time: int) -> Tensor:
    """Validate a (batch, time) mask and return it as bool."""
    if mask.shape != (batch, time):
        raise ValueError(f"expected a mask of shape {(batch, time)}, got {tuple(mask.shape)}")
    return mask if mask.dtype == torch.bool else mask != 0
