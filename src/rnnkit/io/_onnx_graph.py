"""Build an ONNX graph from an rnnkit model, layer by layer, with masks and dynamic shapes.

Every recurrent layer becomes one ONNX ``Scan`` over the time axis whose body is the cell's step
with rnnkit's (Keras's) mask semantics: where ``mask[b, t]`` is False the states keep their
values and the output repeats the previous output (zeros before the first valid step), or is
zero with ``zero_output_for_mask``. ``go_backwards`` scans in reverse. The input projection
``x W + b_in`` is one MatMul over the whole sequence outside the loop. Batch and time are
dynamic axes. Masks travel beside the tensors exactly as ``compute_mask`` passes them in
rnnkit, so masks may have holes anywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..layers import (
    Activation,
    Add,
    Bidirectional,
    Concatenate,
    Conv1D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    MaskedMaxPooling1D,
    Masking,
    MaxPooling1D,
    Reshape,
    TimeDistributed,
)
from ..layers._recurrent import RNN
from ._onnx_builder import BOOL, INT32, INT64, INT64_MIN, Builder, OnnxExportError, StateIO, Val


class GraphEmitter:
    """Turns rnnkit layer calls into ONNX nodes (one method per layer kind)."""

    def __init__(self, b: Builder, with_states: bool) -> None:
        self.b = b
        self.with_states = with_states
        self.graph_inputs: list[Any] = []
        self.state_io: list[StateIO] = []
        self._state_names: set[str] = set()
        self._state_of: dict[int, StateIO] = {}
        self.int_inputs: dict[str, int] = {}  # graph inputs holding integer ids: element type

    # -- dispatch ------------------------------------------------------------------------------
    def emit(self, layer: Any, x: Val | list[Val], in_shape: Any) -> list[Val]:
        """The outputs of ``layer(x)`` (one Val per output, masks as rnnkit computes them)."""
        b = self.b
        if isinstance(layer, (RNN, Bidirectional)):
            return self._recurrent(layer, self._single(layer, x))
        if isinstance(layer, (Concatenate, Add)):
            if not isinstance(x, list):
                raise OnnxExportError(f"expected a list input for {layer.name}, got one tensor")
            return [self._merge(layer, x, in_shape)]
        v = self._single(layer, x)
        if isinstance(layer, Masking):
            return [self._masking(layer, v)]
        if isinstance(layer, Embedding):
            return [self._embedding(layer, v)]
        if isinstance(layer, Dense):
            return [Val(self._dense(layer, v.name), v.mask)]
        if isinstance(layer, Activation):
            return [Val(b.activation(layer.activation, v.name), v.mask)]
        if isinstance(layer, Dropout):  # identity at inference
            return [v]
        if isinstance(layer, TimeDistributed):
            return [Val(self._time_distributed(layer, v.name), v.mask)]
        if isinstance(layer, Flatten):
            return [Val(b.op("Flatten", [v.name], axis=1))]
        if isinstance(layer, Conv1D):
            return [Val(self._conv1d(layer, v.name))]
        if isinstance(layer, MaxPooling1D):
            return [Val(self._max_pool(layer, v.name))]
        if isinstance(layer, MaskedMaxPooling1D):
            return [self._masked_max_pool(layer, v)]
        if isinstance(layer, Reshape):  # (batch, ...) -> (batch, *target_shape); no mask
            return [Val(b.op("Reshape", [v.name, b.ints([0, *layer.target_shape])]))]
        if isinstance(layer, GlobalAveragePooling1D):
            return [Val(self._global_average(v))]
        if isinstance(layer, GlobalMaxPooling1D):
            return [Val(b.reduce("ReduceMax", v.name, [1], 0))]
        name = getattr(layer, "name", None) or type(layer).__name__
        raise OnnxExportError(
            f"expected layers ONNX export supports, got {name!r} ({type(layer).__name__})"
        )

    @staticmethod
    def _single(layer: Any, x: Val | list[Val]) -> Val:
        if isinstance(x, list):
            raise OnnxExportError(f"expected one input for {layer.name}, got {len(x)}")
        return x

    # -- simple layers -------------------------------------------------------------------------
    def _masking(self, layer: Masking, v: Val) -> Val:
        b = self.b
        value = b.const(layer.mask_value)
        differs = b.op("Not", [b.op("Equal", [v.name, value])])  # (batch, time, features)
        mask = b.cast(b.reduce("ReduceMax", b.float_mask(differs), [-1], 0), BOOL)  # (batch, time)
        keep = b.unsqueeze(b.float_mask(mask), [-1])  # (batch, time, 1)
        return Val(b.op("Mul", [v.name, keep]), mask)

    def _embedding(self, layer: Embedding, v: Val) -> Val:
        b = self.b
        elem = self.int_inputs.get(v.name)
        ids = v.name if elem is not None else b.cast(v.name, INT64)  # (batch, time)
        table = b.weight(layer.embeddings, f"{layer.name}.embeddings")
        out = b.op("Gather", [table, ids], axis=0)  # (batch, time, output_dim)
        mask = None
        if layer.mask_zero:
            zero = b.const(0, "zero_id", np.int32 if elem == INT32 else np.int64)
            mask = b.op("Not", [b.op("Equal", [ids, zero])])
        return Val(out, mask)

    def _dense(self, layer: Dense, x: str) -> str:
        b = self.b
        y = b.op("MatMul", [x, b.weight(layer.kernel, f"{layer.name}.kernel")])  # (..., units)
        if layer.bias is not None:
            y = b.op("Add", [y, b.weight(layer.bias, f"{layer.name}.bias")])
        return b.activation(layer.activation, y)

    def _time_distributed(self, layer: TimeDistributed, x: str) -> str:
        inner = layer.layer
        if isinstance(inner, Dense):
            return self._dense(inner, x)
        if isinstance(inner, Activation):
            return self.b.activation(inner.activation, x)
        if isinstance(inner, Dropout):
            return x
        raise OnnxExportError(
            f"expected TimeDistributed(Dense/Activation/Dropout) for ONNX export, got "
            f"TimeDistributed({type(inner).__name__}) in {layer.name!r}"
        )

    def _conv1d(self, layer: Conv1D, x: str) -> str:
        b = self.b
        xt = b.op("Transpose", [x], perm=[0, 2, 1])  # (batch, in, time)
        w = b.weight(layer.kernel.permute(2, 1, 0), f"{layer.name}.kernel")  # (filters, in, k)
        ins = [xt, w] + (
            [b.weight(layer.bias, f"{layer.name}.bias")] if layer.bias is not None else []
        )
        span = layer.dilation_rate * (layer.kernel_size - 1)
        attrs: dict[str, Any] = dict(
            kernel_shape=[layer.kernel_size],
            strides=[layer.strides],
            dilations=[layer.dilation_rate],
        )
        if layer.padding == "causal":
            attrs["pads"] = [span, 0]
        elif layer.padding == "same" and layer.strides == 1:
            attrs["pads"] = [span // 2, span - span // 2]
        elif (
            layer.padding == "same"
        ):  # total = max(0, (ceil(L/s) - 1) s + span + 1 - L), right-heavy
            attrs["auto_pad"] = "SAME_UPPER"
        else:
            attrs["pads"] = [0, 0]
        y = b.op("Conv", ins, **attrs)  # (batch, filters, time')
        return b.activation(layer.activation, b.op("Transpose", [y], perm=[0, 2, 1]))

    def _max_pool(self, layer: MaxPooling1D, x: str) -> str:
        b = self.b
        xt = b.op("Transpose", [x], perm=[0, 2, 1])  # (batch, ch, time)
        attrs: dict[str, Any] = dict(kernel_shape=[layer.pool_size], strides=[layer.strides])
        if layer.padding == "same":
            attrs["auto_pad"] = "SAME_UPPER"
        y = b.op("MaxPool", [xt], **attrs)
        return b.op("Transpose", [y], perm=[0, 2, 1])  # (batch, time', ch)

    def _masked_max_pool(self, layer: MaskedMaxPooling1D, v: Val) -> Val:
        """Max over windows of ``pool_size`` steps from step 0 of the real steps only (a window
        of padding gives 0); the output mask marks a window real when any of its steps is."""
        b, p = self.b, layer.pool_size
        x = v.name
        if v.mask is not None:  # padding becomes -inf: it never wins a max
            x = b.op("Where", [b.unsqueeze(v.mask, [-1]), x, b.const(-np.inf)])
        xt = self._pad_time(b.op("Transpose", [x], perm=[0, 2, 1]), p, -np.inf)  # (b, ch, T')
        y = b.op("MaxPool", [xt], kernel_shape=[p], strides=[p])  # (batch, ch, T' / p)
        y = b.op("Transpose", [y], perm=[0, 2, 1])  # (batch, T' / p, ch)
        if v.mask is None:  # every window holds a real step (padding is < p steps)
            return Val(y)
        m = self._pad_time(b.unsqueeze(b.float_mask(v.mask), [1]), p, 0.0)  # (batch, 1, T')
        pooled = b.op("MaxPool", [m], kernel_shape=[p], strides=[p])  # (batch, 1, T' / p)
        real = b.op("Greater", [b.op("Squeeze", [pooled, b.ints([1])]), b.const(0.0)])
        # a window of padding only is 0 (onnxruntime's max of -inf alone is the lowest float)
        y = b.op("Where", [b.unsqueeze(real, [-1]), y, b.const(0.0)])
        return Val(y, real)

    def _pad_time(self, x: str, multiple: int, value: float) -> str:
        """``x`` (batch, ch, time) padded at the end with ``value`` to a multiple of
        ``multiple`` steps (the length is dynamic)."""
        b = self.b
        time = b.op("Gather", [b.op("Shape", [x]), b.ints([2])], axis=0)  # (1,)
        k = b.ints([multiple])
        extra = b.op("Mod", [b.op("Sub", [k, b.op("Mod", [time, k])]), k])  # (1,)
        pads = b.op("Concat", [b.ints([0, 0, 0, 0, 0]), extra], axis=0)  # (6,)
        return b.op("Pad", [x, pads, b.const(value)], mode="constant")

    def _global_average(self, v: Val) -> str:
        b = self.b
        if v.mask is None:
            return b.reduce("ReduceMean", v.name, [1], 0)
        m = b.unsqueeze(b.float_mask(v.mask), [-1])  # (batch, time, 1)
        total = b.reduce("ReduceSum", b.op("Mul", [v.name, m]), [1], 0)  # (batch, ch)
        return b.op("Div", [total, b.reduce("ReduceSum", m, [1], 0)])

    def _merge(self, layer: Concatenate | Add, xs: list[Val], in_shape: Any) -> Val:
        b = self.b
        names = [v.name for v in xs]
        masks = [v.mask for v in xs]
        if isinstance(layer, Add):
            out = b.op("Sum", names)
            present = [m for m in masks if m is not None]
            if len(present) != len(masks):  # rnnkit: any unmasked input -> no mask
                return Val(out)
            mask = present[0]
            for m in present[1:]:
                mask = b.op("Or", [mask, m])
            return Val(out, mask)
        out = b.op("Concat", names, axis=layer.axis)
        if all(m is None for m in masks):
            return Val(out)
        ref = [m for m in masks if m is not None][0]
        ones: str | None = None
        filled: list[str] = []
        for maybe in masks:
            if maybe is None:  # rnnkit: ones_like(the first mask)
                if ones is None:
                    true = b.onnx.helper.make_tensor("true", BOOL, [1], [True])
                    ones = b.op("ConstantOfShape", [b.op("Shape", [ref])], value=true)
                filled.append(ones)
            else:
                filled.append(maybe)
        rank = len(in_shape[0])
        if layer.axis in (-1, rank - 1):  # features axis: a step is kept by all
            mask = filled[0]
            for m in filled[1:]:
                mask = b.op("And", [mask, m])
            return Val(out, mask)
        return Val(out, b.op("Concat", filled, axis=layer.axis))

    # -- recurrent layers ----------------------------------------------------------------------
    def _recurrent(self, layer: RNN | Bidirectional, v: Val) -> list[Val]:
        b = self.b
        if isinstance(layer, RNN):
            y, states = self._rnn(layer, v)
            out_mask = v.mask if layer.return_sequences else None
            outs = [Val(y, out_mask)]
            return outs + [Val(s) for s in states] if layer.return_state else outs
        y, fw = self._rnn(layer.forward_layer, v)
        y_rev, bw = self._rnn(layer.backward_layer, v)
        if layer.return_sequences:  # back to time order
            y_rev = b.op(
                "Slice", [y_rev, b.ints([-1]), b.ints([INT64_MIN]), b.ints([1]), b.ints([-1])]
            )
        mask = v.mask if layer.return_sequences else None
        mode = layer.merge_mode
        if mode == "concat":
            merged = [b.op("Concat", [y, y_rev], axis=-1)]
        elif mode == "sum":
            merged = [b.op("Add", [y, y_rev])]
        elif mode == "mul":
            merged = [b.op("Mul", [y, y_rev])]
        elif mode == "ave":
            merged = [b.op("Div", [b.op("Add", [y, y_rev]), b.const(2.0)])]
        else:
            merged = [y, y_rev]
        outs = [Val(m, mask) for m in merged]
        return outs + [Val(s) for s in fw + bw] if layer.return_state else outs

    def _initial_states(self, layer: RNN, x: str) -> list[str]:
        b = self.b
        sizes = layer.state_sizes()
        n = len(sizes)
        if self.with_states:
            if id(layer) in self._state_of:
                raise OnnxExportError(
                    f"expected each recurrent layer to be called once with with_states=True, got "
                    f"{layer.name!r} called more than once"
                )
            letters = ["h", "c"][:n]
            ins = [self._unique(f"{layer.name}.{s}_in") for s in letters]
            outs = [self._unique(f"{layer.name}.{s}_out") for s in letters]
            for name, size in zip(ins, sizes, strict=True):
                self.graph_inputs.append(
                    b.onnx.helper.make_tensor_value_info(name, b.elem, ["batch", size])
                )
            self._state_of[id(layer)] = StateIO(layer, ins, outs)
            self.state_io.append(self._state_of[id(layer)])
            return ins
        return [self._zeros(x, size) for size in sizes]

    def _unique(self, name: str) -> str:
        out, k = name, 1
        while out in self._state_names or out in self.b.reserved:
            out, k = f"{name}_{k}", k + 1
        self._state_names.add(out)
        self.b.reserved.add(out)
        return out

    def _zeros(self, x: str, units: int) -> str:
        b = self.b
        batch = b.op("Gather", [b.op("Shape", [x]), b.ints([0])], axis=0)  # (1,)
        shape = b.op("Concat", [batch, b.ints([units])], axis=0)
        zero = b.onnx.helper.make_tensor("zero", b.elem, [1], [0.0])
        return b.op("ConstantOfShape", [shape], value=zero, hint="zeros")  # (batch, units)

    def _rnn(self, layer: RNN, v: Val) -> tuple[str, list[str]]:
        """One recurrent layer: (outputs, final states) as ONNX names."""
        b = self.b
        cell = layer.cell
        u = cell.units
        xp = b.op("MatMul", [v.name, b.weight(cell.kernel, f"{layer.name}.kernel")])  # (b, t, g*u)
        b_in = cell.spec.input_bias(cell.bias)
        if b_in is not None:
            xp = b.op("Add", [xp, b.weight(b_in, f"{layer.name}.bias")])
        init = self._initial_states(layer, v.name)
        sizes, width = cell.state_sizes, cell.output_size
        prev0 = self._zeros(v.name, width)
        scan_in = [xp]
        if v.mask is not None:
            scan_in.append(b.unsqueeze(v.mask, [-1]))  # (batch, time, 1) bool

        body = b.sub()
        h = b.onnx.helper
        st_in = [body.fresh("state_in") for _ in init]
        prev_in, xp_t = body.fresh("prev_in"), body.fresh("xp_t")
        keep = body.fresh("keep_t") if v.mask is not None else None
        act, ract = cell.activation, cell.recurrent_activation_name
        try:
            new_states, out = cell.spec.onnx_step(
                body,
                layer.name,
                (cell.recurrent_kernel, cell.bias, *cell.norm_weights()),
                xp_t,
                st_in,
                u,
                act,
                ract,
            )
        except NotImplementedError as e:
            raise OnnxExportError(f"expected an ONNX step for {layer.name!r}, got: {e}") from e
        out = self._output_options(body, layer, st_in[0], out)
        new_states = [out, *new_states[1:]]
        if keep is not None:
            new_states = [body.op("Where", [keep, n, s]) for n, s in zip(new_states, st_in)]
            fill = body.const(0.0) if layer.zero_output_for_mask else prev_in
            out = body.op("Where", [keep, out, fill])
        st_out = [body.op("Identity", [s], hint="state_out") for s in new_states]
        prev_out = body.op("Identity", [out], hint="prev_out")
        outputs = st_out + [prev_out]
        if layer.return_sequences:
            outputs.append(body.op("Identity", [out], hint="y_t"))

        def info(name: str, shape: list[Any], elem: int | None = None) -> Any:
            return h.make_tensor_value_info(name, elem or b.elem, shape)

        body_inputs = [info(s, [None, size]) for s, size in zip(st_in, sizes, strict=True)] + [
            info(prev_in, [None, width]),
            info(xp_t, [None, None]),
        ]
        if keep is not None:
            body_inputs.append(info(keep, [None, 1], BOOL))
        widths = [*sizes, width, width]  # the states, the previous output, the step's output
        body_outputs = [info(o, [None, w]) for o, w in zip(outputs, widths, strict=False)]
        graph = h.make_graph(body.nodes, b.fresh(f"{layer.name}_step"), body_inputs, body_outputs)
        k = len(scan_in)
        n_out = len(init) + 1 + (1 if layer.return_sequences else 0)
        direction = 1 if layer.go_backwards else 0
        attrs: dict[str, Any] = dict(
            num_scan_inputs=k, scan_input_axes=[1] * k, scan_input_directions=[direction] * k
        )
        if layer.return_sequences:
            attrs["scan_output_axes"] = [1]
        res = b.op(
            "Scan",
            [*init, prev0, *scan_in],
            n_out=n_out,
            hint=f"{layer.name}_scan",
            body=graph,
            **attrs,
        )
        finals = res[: len(init)]
        y = res[len(init) + 1] if layer.return_sequences else res[len(init)]
        if self.with_states:
            for src, dst in zip(finals, self._state_of[id(layer)].outputs):
                b.nodes.append(h.make_node("Identity", [src], [dst]))
        return y, list(finals)

    def _output_options(self, b: Builder, layer: RNN, h: str, out: str) -> str:
        """The step's output after the options that act on it: an LSTM's projection
        (``out P``), then zoneout at inference (``r h + (1 - r) out``)."""
        cell = layer.cell
        projection = getattr(cell, "projection_kernel", None)
        if projection is not None:
            p = b.weight(projection, f"{layer.name}.projection_kernel")
            out = b.op("MatMul", [out, p])  # (batch, proj_size)
        rate = float(getattr(cell, "zoneout", 0.0))
        if rate:
            kept = b.op("Mul", [b.const(rate), h])
            out = b.op("Add", [kept, b.op("Mul", [b.const(1.0 - rate), out])])
        return out
