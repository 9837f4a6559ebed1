"""What the Triton engine hands a cell kind's spec for one launch: the prepared tensors, the
launch (grid, flags, wrapped kernels), and :func:`triton_args`, a kernel's named arguments."""

from __future__ import annotations

import collections
import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, cast

from torch import Tensor


def triton_args(kernel: Callable[..., Any]) -> Any:
    """The named structure of a Triton kernel source's runtime arguments: a NamedTuple class of
    its parameters before the first ``constexpr`` one (read off the signature)."""
    names = []
    for p in inspect.signature(kernel).parameters.values():
        if p.annotation in ("constexpr", "tl.constexpr"):
            break
        names.append(p.name)
    make = cast(Any, collections.namedtuple)
    return make(f"{kernel.__name__}_args", names)


@dataclasses.dataclass(frozen=True)
class Launch:
    """The wrapped kernels of one mode, the grid and the flags every launch of a call takes."""

    kernels: dict[str, Any]
    grid: tuple[int, ...]
    flags: dict[str, Any]

    def __call__(self, source: Callable[..., Any], args: tuple, **constexprs: Any) -> None:
        self.kernels[source.__name__][self.grid](*args, **constexprs, **self.flags)


@dataclasses.dataclass(frozen=True)
class TritonForward:
    """``xp`` (time, batch, gates * units) the input projection; ``u`` the recurrent kernel;
    ``b_rec`` the recurrent bias or None; ``h``, ``p`` (batch, units) state and last output,
    ``extra`` the other states (in place); ``seq`` the output sequence (or a dummy); ``mask``,
    ``rd`` the mask (time, batch) int8 and recurrent dropout (or dummies); ``hin`` (steps,
    batch, units) the staged dropped states; ``block`` the unit block of the product tiles."""

    launch: Launch
    xp: Tensor
    u: Tensor
    b_rec: Tensor | None
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
    ract: int
    block: int

    def buf(self, width: int) -> Tensor:
        """An uninitialised (steps, batch, width) tensor like ``xp``."""
        return self.xp.new_empty((self.steps, self.batch, width))


@dataclasses.dataclass(frozen=True)
class TritonBackward:
    """``saved`` the spec's forward tensors; ``hin`` the staged states; ``dseq``, ``dh``,
    ``dp``, ``d_extra`` the output and state gradients (in place); ``dxg`` (time, batch,
    gates * units) receives the pre-activation gradients; ``need_u``, ``need_brec`` which
    weight gradients autograd asked for."""

    launch: Launch
    u: Tensor
    saved: list[Tensor]
    mask: Tensor
    rd: Tensor
    hin: Tensor
    dseq: Tensor
    dh: Tensor
    dp: Tensor
    d_extra: tuple[Tensor, ...]
    dxg: Tensor
    time: int
    batch: int
    units: int
    ract: int
    block: int
    need_u: bool
    need_brec: bool
