"""The one dispatch point between the recurrent layers and the engines."""

from __future__ import annotations

import torch

from ._api import RecurrentCall, RecurrentResult, StepFn
from ._fused import run_fused
from ._loop import run_loop
from ._native import run_native
from ._ops import run_fused_op
from ._ops_ext import run_fused_ext_op
from ._plan import ENGINE_ENV, ENGINES, plan_engine, select_engine
from ._scan import run_scan
from ._triton import run_triton
from ._triton_ext_run import run_triton_ext

__all__ = ["ENGINES", "ENGINE_ENV", "plan_engine", "run_recurrent", "select_engine"]


def run_recurrent(call: RecurrentCall, step: StepFn, engine: str | None = None) -> RecurrentResult:
    """Run one recurrent layer call on the engine :func:`select_engine` picks.

    ``engine`` forces "fused", "torch", "triton", "scan" or "loop" (else ``$RNNKIT_ENGINE``, else
    "auto"); a forced engine that cannot compute the call exactly falls back to the automatic
    choice.
    """
    choice = select_engine(call, engine)
    if call.spec.scan and choice.name in ("fused", "scan"):
        return run_scan(call, fused=choice.name == "fused")
    if choice.name == "fused":
        if not torch.compiler.is_compiling():
            return run_fused(call)
        # traced by torch.compile / torch.export: the custom ops, which they can see through
        return run_fused_ext_op(call) if call.spec.runs_ext(call.options()) else run_fused_op(call)
    if choice.name == "torch":
        return run_native(call)
    if choice.name == "triton":
        return run_triton_ext(call) if call.spec.runs_ext(call.options()) else run_triton(call)
    return run_loop(call, step)
