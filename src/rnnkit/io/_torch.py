"""torch.nn.RNN / LSTM / GRU <-> rnnkit recurrent layers, with equal outputs.

Layouts (``u`` units, ``d`` input features):

* LSTM: torch ``weight_ih_l{k}`` (4u, d) with gates (i, f, g, o) is Keras's gate order
  (i, f, c, o) transposed: ``kernel = weight_ih.T`` (d, 4u), ``recurrent_kernel = weight_hh.T``;
  torch's two biases add up to Keras's one: ``bias = bias_ih + bias_hh``.
* GRU: torch gates are (r, z, n), Keras's (z, r, h); torch's update ``h' = (1 - z) n + z h`` is
  Keras's ``h' = z h + (1 - z) hh`` and torch's ``n = tanh(x W_n + b_in + r (h U_n + b_hn))`` is
  Keras's ``reset_after=True``. So the gate blocks are swapped (r, z) -> (z, r), the weights
  transposed and ``bias = [bias_ih; bias_hh]`` (2, 3u) after the swap.
* RNN: ``h' = act(x W + b_ih + h U + b_hh)`` with act tanh or relu: Keras's SimpleRNN with
  ``bias = bias_ih + bias_hh``.

``num_layers`` > 1 becomes a list of layers (``return_sequences=True`` on all but, optionally,
the last), with a ``Dropout`` between layers when torch has inter-layer ``dropout``;
``bidirectional=True`` becomes ``Bidirectional(merge_mode="concat")``, whose backward layer
reads the sequence reversed and whose outputs are put back in time order, as torch's.

rnnkit is batch-first: inputs are (batch, time, features). For a torch module with
``batch_first=False`` (time, batch, features), transpose: ``x.transpose(0, 1)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import nn

from ..kernels.cells import CellSpec, spec_for_torch
from ..layers import Bidirectional, Dropout, Input, Layer
from ..layers._base import layer_class
from ..layers._recurrent import RNN
from ..model import Sequential

RecurrentLike = RNN | Bidirectional


def _new_layer(
    module: nn.RNNBase,
    spec: CellSpec,
    return_sequences: bool,
    return_state: bool,
    go_backwards: bool,
    name: str | None,
) -> RNN:
    dtype = next(module.parameters()).dtype
    kw: dict[str, Any] = dict(
        use_bias=module.bias,
        return_sequences=return_sequences,
        return_state=return_state,
        go_backwards=go_backwards,
        dtype=dtype,
        name=name,
    )
    kw.update(spec.torch_layer_kwargs(module))
    cls: Any = layer_class(spec.keras_layer)
    return cast(RNN, cls(module.hidden_size, **kw))


def _copy_from_torch(layer: RNN, module: nn.RNNBase, spec: CellSpec, suffix: str) -> None:
    w_ih = getattr(module, f"weight_ih_{suffix}").detach()
    w_hh = getattr(module, f"weight_hh_{suffix}").detach()
    cell = layer.cell
    with torch.no_grad():
        kernel, rec = spec.from_torch_weights(w_ih, w_hh)
        cell.kernel.copy_(kernel)
        cell.recurrent_kernel.copy_(rec)
        bias = cell.bias
        if module.bias and bias is not None:
            b_ih = getattr(module, f"bias_ih_{suffix}").detach()
            b_hh = getattr(module, f"bias_hh_{suffix}").detach()
            bias.copy_(spec.from_torch_bias(b_ih, b_hh))
        projection = getattr(cell, "projection_kernel", None)
        if projection is not None:  # nn.LSTM(proj_size): weight_hr (proj_size, hidden)
            projection.copy_(getattr(module, f"weight_hr_{suffix}").detach().T)


def from_torch(
    module: nn.Module,
    *,
    return_sequences: bool = True,
    return_state: bool = False,
    as_model: bool = False,
) -> list[Layer] | Sequential:
    """Convert a ``torch.nn.RNN``/``LSTM``/``GRU`` (with its weights) into rnnkit layers.

    Returns one built layer per torch layer: ``LSTM``/``GRU(reset_after=True)``/``SimpleRNN``,
    each wrapped in ``Bidirectional(merge_mode="concat")`` when the module is bidirectional, with
    a ``Dropout(module.dropout)`` between layers when that rate is non-zero (torch's inter-layer
    dropout, active in training only). Every layer returns sequences except, when
    ``return_sequences=False``, the last. With ``return_state`` every recurrent layer also returns
    its final states (``[y, h, (c)]``, Bidirectional ``[y, *forward, *backward]``): layer ``k``'s
    states are torch's ``h_n[k * dirs + direction]`` (and ``c_n``). ``as_model=True`` gives a
    :class:`rnnkit.Sequential` with an ``Input((None, input_size))`` instead of the list.

    Inputs are batch-first (batch, time, features); for ``batch_first=False`` modules transpose
    the (time, batch, features) input: ``x.transpose(0, 1)``. The output equals torch's
    ``output`` (batch-first); torch's ``h_n`` are the per-layer final states.

    Raises:
        TypeError: ``module`` is not an nn.RNN/LSTM/GRU.
        ValueError: ``as_model`` with ``return_state``.

    An ``nn.LSTM(proj_size=p)`` becomes ``LSTM(hidden_size, proj_size=p)`` layers (outputs and
    ``h`` p wide, ``c`` hidden_size wide, as torch's).
    """
    spec = spec_for_torch(module)
    module = cast(nn.RNNBase, module)
    if as_model and return_state:
        raise ValueError(
            "expected return_state=False with as_model=True (a Sequential model "
            "returns one output), got return_state=True"
        )
    dirs = 2 if module.bidirectional else 1
    layers: list[Layer] = []
    device = next(module.parameters()).device
    for k in range(module.num_layers):
        seqs = return_sequences or k < module.num_layers - 1
        width = int(getattr(module, "proj_size", 0)) or module.hidden_size
        features = module.input_size if k == 0 else width * dirs
        fw = _new_layer(module, spec, seqs, return_state, False, None)
        if module.bidirectional:
            bw = _new_layer(module, spec, seqs, return_state, True, None)
            layer: Layer = Bidirectional(fw, merge_mode="concat", backward_layer=bw)
            layer.ensure_built((None, None, features))
            _copy_from_torch(fw, module, spec, f"l{k}")
            _copy_from_torch(bw, module, spec, f"l{k}_reverse")
        else:
            layer = fw
            layer.ensure_built((None, None, features))
            _copy_from_torch(fw, module, spec, f"l{k}")
        if k and module.dropout > 0:
            layers.append(Dropout(module.dropout))
        layers.append(layer.to(device))
    if as_model:
        return Sequential([Input((None, module.input_size)), *layers])
    return layers


# -- rnnkit -> torch -----------------------------------------------------------------------------
def _rnn_spec(layer: RNN, where: str) -> CellSpec:
    cell = layer.cell
    spec = cell.spec
    if spec.torch_module is None:
        missing = spec.torch_missing or f"torch has no {spec.name} module"
        raise ValueError(f"expected a layer torch.nn can run ({where}): {missing}")
    allowed = spec.torch_activations()
    if cell.activation not in allowed:
        raise ValueError(
            f"expected activation in {allowed} for torch ({where}), got {cell.activation!r}"
        )
    if spec.gated and cell.recurrent_activation_name != "sigmoid":
        raise ValueError(
            f"expected recurrent_activation 'sigmoid' for torch ({where}), "
            f"got {cell.recurrent_activation_name!r}"
        )
    if layer.dropout or layer.recurrent_dropout:
        raise ValueError(
            f"expected dropout=0 and recurrent_dropout=0 ({where}): torch's RNN modules have no "
            f"such dropout, got {layer.dropout} and {layer.recurrent_dropout}"
        )
    if "zoneout" in cell.options():
        raise ValueError(
            f"expected no zoneout ({where}): torch's RNN modules have none, got a layer with it"
        )
    if not cell.built:
        raise ValueError(
            f"expected a built layer (call it once or give it an Input), got {where} unbuilt"
        )
    return spec


def _directions(item: Layer, i: int) -> tuple[RNN, RNN | None]:
    where = f"layer {i} ({getattr(item, 'name', '?')})"
    if isinstance(item, Bidirectional):
        if item.merge_mode != "concat":
            raise ValueError(
                f"expected merge_mode='concat' for torch ({where}), got {item.merge_mode!r}"
            )
        fw, bw = item.forward_layer, item.backward_layer
        if fw.go_backwards or not bw.go_backwards:
            raise ValueError(f"expected a forward and a go_backwards layer in {where}")
        return fw, bw
    if isinstance(item, RNN):
        if item.go_backwards:
            raise ValueError(f"expected go_backwards=False for torch ({where}), got True")
        return item, None
    raise TypeError(
        f"expected recurrent layers (or Dropout between them), got {type(item).__name__}"
    )


def to_torch(
    layers: Layer | Sequence[Layer] | Sequential, *, batch_first: bool = True
) -> nn.RNNBase:
    """Convert built rnnkit recurrent layers into one ``nn.LSTM``/``nn.GRU``/``nn.RNN``.

    ``layers``: one ``LSTM``/``GRU``/``SimpleRNN`` or ``Bidirectional`` (``merge_mode="concat"``),
    a list of them (a stack: the next layer's features are this one's outputs; all but the last
    returning sequences), optionally with equal-rate ``Dropout`` layers between them (torch's
    ``dropout``), or a ``Sequential`` of exactly that. All must share kind, units, bias use and
    direction count; LSTM/GRU need tanh/sigmoid activations, GRU ``reset_after=True``,
    SimpleRNN tanh or relu; layer dropout and recurrent dropout must be 0 (torch has neither).

    The biases are split as torch's two: LSTM/SimpleRNN put Keras's bias in ``bias_ih`` and
    zeros in ``bias_hh``; GRU's input row goes to ``bias_ih`` and its recurrent row to
    ``bias_hh``. The module is ``batch_first`` by default, like rnnkit.
    """
    if isinstance(layers, Sequential):
        items = list(layers.layers)
    elif isinstance(layers, Layer):
        items = [layers]
    else:
        items = list(layers)
    if not items:
        raise ValueError("expected at least one recurrent layer, got none")
    stack: list[tuple[RNN, RNN | None]] = []
    dropout: float | None = None
    for i, item in enumerate(items):
        if isinstance(item, Dropout):
            if not stack or i == len(items) - 1 or isinstance(items[i - 1], Dropout):
                raise ValueError(f"expected Dropout only between recurrent layers, got one at {i}")
            if dropout is not None and item.rate != dropout:
                raise ValueError(
                    f"expected one Dropout rate between layers, got {dropout} and {item.rate}"
                )
            dropout = item.rate
            continue
        if not isinstance(item, Layer):
            raise TypeError(f"expected rnnkit layers, got {type(item).__name__}")
        stack.append(_directions(item, i))
    n_dropouts = sum(isinstance(item, Dropout) for item in items)
    if dropout is not None and n_dropouts != len(stack) - 1:
        raise ValueError(
            f"expected a Dropout between every pair of layers, got {n_dropouts} "
            f"for {len(stack)} layers"
        )
    first = stack[0][0]
    spec = _rnn_spec(first, "layer 0")
    units, bias, bidir = first.units, first.cell.use_bias, stack[0][1] is not None
    act = first.cell.activation
    width = first.cell.output_size
    dtype, device = first.cell.kernel.dtype, first.cell.kernel.device
    for k, (fw, bw) in enumerate(stack):
        for rnn in (fw, bw):
            if rnn is None:
                continue
            where = f"layer {k} ({rnn.name})"
            if (
                _rnn_spec(rnn, where) is not spec
                or rnn.units != units
                or rnn.cell.output_size != width
                or rnn.cell.use_bias != bias
                or rnn.cell.activation != act
            ):
                raise ValueError(
                    f"expected every layer to be a {type(first).__name__}({units}, "
                    f"activation={act!r}, use_bias={bias}), got {where} different"
                )
        if (bw is not None) != bidir:
            raise ValueError(f"expected all layers bidirectional or none, got layer {k} differing")
        if k < len(stack) - 1 and not fw.return_sequences:
            raise ValueError(
                f"expected return_sequences=True on every layer but the last, got "
                f"layer {k} ({fw.name}) returning only its last output"
            )
        expected = first.cell.kernel.shape[0] if k == 0 else width * (2 if bidir else 1)
        if fw.cell.kernel.shape[0] != expected:
            raise ValueError(
                f"expected layer {k} to take {expected} features, got {fw.cell.kernel.shape[0]}"
            )
    module_cls: Any = spec.torch_module
    module = module_cls(
        int(first.cell.kernel.shape[0]),
        units,
        num_layers=len(stack),
        bias=bias,
        batch_first=batch_first,
        dropout=dropout or 0.0,
        bidirectional=bidir,
        **spec.torch_module_kwargs(act),
        **({"proj_size": width} if width != units else {}),
    ).to(device=device, dtype=dtype)
    with torch.no_grad():
        for k, (fw, bw) in enumerate(stack):
            for rnn, suffix in ((fw, f"l{k}"), (bw, f"l{k}_reverse")):
                if rnn is None:
                    continue
                cell = rnn.cell
                w_ih, w_hh = spec.to_torch_weights(
                    cell.kernel.detach(), cell.recurrent_kernel.detach()
                )
                getattr(module, f"weight_ih_{suffix}").copy_(w_ih)
                getattr(module, f"weight_hh_{suffix}").copy_(w_hh)
                if bias and cell.bias is not None:
                    b_ih, b_hh = spec.to_torch_bias(cell.bias.detach())
                    getattr(module, f"bias_ih_{suffix}").copy_(b_ih)
                    getattr(module, f"bias_hh_{suffix}").copy_(b_hh)
                projection = getattr(cell, "projection_kernel", None)
                if projection is not None:
                    getattr(module, f"weight_hr_{suffix}").copy_(projection.detach().T)
    return module
