"""What the split fused engine (``_fused_ext``) hands a cell kind's spec: the prepared arrays of
one call's forward and backward pass, and the weight gradients the spec returns."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numpy as np
from torch import Tensor

from ._runtime import WORKSPACE, row_chunks


@dataclasses.dataclass(slots=True)
class ExtWeights:
    """The recurrence's weights as arrays: ``recurrent`` (out, G); ``b_rec`` (G,) (zeros where
    none); the layer norm's gains ``g1`` (G,) of R, ``gh``, ``bh`` (units,) of the cell state
    (ones / zeros without ``ln``); ``proj`` (units, out) (``has_proj``); the zoneout weights
    ``zk`` (time, batch, out) (``has_zk``) or the constant ``zw``."""

    recurrent: np.ndarray
    b_rec: np.ndarray
    g1: np.ndarray
    gh: np.ndarray
    bh: np.ndarray
    ln: bool
    proj: np.ndarray
    has_proj: bool
    zk: np.ndarray
    has_zk: bool
    zw: np.floating


@dataclasses.dataclass(slots=True)
class ExtForward:
    """One forward call: ``xin`` (time, batch, G) the input side of the gates; ``hin`` (steps,
    batch, out) the rows ``h * rd`` the kernels fill; ``h``, ``p`` (batch, out) the running
    output state and last output, ``extra`` the other states (LSTM: c (batch, units)), updated
    in place; ``common`` the arguments every kernel takes (mask, has_mask, rd, go_back, zo, seq,
    ret_seq, act, ract)."""

    xin: np.ndarray
    hin: np.ndarray
    w: ExtWeights
    h: np.ndarray
    p: np.ndarray
    extra: tuple[np.ndarray, ...]
    common: dict[str, Any]
    steps: int  # time steps kept for the backward pass (1 in inference: scratch)
    batch: int
    units: int
    chunks: list[tuple[int, int]]

    def buffer(self, width: int) -> np.ndarray:
        """A pooled (steps, batch, width) buffer of the call's dtype."""
        return WORKSPACE.empty((self.steps, self.batch, width), self.xin.dtype)


@dataclasses.dataclass(slots=True)
class ExtBackward:
    """One backward call: ``saved`` the spec's forward buffers; ``dz`` (time, batch, G)
    receives the gradient of ``xin``; ``dh``, ``dp``, ``d_extra`` the state gradients (in
    place); ``common`` the arguments every backward kernel takes (mask, has_mask, rd, go_back,
    zo, dseq, has_dseq, act, ract); ``needs`` which of (recurrent, b_rec, g1, gh, bh, proj)
    autograd asked for."""

    saved: dict[str, np.ndarray]
    hin: np.ndarray
    dz: np.ndarray
    w: ExtWeights
    dh: np.ndarray
    dp: np.ndarray
    d_extra: tuple[np.ndarray, ...]
    common: dict[str, Any]
    needs: tuple[bool, ...]
    batch: int
    time: int
    units: int

    def buffer(self, width: int) -> np.ndarray:
        """A pooled (time, batch, width) buffer of the call's dtype."""
        return WORKSPACE.empty((self.time, self.batch, width), self.dz.dtype)

    def chunks(self, gates: int) -> list[tuple[int, int]]:
        out = self.dh.shape[1]
        return row_chunks(self.batch, self.batch * self.time * gates * (out + self.units))


class ExtGrads(NamedTuple):
    """Gradients of (recurrent, b_rec, g1, gh, bh, proj); None where not asked for or unused."""

    recurrent: Tensor | None = None
    b_rec: Tensor | None = None
    g1: Tensor | None = None
    gh: Tensor | None = None
    bh: Tensor | None = None
    proj: Tensor | None = None


@dataclasses.dataclass(frozen=True)
class TritonExtForward:
    """One forward launch of the split Triton kernels (``_triton_ext``): tensors on the call's
    device; ``launch`` holds the grid and the flags every launch takes; ``w`` the weights as
    tensors (``recurrent``, ``b_rec``, ``g1``, ``gh``, ``bh``, ``proj``, ``zk``: dummies where
    unused); ``h``, ``p`` (batch, out), ``extra`` (LSTM: c) in place; ``seq`` the outputs (or a
    dummy); ``hin`` (steps, batch, out)."""

    launch: Any
    xin: Tensor
    w: dict[str, Tensor]
    zw: Tensor  # (1,): zoneout's weight of the new output in inference (1: none)
    h: Tensor
    p: Tensor
    extra: tuple[Tensor, ...]
    seq: Tensor
    mask: Tensor
    rd: Tensor
    hin: Tensor
    steps: int
    time: int
    batch: int
    units: int

    def buf(self, width: int) -> Tensor:
        """An uninitialised (steps, batch, width) tensor like ``xin``."""
        return self.xin.new_empty((self.steps, self.batch, width))


@dataclasses.dataclass(frozen=True)
class TritonExtBackward:
    """One backward launch: ``saved`` the spec's forward tensors; ``dseq``, ``dh``, ``dp``,
    ``d_extra`` the output and state gradients (in place); ``dz`` (time, batch, G) receives the
    gradient of ``xin``; ``needs`` as :class:`ExtBackward`'s."""

    launch: Any
    w: dict[str, Tensor]
    zw: Tensor
    saved: dict[str, Tensor]
    mask: Tensor
    rd: Tensor
    hin: Tensor
    dseq: Tensor
    dh: Tensor
    dp: Tensor
    d_extra: tuple[Tensor, ...]
    dz: Tensor
    needs: tuple[bool, ...]
    ln: bool
    has_proj: bool
    time: int
    batch: int
    units: int

    def buf(self, width: int) -> Tensor:
        return self.dz.new_empty((self.time, self.batch, width))
