"""The Python side of the "triton" engine: kernel wrapping, launches and the autograd Function.

:func:`_kernels` wraps the plain kernel sources (``_triton_device``, ``_triton_cells``,
``_triton_gru``) once per mode, Triton's JIT (CUDA tensors) or its interpreter (CPU tensors);
:class:`_TritonRecurrence` launches the forward and backward kernels of one call.
"""

from __future__ import annotations

import os
import threading
import types
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import _triton_device
from ._triton_ctx import Launch, TritonBackward, TritonForward
from ._triton_device import _DEVICE_FNS
from .cells import ALL_SPECS, LOOP_SPECS, CellSpec

INTERPRET_ENV = "TRITON_INTERPRET"

#: Rows of the batch per program (``tl.dot`` needs at least 16).
BLOCK_B = 16
#: Largest unit block of the recurrent product's tiles (float32; float64 uses half).
MAX_BLOCK_UNITS = 64
#: Launch options: the k-loops are short, so no software pipelining (num_stages=1 keeps the
#: shared memory of the largest kernel at 20 KiB for float32 at 64 units per block, where the
#: default pipelining needs 136 KiB).
_LAUNCH = {"num_warps": 4, "num_stages": 1}

#: The kernel sources of every cell kind's spec (its split kernels too), and their device
#: helpers, by name.
_WITH_KERNELS = (*ALL_SPECS, *LOOP_SPECS)
_SOURCES: dict[str, Any] = {
    fn.__name__: fn
    for s in _WITH_KERNELS
    for fn in (*s.triton_helpers, *s.triton_kernels, *s.ext_triton_kernels)
}
_KERNEL_FNS = tuple(
    dict.fromkeys(
        fn.__name__ for s in _WITH_KERNELS for fn in (*s.triton_kernels, *s.ext_triton_kernels)
    )
)
_HELPER_FNS = tuple(name for name in _SOURCES if name not in _KERNEL_FNS)

_available: bool | None = None
_KERNELS: dict[bool, dict[str, Any]] = {}
_lock = threading.Lock()


def available() -> bool:
    """Whether Triton can be imported (checked once; the package works without it)."""
    global _available
    if _available is None:
        try:
            import triton  # noqa: F401
            import triton.language  # noqa: F401
        except Exception:  # any failure to import means: no Triton engine
            _available = False
        else:
            _available = True
    return _available


def interpreter_enabled() -> bool:
    """``TRITON_INTERPRET=1``: CPU tensors may run the kernels under Triton's interpreter."""
    return os.environ.get(INTERPRET_ENV, "0").strip().lower() in ("1", "true", "on", "yes")


def _kernels(interpret: bool) -> dict[str, Any]:
    """The kernels, wrapped once per mode: Triton's interpreter (CPU tensors) or its JIT.

    Each plain kernel function is copied into a fresh namespace holding ``tl`` and the wrapped
    helpers, so that the kernels resolve their helpers to the wrapper of the same mode.
    """
    with _lock:
        found = _KERNELS.get(interpret)
        if found is not None:
            return found
        if not available():
            raise RuntimeError("expected triton to be installed for the triton engine, got none")
        import triton
        import triton.language as tl_mod
        from triton.runtime.interpreter import InterpretedFunction
        from triton.runtime.jit import JITFunction

        wrap: Any = InterpretedFunction if interpret else JITFunction
        ns: dict[str, Any] = {"__name__": __name__, "tl": tl_mod, "triton": triton}
        ns["constexpr"] = tl_mod.constexpr
        here = {**vars(_triton_device), **_SOURCES}
        for name in _DEVICE_FNS + _HELPER_FNS + _KERNEL_FNS:
            raw = here[name]
            fn = types.FunctionType(raw.__code__, ns, name, raw.__defaults__)
            fn.__annotations__ = dict(raw.__annotations__)  # "constexpr" marks (as text)
            fn.__doc__ = raw.__doc__
            ns[name] = fn
        for name in _DEVICE_FNS + _HELPER_FNS + _KERNEL_FNS:
            ns[name] = wrap(ns[name])
        _KERNELS[interpret] = ns
        return ns


class _Spec(NamedTuple):
    kind: CellSpec
    act: int
    ract: int
    go_backwards: bool
    zero_output: bool
    return_sequences: bool
    store: bool  # keep the per-step values for a backward pass


def _blocks(units: int, dtype: torch.dtype) -> int:
    """The unit block of the product tiles: a power of two in [16, MAX_BLOCK_UNITS] (float64:
    at most half of it, for the same shared memory)."""
    cap = MAX_BLOCK_UNITS if dtype == torch.float32 else max(16, MAX_BLOCK_UNITS // 2)
    return min(max(16, 1 << max(0, (units - 1).bit_length())), cap)


class _TritonRecurrence(torch.autograd.Function):
    """(xp, U, b_rec, h0, c0; mask, rec. dropout) -> (outputs, h_T[, c_T]).

    ``xp`` (time, batch, gates * units) is the input projection; its gradient is the kernels'
    ``dxg``, from which autograd forms the gradients of ``x``, ``W`` and ``b_in`` outside.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        spec: _Spec,
        xp: Tensor,
        rec: Tensor,
        brec: Tensor | None,
        h0: Tensor,
        c0: Tensor | None,
        mask: Tensor | None,
        rd: Tensor | None,
    ) -> tuple[Tensor, ...]:
        time, batch, gates = xp.shape
        units = h0.shape[1]
        ks = _kernels(xp.device.type == "cpu")
        dev, dtype = xp.device, xp.dtype
        ts = time if spec.store else 1
        xp = xp.detach().contiguous()
        u = rec.detach().contiguous()

        def buf(*shape: int) -> Tensor:
            return torch.empty(shape, dtype=dtype, device=dev)

        h = h0.detach().to(dtype).clone().contiguous()  # (batch, units): final h on return
        p = torch.zeros(batch, units, dtype=dtype, device=dev)
        seq = buf(time, batch, units) if spec.return_sequences else buf(1)
        hin = buf(ts, batch, units)
        mask_k = mask if mask is not None else torch.ones(1, dtype=torch.int8, device=dev)
        rd_k = rd.detach().contiguous() if rd is not None else buf(1)
        bn = _blocks(units, dtype)
        grid = (_cdiv(batch, BLOCK_B),)
        flags = dict(
            HAS_MASK=mask is not None,
            HAS_RD=rd is not None,
            BACKWARDS=spec.go_backwards,
            ZERO_OUT=spec.zero_output,
            RET_SEQ=spec.return_sequences,
            STORE=int(spec.store),
            ACT=spec.act,
            BLOCK_B=BLOCK_B,
            BLOCK_N=bn,
            **_LAUNCH,
        )
        extra = () if c0 is None else (c0.detach().to(dtype).clone().contiguous(),)
        saved = spec.kind.triton_forward(
            TritonForward(
                launch=Launch(ks, grid, flags), xp=xp, u=u, b_rec=None if brec is None else
                brec.detach().contiguous(), h=h, p=p, extra=extra, seq=seq, mask=mask_k,
                rd=rd_k, hin=hin, steps=ts, time=time, batch=batch, units=units,
                ract=spec.ract, block=bn,
            )
        )  # fmt: skip
        if spec.store:
            ctx.spec = spec
            ctx.has_mask = mask is not None
            ctx.has_rd = rd is not None
            ctx.save_for_backward(u, mask_k, rd_k, hin, *saved)
        out = seq.transpose(0, 1) if spec.return_sequences else p  # (batch, time, units)
        return (out, h, *extra)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dout: Tensor, dh: Tensor, *rest: Tensor) -> tuple[Tensor | None, ...]:
        spec: _Spec = ctx.spec
        u, mask_k, rd_k, hin, *saved = ctx.saved_tensors
        time, batch, units = hin.shape
        gates = spec.kind.gates * units
        dev, dtype = hin.device, hin.dtype
        ks = _kernels(dev.type == "cpu")
        needs = ctx.needs_input_grad  # (spec, xp, rec, brec, h0, c0, mask, rd)
        dh_t = dh.detach().to(dtype).clone().contiguous()  # (batch, units): d h0 on return
        if spec.return_sequences:
            dseq = dout.detach().to(dtype).transpose(0, 1).contiguous()  # (time, batch, units)
            dp = torch.zeros(batch, units, dtype=dtype, device=dev)
        else:
            dseq = torch.empty(1, dtype=dtype, device=dev)
            dp = dout.detach().to(dtype).clone().contiguous()
        dxg = torch.empty(time, batch, gates, dtype=dtype, device=dev)
        bn = _blocks(units, dtype)
        grid = (_cdiv(batch, BLOCK_B),)
        flags = dict(
            HAS_MASK=ctx.has_mask,
            HAS_RD=ctx.has_rd,
            BACKWARDS=spec.go_backwards,
            ZERO_OUT=spec.zero_output,
            RET_SEQ=spec.return_sequences,
            ACT=spec.act,
            BLOCK_B=BLOCK_B,
            BLOCK_N=bn,
            **_LAUNCH,
        )
        d_extra = tuple(r.detach().to(dtype).clone().contiguous() for r in rest)
        drec, dbrec = spec.kind.triton_backward(
            TritonBackward(
                launch=Launch(ks, grid, flags), u=u, saved=saved, mask=mask_k, rd=rd_k, hin=hin,
                dseq=dseq, dh=dh_t, dp=dp, d_extra=d_extra, dxg=dxg, time=time, batch=batch,
                units=units, ract=spec.ract, block=bn, need_u=needs[2], need_brec=needs[3],
            )
        )  # fmt: skip
        dc_t = d_extra[0] if d_extra else None
        grads: tuple[Tensor | None, ...] = (dxg, drec, dbrec, dh_t, dc_t)
        grads = tuple(g if need else None for g, need in zip(grads, needs[1:6], strict=True))
        return (None, *grads, None, None)


def _cdiv(a: int, b: int) -> int:
    """ceil(a / b) for positive ints."""
    return -(-a // b)
