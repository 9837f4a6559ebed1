"""torch's GNU OpenMP pool reached through ctypes: the one module using these private interfaces.

Running the fused kernels' row chunks as an OpenMP region of torch's own pool (instead of on
threads of our own) matters on small machines: libgomp's idle workers spin for milliseconds
after every parallel torch op, so a thread of ours would fight a spinning one for the same core.

Private interfaces, used here only:

* libgomp's ``GOMP_parallel`` (a GCC ABI entry, stable since GCC 4.9), found in the libgomp that
  torch loaded by reading ``/proc/self/maps`` (Linux);
* CPython's ``PyGILState_Ensure`` through ``ctypes.pythonapi`` (a lasting thread state for an
  OpenMP worker that runs a Python callback);
* libgomp's spin count (``gomp_spin_count_var``, internal): how long a waiting thread spins
  before it sleeps, read once from ``GOMP_SPINCOUNT`` / ``OMP_WAIT_POLICY`` when the library
  loads (300,000 spins, about 3 ms, when neither is set). :func:`spin_count` finds it through the
  one instruction that stores that default (``movq $300000, rel32(%rip)``) in the library's
  code, and only where it still holds the default.

Checked before use: Linux, torch built with OpenMP (``torch.__config__.parallel_info()``), the
symbol present. Anything else, or ``RNNKIT_PORTABLE=1``, gives :func:`gomp_parallel` None and the
callers take their portable path (a ``ThreadPoolExecutor``); CI runs the kernel tests once more
with the variable set.
"""

from __future__ import annotations

import ctypes
import os
import re
import struct
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


def _gomp_maps() -> dict[str, int]:
    """The libgomp files mapped into this process, each with its load address (where its
    first byte is mapped), torch's own first; empty off Linux or without OpenMP in torch."""
    if not sys.platform.startswith("linux"):
        return {}
    if not torch.__config__.parallel_info().count("OpenMP"):
        return {}
    try:
        with open("/proc/self/maps") as fh:
            rows = [line.split() for line in fh if "libgomp" in line and "/" in line]
    except OSError:
        return {}
    bases = {r[-1]: int(r[0].split("-")[0], 16) for r in rows if int(r[2], 16) == 0}
    torch_dir = os.path.dirname(os.path.abspath(torch.__file__))
    return dict(sorted(bases.items(), key=lambda kv: not kv[0].startswith(torch_dir)))


def _find_gomp() -> Any:
    """``GOMP_parallel`` of the libgomp torch runs its intra-op threads on, or None."""
    for path in _gomp_maps():
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


#: libgomp's spin count when neither GOMP_SPINCOUNT nor OMP_WAIT_POLICY is set.
DEFAULT_SPINS = 300_000
# ``movq $300000, rel32(%rip)``: the store of that default into gomp_spin_count_var
_STORE_DEFAULT = re.compile(re.escape(b"\x48\xc7\x05") + b"(.{4})" + re.escape(
    struct.pack("<i", DEFAULT_SPINS)), re.DOTALL)
_ELF_PT_LOAD, _ELF_PF_X, _ELF_PF_W = 1, 1, 2


def _load_segments(image: bytes) -> list[tuple[int, int, int, int, int]]:
    """(flags, file offset, address, file size, memory size) of a 64-bit little-endian ELF
    shared object's loaded segments; empty for anything else."""
    if image[:6] != b"\x7fELF\x02\x01":
        return []
    phoff, = struct.unpack_from("<Q", image, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", image, 0x36)
    out = []
    for i in range(phnum):
        kind, flags, off, addr, _, filesz, memsz = struct.unpack_from(
            "<IIQQQQQ", image, phoff + i * phentsize
        )
        if kind == _ELF_PT_LOAD:
            out.append((flags, off, addr, filesz, memsz))
    return out


def _spin_variable(image: bytes) -> int | None:
    """The address (relative to the load address) of gomp_spin_count_var in a libgomp image:
    the target of the one instruction storing :data:`DEFAULT_SPINS`, which must lie in a
    writable segment; None where there is not exactly one such instruction."""
    segments = _load_segments(image)
    found = []
    for flags, off, addr, filesz, _ in segments:
        if not flags & _ELF_PF_X:
            continue
        for m in _STORE_DEFAULT.finditer(image, off, off + filesz):
            rel, = struct.unpack("<i", m.group(1))
            found.append(addr + (m.start() - off) + 11 + rel)  # rip: the next instruction
    if len(found) != 1:
        return None
    target = found[0]
    writable = any(
        flags & _ELF_PF_W and addr <= target and target + 8 <= addr + memsz
        for flags, _, addr, _, memsz in segments
    )
    return target if writable and target % 8 == 0 else None


class SpinCount:
    """libgomp's spin count, read and set while running (an aligned 8-byte variable: threads
    about to wait read it each time, so a new value holds from their next wait)."""

    def __init__(self, address: int) -> None:
        self._var = ctypes.c_int64.from_address(address)

    @property
    def value(self) -> int:
        return int(self._var.value)

    @value.setter
    def value(self, spins: int) -> None:
        self._var.value = spins


_spin: Any = _UNSET


def _find_spin_count() -> SpinCount | None:
    for path, base in _gomp_maps().items():
        try:
            with open(path, "rb") as fh:
                image = fh.read()
        except OSError:
            continue
        rel = _spin_variable(image)
        if rel is None:
            continue
        spin = SpinCount(base + rel)
        # a value the user chose (GOMP_SPINCOUNT, OMP_WAIT_POLICY) is theirs to keep
        return spin if spin.value == DEFAULT_SPINS else None
    return None


def spin_count() -> SpinCount | None:
    """The spin count of torch's libgomp, or None: portable mode, no libgomp, not found, or
    set by the user's environment (then left alone). Looked up once."""
    global _spin
    if _spin is _UNSET:
        _spin = None if portable() or gomp_parallel() is None else _find_spin_count()
    return _spin
