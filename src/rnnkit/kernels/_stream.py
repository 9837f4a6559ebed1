"""One recurrent step at batch 1, for streaming: the compiled step kernels of ``_nb_step``, called
without numba's dispatcher.

A kernel taking literal activation codes resolves its specialisation through the dispatcher in
milliseconds per call; :func:`step_kernel` looks it up once per (kernel, dtype, codes) and
returns the compiled entry, which costs about a microsecond per call.
"""

from __future__ import annotations

from typing import Any

import numba
from numba import types

from . import _nb_act, _nb_step

#: The step kernels by name: ``lstm``, ``gru`` (reset_after), ``gru_v1``, ``simple_rnn``,
#: ``dense``; each takes its arrays, then ``act, ract`` (activation codes, ``_nb_act``).
STEP_KERNELS = {
    "lstm": _nb_step.lstm_step,
    "gru": _nb_step.gru_step,
    "gru_v1": _nb_step.gru_v1_step,
    "simple_rnn": _nb_step.simple_step,
    "dense": _nb_step.dense_step,
}
ACTIVATION_CODES = _nb_act.ACTIVATION_CODES

_ENTRIES: dict[tuple, Any] = {}


def step_kernel(name: str, arrays: tuple[Any, ...], act: int, ract: int) -> Any:
    """The compiled step kernel ``name`` for these arrays' types and the activation codes:
    call it as ``entry(*arrays, act, ract)``."""
    kernel = STEP_KERNELS[name]
    sig = tuple(numba.typeof(a) for a in arrays)
    key = (name, sig, act, ract)
    entry = _ENTRIES.get(key)
    if entry is None:
        full = (*sig, types.literal(act), types.literal(ract))
        entry = _ENTRIES[key] = kernel.compile(full)
    return entry
