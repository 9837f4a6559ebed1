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

from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn

from ..layers import GRU, LSTM, Bidirectional, Dropout, Input, Layer, SimpleRNN
from ..layers._recurrent import RNN
from ..model import Sequential

RecurrentLike = RNN | Bidirectional
_GRU_PERM = (1, 0, 2)  # torch (r, z, n) <-> Keras (z, r, h); the swap is its own inverse


def _blocks(t: Tensor, perm: Sequence[int]) -> Tensor:
    """Reorder the gate blocks along axis 0 (torch rows are gates * units)."""
    chunks = t.chunk(len(perm), dim=0)
    return torch.cat([chunks[i] for i in perm], dim=0)


def _kind(module: nn.Module) -> str:
    if isinstance(module, nn.LSTM):
        return "lstm"
    if isinstance(module, nn.GRU):
        return "gru"
    if isinstance(module, nn.RNN):
        return "rnn"
    raise TypeError(
        f"expected a torch.nn.RNN, nn.LSTM or nn.GRU module, got {type(module).__name__}"
    )


def _new_layer(
    module: nn.RNNBase,
    kind: str,
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
    u = module.hidden_size
    if kind == "lstm":
        return LSTM(u, unit_forget_bias=False, **kw)
    if kind == "gru":
        return GRU(u, reset_after=True, **kw)
    return SimpleRNN(u, activation=str(cast(nn.RNN, module).nonlinearity), **kw)


def _copy_from_torch(layer: RNN, module: nn.RNNBase, kind: str, suffix: str) -> None:
    w_ih = getattr(module, f"weight_ih_{suffix}").detach()
    w_hh = getattr(module, f"weight_hh_{suffix}").detach()
    cell = layer.cell
    with torch.no_grad():
        if kind == "gru":
            cell.kernel.copy_(_blocks(w_ih, _GRU_PERM).T)
            cell.recurrent_kernel.copy_(_blocks(w_hh, _GRU_PERM).T)
        else:
            cell.kernel.copy_(w_ih.T)
            cell.recurrent_kernel.copy_(w_hh.T)
        bias = cell.bias
        if module.bias and bias is not None:
            b_ih = getattr(module, f"bias_ih_{suffix}").detach()
            b_hh = getattr(module, f"bias_hh_{suffix}").detach()
            if kind == "gru":
                bias.copy_(torch.stack([_blocks(b_ih, _GRU_PERM), _blocks(b_hh, _GRU_PERM)]))
            else:
                bias.copy_(b_ih + b_hh)


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
        ValueError: an LSTM with ``proj_size > 0`` (no Keras equivalent), or ``as_model`` with
            ``return_state``.
    """
    kind = _kind(module)
    module = cast(nn.RNNBase, module)
    if getattr(module, "proj_size", 0):
        raise ValueError(
            f"expected an LSTM without projections (proj_size=0), got {module.proj_size}"
        )
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
        features = module.input_size if k == 0 else module.hidden_size * dirs
        fw = _new_layer(module, kind, seqs, return_state, False, None)
        if module.bidirectional:
            bw = _new_layer(module, kind, seqs, return_state, True, None)
            layer: Layer = Bidirectional(fw, merge_mode="concat", backward_layer=bw)
            layer.ensure_built((None, None, features))
            _copy_from_torch(fw, module, kind, f"l{k}")
            _copy_from_torch(bw, module, kind, f"l{k}_reverse")
        else:
            layer = fw
            layer.ensure_built((None, None, features))
            _copy_from_torch(fw, module, kind, f"l{k}")
        if k and module.dropout > 0:
            layers.append(Dropout(module.dropout))
        layers.append(layer.to(device))
    if as_model:
        return Sequential([Input((None, module.input_size)), *layers])
    return layers


# -- rnnkit -> torch -----------------------------------------------------------------------------
def _rnn_kind(layer: RNN, where: str) -> str:
    cell = layer.cell
    if isinstance(layer, LSTM):
        kind = "lstm"
    elif isinstance(layer, GRU):
        kind = "gru"
        if not cell.reset_after:  # type: ignore[attr-defined]
            raise ValueError(f"expected a GRU with reset_after=True for torch ({where}), got False")
    elif isinstance(layer, SimpleRNN):
        kind = "rnn"
    else:
        raise TypeError(
            f"expected LSTM, GRU or SimpleRNN layers, got {type(layer).__name__} ({where})"
        )
    allowed = ("tanh", "relu") if kind == "rnn" else ("tanh",)
    if cell.activation not in allowed:
        raise ValueError(
            f"expected activation in {allowed} for torch ({where}), got {cell.activation!r}"
        )
    if kind != "rnn" and cell.recurrent_activation_name != "sigmoid":
        raise ValueError(
            f"expected recurrent_activation 'sigmoid' for torch ({where}), "
            f"got {cell.recurrent_activation_name!r}"
        )
    if layer.dropout or layer.recurrent_dropout:
        raise ValueError(
            f"expected dropout=0 and recurrent_dropout=0 ({where}): torch's RNN modules have no "
            f"such dropout, got {layer.dropout} and {layer.recurrent_dropout}"
        )
    if not cell.built:
        raise ValueError(
            f"expected a built layer (call it once or give it an Input), got {where} unbuilt"
        )
    return kind


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
    kind = _rnn_kind(first, "layer 0")
    units, bias, bidir = first.units, first.cell.use_bias, stack[0][1] is not None
    act = first.cell.activation
    dtype, device = first.cell.kernel.dtype, first.cell.kernel.device
    for k, (fw, bw) in enumerate(stack):
        for rnn in (fw, bw):
            if rnn is None:
                continue
            where = f"layer {k} ({rnn.name})"
            if (
                _rnn_kind(rnn, where) != kind
                or rnn.units != units
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
        expected = first.cell.kernel.shape[0] if k == 0 else units * (2 if bidir else 1)
        if fw.cell.kernel.shape[0] != expected:
            raise ValueError(
                f"expected layer {k} to take {expected} features, got {fw.cell.kernel.shape[0]}"
            )
    cls: Callable[..., nn.RNNBase] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]
    kw: dict[str, Any] = {}
    if kind == "rnn":
        kw["nonlinearity"] = act
    module = cls(
        int(first.cell.kernel.shape[0]),
        units,
        num_layers=len(stack),
        bias=bias,
        batch_first=batch_first,
        dropout=dropout or 0.0,
        bidirectional=bidir,
        **kw,
    ).to(device=device, dtype=dtype)
    with torch.no_grad():
        for k, (fw, bw) in enumerate(stack):
            for rnn, suffix in ((fw, f"l{k}"), (bw, f"l{k}_reverse")):
                if rnn is None:
                    continue
                cell = rnn.cell
                perm = _GRU_PERM if kind == "gru" else tuple(range(4 if kind == "lstm" else 1))
                getattr(module, f"weight_ih_{suffix}").copy_(_blocks(cell.kernel.detach().T, perm))
                getattr(module, f"weight_hh_{suffix}").copy_(
                    _blocks(cell.recurrent_kernel.detach().T, perm)
                )
                if bias and cell.bias is not None:
                    b = cell.bias.detach()
                    if kind == "gru":
                        b_ih, b_hh = _blocks(b[0], perm), _blocks(b[1], perm)
                    else:
                        b_ih, b_hh = b, torch.zeros_like(b)
                    getattr(module, f"bias_ih_{suffix}").copy_(b_ih)
                    getattr(module, f"bias_hh_{suffix}").copy_(b_hh)
    return module
