"""What a cell kind is, in one place: :class:`CellSpec`, which every engine, the dispatch, the
layers and io read instead of testing the kind's name.

A spec holds the kind's layout (gate blocks and order, states, weight and bias shapes), its
fused CPU kernels (numba forward and backward, called with named argument structures), its
Triton kernels, PyTorch's native op where one computes it exactly, its ONNX step body, and the
mapping of its weights to PyTorch's ``nn`` modules. Keras's layout is rnnkit's own (weights
``kernel`` (features, gates * units), ``recurrent_kernel``, ``bias``), so the Keras mapping is
the identity; the spec names the Keras layer class. See docs/architecture.md, "Adding a cell
kind".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor

from .._ext_ctx import ExtBackward, ExtForward, ExtGrads, TritonExtBackward, TritonExtForward
from .._runtime import FusedBackward, FusedForward, WeightGrads
from .._triton_ctx import TritonBackward, TritonForward


class GraphBuilder(Protocol):
    """The part of io's ONNX graph builder a step body uses (``rnnkit.io`` passes its own)."""

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> Any: ...
    def split(self, x: str, sizes: list[int]) -> list[str]: ...
    def activation(self, name: str, x: str) -> str: ...
    def weight(self, t: Tensor, name: str) -> str: ...
    def const(self, value: float) -> str: ...
    def reduce(self, op_type: str, x: str, axes: list[int], keepdims: int) -> str: ...


#: A native op's run: (x, initial states, flat params, flags, activation) -> (seq, final states).
NativeRun = Callable[
    [Tensor, tuple[Tensor, ...], list[Tensor], tuple[Any, ...], str],
    tuple[Tensor, tuple[Tensor, ...]],
]


#: An ONNX step's weights: (recurrent_kernel, bias, *the kind's norm weights).
OnnxWeights = tuple[Tensor, Tensor | None, *tuple[Tensor, ...]]
#: The layer-norm gains the split kernels apply: of the recurrent product (G,), of the cell state
#: (units,) and its shift (None: no layer norm there).
NormGains = tuple[Tensor | None, Tensor | None, Tensor | None]


class CellSpec:
    """One cell kind. Subclasses set the class attributes and write the engine methods."""

    #: The kind's name: ``RecurrentCall.cell`` and the layers' ``RecurrentCell.kind``.
    name: ClassVar[str]
    #: Gate blocks along the weights' last axis (the kernels' layouts), and their names in order.
    gates: ClassVar[int]
    gate_order: ClassVar[tuple[str, ...]]
    #: State tensors, (batch, units) each; the first is the output.
    n_states: ClassVar[int] = 1
    #: Whether the kind reads ``recurrent_activation``.
    gated: ClassVar[bool] = False
    #: The Keras 3 layer class of this kind.
    keras_layer: ClassVar[str]
    #: The numba kernels (``_nb_fwd``, ``_nb_bwd``) and their named argument structures
    #: (``_runtime.kernel_args``).
    fused_kernels: ClassVar[tuple[Any, ...]] = ()
    #: The Triton kernel sources (plain functions; ``_triton_launch`` wraps them).
    triton_kernels: ClassVar[tuple[Callable[..., Any], ...]] = ()
    #: Device functions of those kernels beyond ``_triton_device``'s (wrapped the same way).
    triton_helpers: ClassVar[tuple[Callable[..., Any], ...]] = ()
    #: ``torch.nn`` module whose weights map onto this kind (None: no such module), the gate
    #: blocks' order there (indices into ``gate_order``), and why not where there is none.
    torch_module: ClassVar[type[torch.nn.RNNBase] | None] = None
    torch_gate_perm: ClassVar[tuple[int, ...]] = ()
    torch_missing: ClassVar[str] = ""
    #: Whether the kind has no recurrent product, its sequence a linear recurrence in ``h`` that
    #: the "scan" engine solves in parallel over time (see :meth:`log_coefficients`).
    scan: ClassVar[bool] = False
    #: A scan kind's code in the fused CPU kernels of the min cells (``_nb_min``).
    fused_code: ClassVar[int] = -1
    #: Whether the kind layer-normalises its products (haste's layer-norm cells).
    layer_norm: ClassVar[bool] = False
    #: The split fused kernels (``_nb_ext``: the input side in torch, the recurrence with layer
    #: norm, zoneout, projection in numba) and the options (``RecurrentCall.options``) they run.
    ext_kernels: ClassVar[tuple[Any, ...]] = ()
    ext_options: ClassVar[frozenset[str]] = frozenset()
    #: The split Triton kernel sources (``_triton_ext``), the same recurrence on CUDA.
    ext_triton_kernels: ClassVar[tuple[Callable[..., Any], ...]] = ()

    def variant(self, reset_after: bool) -> CellSpec:
        """The spec of this kind's form (GRU's two ``reset_after`` forms differ)."""
        return self

    # -- layout ------------------------------------------------------------------------------
    def recurrent_shape(self, units: int) -> tuple[int, ...]:
        return (units, self.gates * units)

    def bias_shape(self, units: int) -> tuple[int, ...]:
        return (self.gates * units,)

    def input_bias(self, bias: Tensor | None) -> Tensor | None:
        """The part of the bias added to the input projection."""
        return bias

    def recurrent_bias(self, bias: Tensor | None) -> Tensor | None:
        """The part of the bias added to the recurrent product (GRU reset_after only)."""
        return None

    def log_coefficients(self, xp: Tensor, units: int) -> tuple[Tensor, Tensor]:
        """A scan kind's ``log a``, ``log b`` (batch, time, units) of ``h_t = a_t h_{t-1} + b_t``
        from the input projection (batch, time, gates * units); ``b > 0``."""
        raise NotImplementedError(f"{self.name} is no scan kind")

    # -- fused CPU engine (numba) ------------------------------------------------------------
    def fused_forward(self, fw: FusedForward) -> dict[str, Any]:
        """Run the forward kernel; return the buffers its backward needs, by name."""
        raise NotImplementedError(f"no fused kernels for {self.name}")

    def fused_backward(self, bw: FusedBackward) -> WeightGrads:
        """Run the backward kernel (state gradients in place, ``bw.dx``) and form the
        gradients of the weights autograd asked for."""
        raise NotImplementedError(f"no fused kernels for {self.name}")

    def fused_backward_work(self, batch: int, time: int, units: int) -> int:
        """Multiply-adds of the backward time loop (splits it over threads when large)."""
        g = self.gates * units
        return batch * time * g * units

    def backward_chunks(self, bw: FusedBackward) -> list[tuple[int, int]]:
        """The row ranges the backward kernel is split into."""
        return bw.chunks(self.fused_backward_work(bw.batch, bw.time, bw.units))

    # -- split fused CPU engine (numba, ``_fused_ext``) --------------------------------------
    def runs_ext(self, options: tuple[str, ...]) -> bool:
        """Whether a fused call with these options runs on the split kernels."""
        return bool(self.ext_kernels) and (self.layer_norm or bool(options))

    def fused_options_blocker(self, options: tuple[str, ...]) -> str | None:
        """Why the fused kernels cannot run these options (None: they can)."""
        missing = [o for o in options if o not in self.ext_options]
        if missing:
            return f"no compiled kernels for {' and '.join(missing)} of {self.name} yet"
        return None

    def norm_shapes(self, units: int) -> tuple[tuple[int, ...], ...]:
        """The shapes of ``RecurrentCall.norm_weights``."""
        return ()

    def ext_input(self, xp: Tensor, bias: Tensor | None, norm: tuple[Tensor, ...]) -> Tensor:
        """The input side of the gates (batch, time, G) from ``xp = (x * dropout) W +
        input_bias`` (the layer-norm kinds normalise it first)."""
        return xp

    def ext_norm(self, norm: tuple[Tensor, ...]) -> NormGains:
        """The gains the kernels apply: of the recurrent product (G,), of the cell state
        (units,) and its shift (None: no layer norm there)."""
        return None, None, None

    def ext_forward(self, ef: ExtForward) -> dict[str, Any]:
        """Run the split forward kernel; return the buffers its backward needs, by name."""
        raise NotImplementedError(f"no split fused kernels for {self.name}")

    def ext_backward(self, eb: ExtBackward) -> ExtGrads:
        """Run the split backward kernel (``eb.dz`` and the state gradients in place); form
        the gradients of the weights autograd asked for."""
        raise NotImplementedError(f"no split fused kernels for {self.name}")

    def triton_ext_forward(self, tf: TritonExtForward) -> dict[str, Tensor]:
        """Launch the split Triton forward kernel; return the tensors its backward needs."""
        raise NotImplementedError(f"no split Triton kernels for {self.name}")

    def triton_ext_backward(self, tb: TritonExtBackward) -> ExtGrads:
        """Launch the split Triton backward kernel; form the weight gradients asked for."""
        raise NotImplementedError(f"no split Triton kernels for {self.name}")

    # -- Triton engine -----------------------------------------------------------------------
    def triton_forward(self, tf: TritonForward) -> list[Tensor]:
        """Launch the forward kernel; return the tensors its backward needs."""
        raise NotImplementedError(f"no Triton kernels for {self.name}")

    def triton_backward(self, tb: TritonBackward) -> tuple[Tensor | None, Tensor | None]:
        """Launch the backward kernel; return the gradients of (U, b_rec) asked for."""
        raise NotImplementedError(f"no Triton kernels for {self.name}")

    # -- PyTorch's own op --------------------------------------------------------------------
    def native_blocker(self, activation: str, recurrent_activation: str) -> str | None:
        """Why PyTorch's op cannot compute this kind with these activations (None: it can)."""
        return self.torch_missing or f"PyTorch has no {self.name} op"

    def native_params(self, kernel: Tensor, rec: Tensor, bias: Tensor | None) -> list[Tensor]:
        """The op's flat weights (w_ih, w_hh[, b_ih, b_hh]) from rnnkit's."""
        w_ih, w_hh = self.to_torch_weights(kernel, rec)
        if bias is None:
            return [w_ih, w_hh]
        b_ih, b_hh = self.to_torch_bias(bias)
        return [w_ih, w_hh, b_ih, b_hh]

    def native_run(self, activation: str) -> NativeRun:
        raise NotImplementedError(f"PyTorch has no {self.name} op")

    def native_inference_wins(self, batch: int, units: int | None) -> bool:
        """Where PyTorch's oneDNN op beat the fused kernels at float32 inference."""
        return False

    # -- PyTorch nn module weights -----------------------------------------------------------
    def _perm(self, t: Tensor) -> Tensor:
        """Reorder the gate blocks along axis 0 (the permutation is its own inverse)."""
        if self.torch_gate_perm == tuple(range(len(self.torch_gate_perm))):
            return t
        chunks = t.chunk(len(self.torch_gate_perm), dim=0)
        return torch.cat([chunks[i] for i in self.torch_gate_perm], dim=0)

    def to_torch_weights(self, kernel: Tensor, rec: Tensor) -> tuple[Tensor, Tensor]:
        """rnnkit (kernel, recurrent_kernel) -> torch (weight_ih, weight_hh)."""
        return self._perm(kernel.T), self._perm(rec.T)

    def from_torch_weights(self, w_ih: Tensor, w_hh: Tensor) -> tuple[Tensor, Tensor]:
        return self._perm(w_ih).T, self._perm(w_hh).T

    def to_torch_bias(self, bias: Tensor) -> tuple[Tensor, Tensor]:
        """rnnkit bias -> torch (bias_ih, bias_hh): one bias goes to bias_ih, zeros to bias_hh."""
        return self._perm(bias), torch.zeros_like(bias)

    def from_torch_bias(self, b_ih: Tensor, b_hh: Tensor) -> Tensor:
        """torch's two biases -> rnnkit's (their sum, by default)."""
        return self._perm(b_ih + b_hh)

    def torch_layer_kwargs(self, module: torch.nn.RNNBase) -> dict[str, Any]:
        """The rnnkit layer's arguments that reproduce ``module`` (beyond units and bias)."""
        return {}

    def torch_module_kwargs(self, activation: str) -> dict[str, Any]:
        """The ``torch_module`` arguments that reproduce an rnnkit layer's activation."""
        return {}

    def torch_activations(self) -> tuple[str, ...]:
        """The activations torch's module offers for this kind."""
        return ("tanh",)

    # -- ONNX --------------------------------------------------------------------------------
    def onnx_step(
        self,
        b: GraphBuilder,
        name: str,
        weights: OnnxWeights,
        xp: str,
        states: list[str],
        units: int,
        act: str,
        ract: str,
    ) -> tuple[list[str], str]:
        """One step inside an ONNX ``Scan`` body: ``xp`` the step's input projection, ``states``
        the previous states; ``weights`` (recurrent_kernel, bias, *norm weights); returns (new
        states, output)."""
        raise NotImplementedError(f"no ONNX step for {self.name}")
