"""Layer wrappers: Bidirectional and TimeDistributed."""

from __future__ import annotations

import copy
import inspect
from typing import Any

import torch
from torch import Tensor

from ._base import Layer, layer_class, register
from ._recurrent import RNN

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


@register
class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy backwards and merges the two.

    ``merge_mode``: "concat" (last axis, 2u), "sum", "mul", "ave", or None (a list of the two).
    The backward outputs are flipped back to time order when ``return_sequences``. With
    ``return_state`` the call returns ``[output, *forward_states, *backward_states]``.
    Masked steps give zero outputs (Keras sets ``zero_output_for_mask`` for both directions when
    returning sequences).
    """

    supports_masking = True

    def __init__(
        self,
        layer: RNN,
        merge_mode: str | None = "concat",
        backward_layer: RNN | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(layer, RNN):
            raise TypeError(f"expected a recurrent layer, got {type(layer).__name__}")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"expected merge_mode in {MERGE_MODES}, got {merge_mode!r}")
        kwargs.setdefault("name", f"bidirectional_{layer.name}")
        super().__init__(**kwargs)
        if backward_layer is None:
            config = layer.get_config()
            config.update(name=f"backward_{layer.name}", go_backwards=not layer.go_backwards)
            backward = type(layer).from_config(config)
            if not isinstance(backward, RNN):
                raise TypeError(
                    f"expected a recurrent backward layer, got {type(backward).__name__}"
                )
            backward_layer = backward
        layer.name = (
            f"forward_{layer.name}" if not layer.name.startswith("forward_") else layer.name
        )
        self.forward_layer = layer
        self.backward_layer = backward_layer
        for rnn in (self.forward_layer, self.backward_layer):
            rnn.zero_output_for_mask = rnn.return_sequences
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state

    def build(self, input_shape: Any) -> None:
        self.forward_layer.ensure_built(input_shape)
        self.backward_layer.ensure_built(input_shape)

    def keras_weights(self) -> list[Tensor]:
        return self.forward_layer.keras_weights() + self.backward_layer.keras_weights()

    def reset_states(self) -> None:
        """Forget the carried states of both directions (``stateful`` layers)."""
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    def _merge(self, y: Tensor, y_rev: Tensor) -> Any:
        if self.merge_mode == "concat":
            return torch.cat([y, y_rev], dim=-1)
        if self.merge_mode == "sum":
            return y + y_rev
        if self.merge_mode == "mul":
            return y * y_rev
        if self.merge_mode == "ave":
            return (y + y_rev) / 2
        return [y, y_rev]

    def forward(
        self,
        inputs: Tensor,
        mask: Tensor | None = None,
        initial_state: list[Tensor] | None = None,
        training: bool | None = None,
    ) -> Any:
        fw_state = bw_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            fw_state, bw_state = list(initial_state[:half]), list(initial_state[half:])
        y = self.forward_layer(inputs, mask=mask, initial_state=fw_state, training=training)
        y_rev = self.backward_layer(inputs, mask=mask, initial_state=bw_state, training=training)
        states: list[Tensor] = []
        if self.return_state:
            y, *fw = y
            y_rev, *bw = y_rev
            states = fw + bw
        if self.return_sequences:
            y_rev = torch.flip(y_rev, dims=[1])
        out = self._merge(y, y_rev)
        if self.return_state:
            return [*out, *states] if self.merge_mode is None else [out, *states]
        return out

    def compute_output_shape(self, input_shape: Any) -> Any:
        out = self.forward_layer.compute_output_shape(input_shape)
        states: list[Any] = []
        if self.return_state:
            out, *states = out
            states = states * 2
        if self.merge_mode == "concat":
            out = (*out[:-1], out[-1] * 2)
        outs = [out, out] if self.merge_mode is None else [out]
        return outs + states if (self.return_state or self.merge_mode is None) else out

    def compute_mask(self, inputs: Any, mask: Tensor | None) -> Any:
        out = mask if self.return_sequences else None
        masks = [out, out] if self.merge_mode is None else [out]
        if self.return_state:
            masks += [None] * (2 * self.forward_layer.cell.n_states)
        return masks if len(masks) > 1 else masks[0]

    def get_config(self) -> dict[str, Any]:
        inner = self.forward_layer.get_config()
        inner["name"] = inner["name"].removeprefix("forward_")
        return {
            **super().get_config(),
            "layer": {"class_name": type(self.forward_layer).__name__, "config": inner},
            "merge_mode": self.merge_mode,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        config = copy.deepcopy(config)
        inner = config.pop("layer")
        layer = layer_class(inner["class_name"]).from_config(inner["config"])
        if not isinstance(layer, RNN):
            raise TypeError(
                f"expected a recurrent layer in Bidirectional, got {inner['class_name']}"
            )
        return cls(layer, **config)


@register
class TimeDistributed(Layer):
    """Applies ``layer`` to every time step: (batch, time, ...) -> (batch, time, ...')."""

    supports_masking = True

    def __init__(self, layer: Layer, **kwargs: Any) -> None:
        if not isinstance(layer, Layer):
            raise TypeError(f"expected an rnnkit layer, got {type(layer).__name__}")
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape: Any) -> None:
        if len(input_shape) < 3:
            raise ValueError(f"expected input of rank >= 3 (batch, time, ...), got {input_shape}")
        self.layer.ensure_built((None, *input_shape[2:]))

    def keras_weights(self) -> list[Tensor]:
        return self.layer.keras_weights()

    def forward(
        self, inputs: Tensor, mask: Tensor | None = None, training: bool | None = None
    ) -> Tensor:
        """Each step's slice goes through ``layer`` with that step's slice of ``mask``
        (batch, time, ...) -> (..., ) as Keras passes ``mask[:, t]``."""
        batch, time = inputs.shape[:2]
        kwargs: dict[str, Any] = {}
        if mask is not None:
            if tuple(mask.shape[:2]) != (batch, time):
                raise ValueError(
                    f"expected a mask starting with (batch, time) = {(batch, time)} for layer "
                    f"{self.name!r}, got shape {tuple(mask.shape)}"
                )
            kwargs["mask"] = mask.reshape(batch * time, *mask.shape[2:])  # (batch * time, ...)
        if training is not None and "training" in inspect.signature(self.layer.forward).parameters:
            kwargs["training"] = training
        y = self.layer(inputs.reshape(batch * time, *inputs.shape[2:]), **kwargs)
        return y.reshape(batch, time, *y.shape[1:])  # (batch, time, ...)

    def compute_output_shape(self, input_shape: Any) -> Any:
        inner = self.layer.compute_output_shape((input_shape[0], *input_shape[2:]))
        return (input_shape[0], input_shape[1], *inner[1:])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "layer": {"class_name": type(self.layer).__name__, "config": self.layer.get_config()},
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        config = copy.deepcopy(config)
        inner = config.pop("layer")
        return cls(layer_class(inner["class_name"]).from_config(inner["config"]), **config)
