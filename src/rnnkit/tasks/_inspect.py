"""Diagnostics the seeds ask about: vanishing/exploding gradients and what the gates do.

* Gradient norm per input step: for a batch, ``g_t = mean_i || dL_i / dx_{i,t} ||`` where
  ``L_i`` is sample ``i``'s loss and ``x_{i,t}`` its input at step ``t`` (for token inputs,
  the embedding vector of step ``t``). Because the samples are independent (eval mode),
  one backward pass of ``sum_i L_i`` gives every ``dL_i / dx_i``. A fall of ``g_t`` by
  orders of magnitude towards early steps is the vanishing gradient.
* Mean gate activations over time, for every LSTM and GRU layer: the layer's own input
  (captured with a forward pre-hook) is run step by step with the cell's ``kernel``,
  ``recurrent_kernel`` and ``bias`` and the equations of :mod:`rnnkit.kernels` (Keras layout):

  - LSTM, gates (i, f, c, o): ``z = x W + b + h U``; ``i, f, o = ract(z_i), ract(z_f),
    ract(z_o)``; ``c' = f c + i act(z_c)``; ``h' = o act(c')``. Reported: input ``i``,
    forget ``f`` and output ``o`` gates.
  - GRU, gates (z, r, h): ``z = ract(x W_z + b_z + h U_z + b'_z)``, ``r`` likewise,
    ``hh = act(x W_h + b_h + r (h U_h + b'_h))`` (``reset_after``), ``h' = z h + (1 - z) hh``.
    Reported: update ``z`` (Keras's z: the share of the old state kept) and reset ``r``.

  Masked steps keep the states and are left out of the means. Each value is the mean over
  the batch and the units.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..layers import RNN, Embedding, GRUCell, LSTMCell

__all__ = ["gate_activations", "gradient_norms", "run_gates"]


def _first_input(x: Any) -> tuple[Any, list[Tensor]]:
    """The first input of ``x`` (one array, or a list of them) and the others as float32
    tensors."""
    if not isinstance(x, (list, tuple)):
        return x, []
    return x[0], [torch.as_tensor(np.asarray(v)).to(torch.float32) for v in x[1:]]


def gradient_norms(
    model: nn.Module,
    x: Any,
    y: Any,
    loss: Callable[[Tensor, Tensor], Tensor],
) -> dict[str, Any]:
    """``{"per_step": [g_0, ..., g_{T-1}], "wrt": "inputs" | "embeddings"}`` for a batch.

    ``loss(y_true, y_pred)`` must return per-sample losses ``(batch,)`` or
    ``(batch, ...)`` (they are summed). ``x`` may be a list of inputs (the classifier's
    values and mask): the gradient is taken with respect to the first.
    """
    was_training = model.training
    model.eval()
    captured: dict[str, Tensor] = {}
    handle = None
    x, rest = _first_input(x)
    xt = torch.as_tensor(np.asarray(x))
    if xt.is_floating_point():
        xt = xt.to(torch.float32).requires_grad_(True)
        wrt = "inputs"
    else:
        emb = next((m for m in model.modules() if isinstance(m, Embedding)), None)
        if emb is None:
            raise ValueError("expected float inputs or an Embedding layer to take the "
                             "gradient with respect to, got integer inputs without one")

        def keep(_module: nn.Module, _inputs: Any, output: Tensor) -> Tensor:
            output.retain_grad()
            captured["emb"] = output
            return output

        handle = emb.register_forward_hook(keep)
        wrt = "embeddings"
    try:
        with torch.enable_grad():
            out = model(xt, *rest)
            per_sample = loss(torch.as_tensor(np.asarray(y)), out)
            per_sample.sum().backward()
    finally:
        if handle is not None:
            handle.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    grad = xt.grad if wrt == "inputs" else captured["emb"].grad
    if grad is None or grad.dim() != 3:
        raise ValueError("expected a (batch, time, features) input to take gradients of, got "
                         f"{None if grad is None else tuple(grad.shape)}")
    per_step = grad.detach().double().norm(dim=-1).mean(dim=0)  # (time,)
    return {"per_step": per_step.tolist(), "wrt": wrt}


@torch.no_grad()
def run_gates(
    cell: LSTMCell | GRUCell, x: Tensor, mask: Tensor | None = None, go_backwards: bool = False
) -> tuple[dict[str, list[float]], Tensor]:
    """Step ``cell`` over ``x`` (batch, time, features); returns the mean gate activations
    per step and the outputs ``(batch, time, units)`` (in the order the steps were run)."""
    x = x.to(cell.kernel.dtype)
    if go_backwards:
        x = torch.flip(x, dims=[1])
        mask = None if mask is None else torch.flip(mask, dims=[1])
    batch, time, _ = x.shape
    bias_in = cell.input_bias()
    xp = x @ cell.kernel  # (batch, time, gates * units)
    if bias_in is not None:
        xp = xp + bias_in
    states: tuple[Tensor, ...] = (x.new_zeros(batch, cell.units),) * cell.n_states
    names = cell.gate_names
    sums = {k: [] for k in names}  # type: dict[str, list[float]]
    outs = []
    for t in range(time):
        _, new_states, gates = cell.step_with_gates(xp[:, t], states)
        valid = torch.ones(batch, dtype=torch.bool) if mask is None else mask[:, t].bool()
        for name, g in zip(names, gates, strict=True):
            sums[name].append(float(g[valid].mean()) if bool(valid.any()) else float("nan"))
        keep = valid[:, None]
        states = tuple(torch.where(keep, n, o) for n, o in zip(new_states, states, strict=True))
        outs.append(states[0])
    return sums, torch.stack(outs, dim=1)


def gate_activations(model: nn.Module, x: Any) -> dict[str, dict[str, list[float]]]:
    """Mean gate activations per time step for every LSTM/GRU layer of ``model`` on the
    batch ``x``: ``{layer name: {gate: [value per step]}}``."""
    inputs: dict[str, tuple[Tensor, Tensor | None]] = {}
    handles = []
    layers = [m for m in model.modules()
              if isinstance(m, RNN) and isinstance(m.cell, (LSTMCell, GRUCell))]
    for layer in layers:
        def grab(module: nn.Module, args: Any, kwargs: Any, _name: str = layer.name) -> None:
            inputs[_name] = (args[0].detach(), kwargs.get("mask"))

        handles.append(layer.register_forward_pre_hook(grab, with_kwargs=True))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            first, rest = _first_input(x)
            xt = torch.as_tensor(np.asarray(first))
            model(xt.to(torch.float32) if xt.is_floating_point() else xt, *rest)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    out: dict[str, dict[str, list[float]]] = {}
    for layer in layers:
        if layer.name not in inputs:
            continue
        xin, mask = inputs[layer.name]
        cell = layer.cell
        assert isinstance(cell, (LSTMCell, GRUCell))
        gates, _ = run_gates(cell, xin, mask, layer.go_backwards)
        kind = "LSTM" if isinstance(layer.cell, LSTMCell) else "GRU"
        out[f"{layer.name} ({kind})"] = gates
    return out
