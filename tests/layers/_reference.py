"""An independent float64 reference for the cells: plain numpy loops over the equations.

Written from the equations (seed 003/004 and Keras's documented conventions), not from rnnkit's
code: every gate has its own weight slice, multiplied out separately.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


ACT = {
    "tanh": np.tanh,
    "sigmoid": sigmoid,
    "relu": lambda x: np.maximum(x, 0.0),
    "hard_sigmoid": lambda x: np.clip((x + 3.0) / 6.0, 0.0, 1.0),
    "linear": lambda x: x,
}


def reference(
    kind: str,
    x: np.ndarray,
    W: np.ndarray,
    U: np.ndarray,
    b: np.ndarray | None,
    states: list[np.ndarray],
    *,
    mask: np.ndarray | None = None,
    go_backwards: bool = False,
    return_sequences: bool = False,
    zero_output_for_mask: bool = False,
    activation: str = "tanh",
    recurrent_activation: str = "sigmoid",
    reset_after: bool = True,
    dropout_mask: np.ndarray | None = None,
    recurrent_dropout_mask: np.ndarray | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Run one layer call; returns (outputs in processing order or last output, final states)."""
    f, g = ACT[activation], ACT[recurrent_activation]
    batch, time, _ = x.shape
    u = states[0].shape[1]
    h = states[0].copy()
    c = states[1].copy() if kind == "lstm" else None
    prev = np.zeros((batch, u))
    outs = []
    for t in reversed(range(time)) if go_backwards else range(time):
        xt = x[:, t] if dropout_mask is None else x[:, t] * dropout_mask
        hm = h if recurrent_dropout_mask is None else h * recurrent_dropout_mask
        c_new = None
        if kind == "simple_rnn":
            h_new = f(xt @ W + hm @ U + (0 if b is None else b))
        elif kind == "indrnn":
            h_new = f(xt @ W + U * hm + (0 if b is None else b))
        elif kind == "lstm":
            bb = np.zeros(4 * u) if b is None else b
            pre = [
                xt @ W[:, k * u : (k + 1) * u]
                + hm @ U[:, k * u : (k + 1) * u]
                + bb[k * u : (k + 1) * u]
                for k in range(4)
            ]
            i_t, f_t, c_tilde, o_t = g(pre[0]), g(pre[1]), f(pre[2]), g(pre[3])
            c_new = f_t * c + i_t * c_tilde
            h_new = o_t * f(c_new)
        elif kind == "gru":
            Wz, Wr, Wh = W[:, :u], W[:, u : 2 * u], W[:, 2 * u :]
            Uz, Ur, Uh = U[:, :u], U[:, u : 2 * u], U[:, 2 * u :]
            if reset_after:
                bi = np.zeros(3 * u) if b is None else b[0]
                br = np.zeros(3 * u) if b is None else b[1]
                z = g(xt @ Wz + bi[:u] + hm @ Uz + br[:u])
                r = g(xt @ Wr + bi[u : 2 * u] + hm @ Ur + br[u : 2 * u])
                hh = f(xt @ Wh + bi[2 * u :] + r * (hm @ Uh + br[2 * u :]))
            else:
                bb = np.zeros(3 * u) if b is None else b
                z = g(xt @ Wz + hm @ Uz + bb[:u])
                r = g(xt @ Wr + hm @ Ur + bb[u : 2 * u])
                hh = f(xt @ Wh + bb[2 * u :] + (r * hm) @ Uh)
            h_new = z * h + (1.0 - z) * hh  # Keras's convention (the seeds' z is 1 - this z)
        else:
            raise ValueError(kind)
        out = h_new
        if mask is not None:
            m = mask[:, t][:, None]
            out = np.where(m, h_new, 0.0 if zero_output_for_mask else prev)
            h_new = np.where(m, h_new, h)
            if c_new is not None:
                c_new = np.where(m, c_new, c)
        h, c, prev = h_new, c_new, out
        outs.append(out)
    final = [h] if kind != "lstm" else [h, c]
    return (np.stack(outs, axis=1) if return_sequences else prev), final
