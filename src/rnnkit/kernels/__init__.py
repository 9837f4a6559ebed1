"""Whole-sequence engines for the recurrent layers and the dispatch that picks one per call.

``run_recurrent(call, step, engine=None)`` is the single entry point; ``plan_engine`` tells,
without tensors, which engine a call would get and why (``summary()`` shows it).
"""

from . import cells
from ._api import CellKind, EngineChoice, RecurrentCall, RecurrentResult, StepFn, as_bool_mask
from ._dispatch import ENGINE_ENV, ENGINES, plan_engine, run_recurrent, select_engine
from ._fused import clear_workspace, run_fused
from ._loop import input_bias, project_inputs, run_loop
from ._native import run_native
from ._scan import linear_scan, run_scan
from ._threads import threads_chosen
from ._triton import available as triton_available
from ._triton import run_triton
from .cells import CellSpec, spec_for

__all__ = [
    "cells",
    "CellKind",
    "CellSpec",
    "ENGINES",
    "ENGINE_ENV",
    "EngineChoice",
    "RecurrentCall",
    "RecurrentResult",
    "StepFn",
    "as_bool_mask",
    "clear_workspace",
    "input_bias",
    "linear_scan",
    "plan_engine",
    "project_inputs",
    "run_fused",
    "run_loop",
    "threads_chosen",
    "run_native",
    "run_recurrent",
    "run_scan",
    "run_triton",
    "select_engine",
    "spec_for",
    "triton_available",
]
