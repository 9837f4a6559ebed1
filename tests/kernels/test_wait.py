"""How torch's OpenMP threads wait (``kernels/_wait.py``): libgomp's spin count found and set,
the policy's decisions from given run delays, and results that do not depend on it."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from collections.abc import Callable

import pytest
import torch

from rnnkit.kernels import _omp, _runtime, _threads, _wait

from .reference import assert_close, forward_backward, random_call


def _elf(code: bytes, text_at: int = 0x100, data_addr: int = 0x2000, size: int = 0x40) -> bytes:
    """A minimal 64-bit ELF image: an executable segment holding ``code`` at ``text_at`` and a
    writable one of ``size`` bytes at ``data_addr``."""
    head = bytearray(64)
    head[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", head, 0x20, 64)  # program headers follow the header
    struct.pack_into("<HH", head, 0x36, 56, 2)
    text = struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, text_at + len(code), text_at + len(code), 0)
    data = struct.pack("<IIQQQQQQ", 1, 6, 0x1000, data_addr, 0, 0, size, 0)
    image = bytearray(bytes(head) + text + data)
    image += bytes(text_at - len(image)) + code
    return bytes(image)


def _store(at: int, target: int) -> bytes:
    """``movq $300000, target(%rip)`` placed at address ``at``."""
    return b"\x48\xc7\x05" + struct.pack("<i", target - (at + 11)) + struct.pack("<i", 300_000)


def test_the_spin_variable_is_the_target_of_the_one_store_of_the_default() -> None:
    image = _elf(b"\x90" * 4 + _store(0x104, 0x2010))
    assert _omp._spin_variable(image) == 0x2010
    two = _elf(_store(0x100, 0x2010) + _store(0x10B, 0x2018))
    assert _omp._spin_variable(two) is None  # not exactly one: left alone
    assert _omp._spin_variable(_elf(_store(0x100, 0x3000))) is None  # not in writable data
    assert _omp._spin_variable(_elf(_store(0x100, 0x2012))) is None  # not 8-byte aligned
    assert _omp._spin_variable(b"not an ELF image") is None


def _torchs_spin_count() -> _omp.SpinCount:
    """The spin count of torch's libgomp, also where ``RNNKIT_PORTABLE`` keeps the engine off it
    (Linux, torch 2.13 with GNU OpenMP: the project's pin)."""
    spin = _omp.spin_count() or _omp._find_spin_count()
    assert spin is not None
    return spin


def test_torchs_spin_count_is_found_and_set() -> None:
    assert (_omp.spin_count() is None) == _omp.portable()  # portable: no private interface
    spin = _torchs_spin_count()
    before = spin.value
    try:
        spin.value = 1234
        assert spin.value == 1234
        torch.ones(1 << 20).sum()  # the threads keep running with any count
    finally:
        spin.value = before


def test_a_spin_count_set_by_the_user_is_left_alone() -> None:
    code = "from rnnkit.kernels import _omp; print(_omp.spin_count() is None)"
    env = {**_py_env(), "GOMP_SPINCOUNT": "1000"}
    out = subprocess.run([sys.executable, "-c", code], env=env,
                         capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    assert out.stdout.strip() == "True"


def _py_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in ("PYTHONPATH", "HOME", "PATH")}


class _Spin:
    value = _omp.DEFAULT_SPINS


def _policy(
    shares: list[float] | Callable[[bool], float], windows: int = 0
) -> tuple[_wait.WaitPolicy, _Spin, list[bool]]:
    """A policy fed one window per share (run delay per second of wall time; or ``windows``
    windows of ``shares(sleeping)``); whether the threads sleep after each window."""
    spin = _Spin()
    clock = [0.0]
    delay = [0]

    def read() -> dict[int, int]:
        return {1: delay[0]}

    policy = _wait.WaitPolicy(lambda: spin, read, lambda: clock[0])  # type: ignore[arg-type,return-value]
    policy.tick()  # the first look only records
    sleeping: list[bool] = []
    feed = shares if isinstance(shares, list) else [None] * windows
    for given in feed:
        share = shares(policy.sleeping) if given is None and callable(shares) else given
        assert share is not None
        clock[0] += 1.01 * _wait.WINDOW
        delay[0] += int(share * 1.01 * _wait.WINDOW * 1e9)
        policy.tick()
        sleeping.append(spin.value == 0)
        assert policy.sleeping == (spin.value == 0)
    return policy, spin, sleeping


def test_threads_sleep_under_load_and_spin_again_when_it_goes() -> None:
    policy, spin, sleeping = _policy([0.0, 0.0, 0.8, 0.8, 0.0, 0.0, 0.0])
    assert sleeping[:2] == [False, False]
    assert sleeping[2:4] == [True, True]
    assert sleeping[-1] is False and spin.value == _omp.DEFAULT_SPINS
    assert policy.describe() == "waits spinning (threads waited 0% of the time for a core)"


def test_a_load_that_returns_whenever_threads_spin_lengthens_the_hold() -> None:
    # the threads' own spinning brings the delay straight back each time they try
    policy, _, sleeping = _policy(lambda asleep: 0.0 if asleep else 0.9, 60)
    tries = [i for i in range(1, 60) if sleeping[i - 1] and not sleeping[i]]
    gaps = [b - a for a, b in zip(tries, tries[1:])]
    assert len(tries) >= 4 and gaps == sorted(gaps) and gaps[-1] > 2 * gaps[0]
    assert sum(sleeping) > 50  # mostly asleep: each try costs one window of spinning
    assert str(policy.describe()).startswith("waits ")


def test_no_decision_within_a_window_nor_when_disabled() -> None:
    policy, spin, _ = _policy([0.9])
    assert spin.value == 0
    policy.enabled = False
    policy.restore()
    assert spin.value == _omp.DEFAULT_SPINS and policy.describe() is None
    policy.tick()
    assert spin.value == _omp.DEFAULT_SPINS


def test_the_summary_line_says_how_threads_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_threads.POLICY, "describe", lambda: "2 threads (x)")
    monkeypatch.setattr(_threads.WAIT, "describe", lambda: "waits sleeping (y)")
    assert _threads.threads_chosen() == "2 threads (x); waits sleeping (y)"
    monkeypatch.setattr(_threads.POLICY, "describe", lambda: None)
    assert _threads.threads_chosen() == "waits sleeping (y)"


@pytest.mark.parametrize("cell", ["lstm", "simple_rnn"])
def test_results_do_not_depend_on_how_threads_wait(
    cell: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spin = _torchs_spin_count()
    call = random_call(cell, batch=24, time=9, dtype=torch.float64, mask="post")
    monkeypatch.setattr(_runtime, "_MIN_PARALLEL_WORK", 0)  # split over the threads
    monkeypatch.setattr(_threads.WAIT, "enabled", False)
    before, threads = spin.value, torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        spin.value = _omp.DEFAULT_SPINS
        want = forward_backward(call, "fused")
        spin.value = 0
        for _ in range(2):
            got = forward_backward(call, "fused")
            assert_close(got[0], want[0], 0.0)
            assert_close(got[1], want[1], 0.0)
    finally:
        spin.value = before
        torch.set_num_threads(threads)


def test_slow_looks_are_spaced_further() -> None:
    """A process with many threads reads many files per look: looks stay within MAX_OVERHEAD."""
    clock = [0.0]
    reads = []

    def read() -> dict[int, int]:
        reads.append(clock[0])
        clock[0] += 0.01  # each look takes 10 ms
        return {1: 0}

    policy = _wait.WaitPolicy(lambda: _Spin(), read, lambda: clock[0])  # type: ignore[arg-type,return-value]
    for _ in range(2000):
        policy.tick()
        clock[0] += 0.005
    spent = 0.01 * len(reads)
    assert len(reads) >= 5 and spent <= 1.5 * _wait.MAX_OVERHEAD * clock[0]
