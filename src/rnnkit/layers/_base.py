"""The layer base class: Keras-style build-on-first-call, shapes, masks and JSON config.

A ``Layer`` is a ``torch.nn.Module``. It creates its weights in :meth:`Layer.build` once the input
shape is known (from an ``Input`` or from the first call), reports
:meth:`Layer.compute_output_shape` for summaries and the functional API, passes or creates masks
through :meth:`Layer.compute_mask`, and round-trips through :meth:`Layer.get_config`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ._initializers import get_initializer

Shape = tuple[int | None, ...]

LAYERS: dict[str, type[Layer]] = {}
_name_counts: defaultdict[str, int] = defaultdict(int)


def register(cls: type[Layer]) -> type[Layer]:
    """Register a layer class so that a saved config can name it."""
    LAYERS[cls.__name__] = cls
    return cls


def layer_class(name: str) -> type[Layer]:
    """The registered layer class called ``name``; an unknown name is a clear error."""
    if not isinstance(name, str) or name not in LAYERS:
        raise ValueError(f"expected a registered layer class in {sorted(LAYERS)}, got {name!r}")
    return LAYERS[name]


def _snake(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


def unique_name(base: str) -> str:
    """Keras-style automatic names: ``lstm``, ``lstm_1``, ``lstm_2`` ..."""
    n = _name_counts[base]
    _name_counts[base] += 1
    return base if n == 0 else f"{base}_{n}"


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    if dtype is None:
        return torch.get_default_dtype()
    if isinstance(dtype, torch.dtype):
        return dtype
    table = {
        "float32": torch.float32,
        "float64": torch.float64,
        "float16": torch.float16,
        "bfloat16": torch.bfloat16,
    }
    if dtype not in table:
        raise ValueError(f"expected a float dtype in {sorted(table)}, got {dtype!r}")
    return table[dtype]


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


class Layer(nn.Module):
    """Base class of every rnnkit layer.

    Subclasses implement ``build(input_shape)`` (create weights with :meth:`add_weight`),
    ``forward(inputs, mask=None)``, ``compute_output_shape(input_shape)`` and ``get_config()``.
    ``supports_masking`` layers pass an incoming mask on unchanged; the others drop it (Keras).
    """

    supports_masking: ClassVar[bool] = False

    def __init__(
        self,
        *,
        name: str | None = None,
        dtype: str | torch.dtype | None = None,
        trainable: bool = True,
        input_shape: tuple[int | None, ...] | None = None,
    ) -> None:
        super().__init__()
        self.name = name or unique_name(_snake(type(self).__name__))
        self._dtype = resolve_dtype(dtype)
        self.trainable = trainable
        self.built = False
        self.input_shape_hint: Shape | None = (
            (None, *input_shape) if input_shape is not None else None
        )
        self._weight_order: list[str] = []

    # -- weights -------------------------------------------------------------------------------
    def add_weight(
        self, name: str, shape: tuple[int, ...], initializer: str, trainable: bool = True
    ) -> Tensor:
        """Create a weight (Keras layout) initialised by the named initializer.

        A trainable weight is a parameter; a non-trainable one (BatchNormalization's moving
        statistics) is a buffer: saved and counted, never given to an optimizer."""
        if name in self.__dict__:  # a placeholder such as `self.bias = None`
            delattr(self, name)
        value = torch.empty(shape, dtype=self._dtype)
        if trainable:
            value = nn.Parameter(value, requires_grad=self.trainable)
            get_initializer(initializer)(value)
            self.register_parameter(name, value)
        else:
            get_initializer(initializer)(value)
            self.register_buffer(name, value)
        self._weight_order.append(name)
        return value

    def keras_weights(self) -> list[Tensor]:
        """This layer's weights in Keras's order (what ``get_weights`` returns)."""
        return [getattr(self, n) for n in self._weight_order]

    def count_params(self) -> int:
        """Every weight, non-trainable ones included (as Keras counts)."""
        return sum(p.numel() for p in self.parameters()) + sum(b.numel() for b in self.buffers())

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    def _apply(self, fn: Any, recurse: bool = True) -> Layer:  # keep dtype in step with .double()
        out = super()._apply(fn, recurse)
        for p in self.parameters(recurse=False):
            self._dtype = p.dtype
            break
        return out

    # -- building ------------------------------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        """Create the weights for ``input_shape`` (batch axis included, may be None)."""

    def ensure_built(self, input_shape: Any) -> None:
        """Build on the first call; later calls must bring the same feature size."""
        features = self.input_features(input_shape)
        if not self.built:
            self.build(input_shape)
            self.built = True
            self._built_features = features
        elif features != getattr(self, "_built_features", features):
            raise ValueError(
                f"expected input with last axis {self._built_features} for layer {self.name!r} "
                f"(built for it), got {features}"
            )

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def call_shape(self, inputs: Any, kwargs: dict[str, Any]) -> Any:
        """The input shape a call builds the layer with (the first argument's by default;
        layers that also build from keyword inputs, as MultiHeadAttention's ``value``, widen
        it). ``inputs`` and ``kwargs`` hold tensors or symbolic tensors."""
        return shape_of(inputs)

    def call_output_shape(self, input_shape: Any, kwargs: dict[str, Any]) -> Any:
        """The output shape of a call with these (plain) keyword arguments."""
        return self.compute_output_shape(input_shape)

    def positional_names(self) -> tuple[str, ...]:
        """Names of the inputs a call may pass positionally after the first (keyword inputs of
        the functional graph, e.g. MultiHeadAttention's ``value``, ``key``)."""
        return ()

    def input_features(self, input_shape: Any) -> Any:
        """What later calls must keep equal to the first (the feature axis by default)."""
        return _last_axis(input_shape)

    def compute_mask(self, inputs: Any, mask: Tensor | None) -> Any:
        """The mask of this layer's output, given its input and input mask."""
        return mask if self.supports_masking else None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from ._symbolic import SymbolicTensor, call_symbolic

        first = args[0] if args else None
        names = self.positional_names()
        if len(args) > 1 and names:  # mha(query, value) -> mha(query, value=value)
            if len(args) - 1 > len(names):
                raise TypeError(
                    f"expected at most {len(names) + 1} positional inputs for layer "
                    f"{self.name!r}, got {len(args)}"
                )
            kwargs = {**dict(zip(names, args[1:])), **kwargs}
            args = args[:1]
        if isinstance(first, SymbolicTensor) or (
            isinstance(first, (list, tuple))
            and first
            and all(isinstance(t, SymbolicTensor) for t in first)
        ):
            return call_symbolic(self, first, kwargs)
        if first is not None:
            self.ensure_built(self.call_shape(first, kwargs))
        return super().__call__(*args, **kwargs)

    # -- config --------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as JSON-compatible values."""
        return {"name": self.name, "dtype": dtype_name(self._dtype), "trainable": self.trainable}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


def _last_axis(shape: Any) -> Any:
    if isinstance(shape, list):
        return [_last_axis(s) for s in shape]
    return shape[-1] if shape else None


def shape_of(x: Any) -> Any:
    """The shape a layer builds with: (None, ...) of a tensor; a symbolic tensor's own shape."""
    if isinstance(x, Tensor):
        return (None, *x.shape[1:])
    if isinstance(x, (list, tuple)):
        return [shape_of(t) for t in x]
    shape = getattr(x, "shape", None)
    if isinstance(shape, tuple):  # a SymbolicTensor (its batch axis may be fixed)
        return shape
    raise TypeError(f"expected a torch.Tensor input, got {type(x).__name__}")
