"""The pieces every part of the ONNX export shares: the graph builder, tensor and state handles,
the export's error, element types, and the description of a graph input."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..layers._recurrent import RNN


class OnnxExportError(ValueError):
    """A model rnnkit cannot export to ONNX, or an export that fails its check."""


INT64_MIN = -(2**63)
BOOL, INT32, INT64 = 9, 6, 7  # onnx.TensorProto element types
#: torch float dtype -> (ONNX element type, numpy dtype)
FLOATS = {torch.float32: (1, np.float32), torch.float64: (11, np.float64)}


@dataclass
class Val:
    """A tensor in the graph being built: its ONNX name and the name of its (batch, time) bool
    mask (None: unmasked)."""

    name: str
    mask: str | None = None


@dataclass
class StateIO:
    """The state inputs/outputs of one recurrent layer call (``with_states``)."""

    layer: RNN
    inputs: list[str]
    outputs: list[str]


@dataclass
class Builder:
    """Collects nodes (for the main graph or a Scan body), initializers and unique names."""

    onnx: Any
    opset: int
    elem: int  # ONNX element type of the model's float tensors
    np_dtype: Any
    counter: Any = field(default_factory=itertools.count)
    inits: list[Any] = field(default_factory=list)
    nodes: list[Any] = field(default_factory=list)

    reserved: set[str] = field(default_factory=set)  # graph input/output names

    def sub(self) -> Builder:
        """A builder for a subgraph: own nodes, shared names and initializers (outer scope)."""
        return Builder(
            self.onnx,
            self.opset,
            self.elem,
            self.np_dtype,
            self.counter,
            self.inits,
            reserved=self.reserved,
        )

    def fresh(self, hint: str) -> str:
        name = f"{hint}_{next(self.counter)}"
        while name in self.reserved:
            name = f"{hint}_{next(self.counter)}"
        return name

    def const(self, value: Any, hint: str = "const", dtype: Any = None) -> str:
        arr = np.asarray(value, dtype=dtype or self.np_dtype)
        name = self.fresh(hint)
        self.inits.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def weight(self, t: torch.Tensor, hint: str) -> str:
        return self.const(t.detach().cpu().numpy(), hint)

    def ints(self, values: list[int], hint: str = "ints") -> str:
        return self.const(np.asarray(values, dtype=np.int64), hint, np.int64)

    def op(
        self, op_type: str, inputs: list[str], n_out: int = 1, hint: str | None = None, **attrs: Any
    ) -> Any:
        outs = [self.fresh(hint or op_type.lower()) for _ in range(n_out)]
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, outs, **attrs))
        return outs[0] if n_out == 1 else outs

    # -- helpers across opsets -----------------------------------------------------------------
    def reduce(self, op_type: str, x: str, axes: list[int], keepdims: int) -> str:
        """ReduceX, ``axes`` an attribute or an input (ReduceSum from opset 13, others from 18)."""
        as_input = self.opset >= (13 if op_type == "ReduceSum" else 18)
        if as_input:
            return self.op(op_type, [x, self.ints(axes, "axes")], keepdims=keepdims)
        return self.op(op_type, [x], axes=axes, keepdims=keepdims)

    def split(self, x: str, sizes: list[int], axis: int = -1) -> list[str]:
        outs = self.op("Split", [x, self.ints(sizes, "split")], n_out=len(sizes), axis=axis)
        return outs if isinstance(outs, list) else [outs]

    def unsqueeze(self, x: str, axes: list[int]) -> str:
        return self.op("Unsqueeze", [x, self.ints(axes, "axes")])

    def cast(self, x: str, to: int) -> str:
        return self.op("Cast", [x], to=to)

    def float_mask(self, mask: str) -> str:
        return self.cast(mask, self.elem)

    def activation(self, name: str, x: str) -> str:
        """rnnkit's activation ``name`` (see rnnkit.layers.ACTIVATIONS) applied to ``x``."""
        simple = {
            "tanh": "Tanh",
            "sigmoid": "Sigmoid",
            "relu": "Relu",
            "softplus": "Softplus",
            "softsign": "Softsign",
            "exponential": "Exp",
            "selu": "Selu",
        }
        if name == "linear":
            return x
        if name in simple:
            return self.op(simple[name], [x])
        if name == "hard_sigmoid":  # Keras 3: relu6(x + 3) / 6 = clip(x / 6 + 1/2, 0, 1)
            return self.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)
        if name == "elu":
            return self.op("Elu", [x], alpha=1.0)
        if name in ("swish", "silu"):
            return self.op("Mul", [x, self.op("Sigmoid", [x])])
        if name == "gelu":  # exact: x / 2 (1 + erf(x / sqrt 2))
            e = self.op("Erf", [self.op("Mul", [x, self.const(1.0 / math.sqrt(2.0))])])
            half = self.op("Mul", [x, self.const(0.5)])
            return self.op("Mul", [half, self.op("Add", [e, self.const(1.0)])])
        if name == "softmax":
            return self.op("Softmax", [x], axis=-1)
        raise OnnxExportError(f"expected an activation ONNX export knows, got {name!r}")


@dataclass
class InputSpec:
    """One graph input: its name, declared shape and dtype, and whether axis 1 is time."""

    name: str
    shape: tuple[int | None, ...]  # batch axis included (None)
    dtype: str
    dynamic_time: bool
    is_mask: bool = False  # (batch, time) of 0/1 passed to layers as ``mask=``



def model_dtype(model: torch.nn.Module) -> torch.dtype:
    """The one float dtype of ``model``'s weights (the default dtype without weights)."""
    dtypes = {p.dtype for p in model.parameters()}
    if not dtypes:
        return torch.get_default_dtype()
    if len(dtypes) > 1 or next(iter(dtypes)) not in FLOATS:
        raise OnnxExportError(
            f"expected one float32 or float64 dtype for all weights, got {sorted(map(str, dtypes))}"
        )
    return next(iter(dtypes))

