"""torch's GNU OpenMP pool reached through ctypes: the one module using these private interfaces.

Running the fused kernels' row chunks as an OpenMP region of torch's own pool (instead of on
threads of our own) matters on small machines: libgomp's idle workers spin for milliseconds
after every parallel torch op, so a thread of ours would fight a spinning one for the same core.

Private interfaces, used here only:

* libgomp's ``GOMP_parallel`` (a GCC ABI entry, stable since GCC 4.9), found in the libgomp that
  torch loaded by reading ``/proc/self/maps`` (Linux);
* CPython's ``PyGILState_Ensure`` through ``ctypes.pythonapi`` (a lasting thread state for an
  OpenMP worker that runs a Python callback).

Checked before use: Linux, torch built with OpenMP (``torch.__config__.parallel_info()``), the
symbol present. Anything else, or ``RNNKIT_PORTABLE=1``, gives :func:`gomp_parallel` None and the
callers take their portable path (a ``ThreadPoolExecutor``); CI runs the kernel tests once more
with the variable set.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import torch

#: Set to 1 to run without any private interface (the portable fallbacks).
PORTABLE_ENV = "RNNKIT_PORTABLE"

#: The C type of an OpenMP region body: ``void body(void *data)``.
GOMP_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p)

_UNSET: Any = object()
_gomp: Any = _UNSET  # GOMP_parallel, None, or not looked up yet
_KEPT_THREAD_STATES: set[int] = set()


def portable() -> bool:
    """``$RNNKIT_PORTABLE`` is set: no private interface is used (read once, on first use)."""
    return os.environ.get(PORTABLE_ENV, "0").strip().lower() in ("1", "true", "on", "yes")


def _find_gomp() -> Any:
    """``GOMP_parallel`` of the libgomp torch runs its intra-op threads on, or None."""
    if not sys.platform.startswith("linux"):
        return None
    if not torch.__config__.parallel_info().count("OpenMP"):
        return None
    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split()[-1] for line in fh if "libgomp" in line and "/" in line}
    except OSError:
        return None
    torch_dir = os.path.dirname(os.path.abspath(torch.__file__))
    for path in sorted(paths, key=lambda p: not p.startswith(torch_dir)):
        try:
            fn = ctypes.CDLL(path).GOMP_parallel
        except (OSError, AttributeError):
            continue
        fn.restype = None
        fn.argtypes = [GOMP_FN, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
        return fn
    return None


def gomp_parallel() -> Any:
    """libgomp's ``GOMP_parallel(body, data, threads, flags)``, or None (portable mode, or no
    libgomp in this process). Looked up once: every split kernel call asks."""
    global _gomp
    if _gomp is _UNSET:
        _gomp = None if portable() else _find_gomp()
    return _gomp


def _keep_thread_state() -> None:
    """Give an OpenMP worker a lasting Python thread state (the callbacks run Python code).

    ctypes creates and destroys a thread state around every callback on a thread Python did not
    start; keeping one (an unmatched ``PyGILState_Ensure``) makes later callbacks cheap.
    """
    tid = threading.get_ident()
    if tid not in _KEPT_THREAD_STATES:
        _KEPT_THREAD_STATES.add(tid)
        ctypes.pythonapi.PyGILState_Ensure()


def on_every_worker(body: Callable[[], None], threads: int) -> bool:
    """Run ``body`` once on each thread of torch's OpenMP pool (the caller's included); False
    (nothing run) where there is no such pool."""
    gomp = gomp_parallel()
    if gomp is None:
        return False

    def region(_: Any) -> None:
        _keep_thread_state()
        body()

    gomp(GOMP_FN(region), None, threads, 0)
    return True
