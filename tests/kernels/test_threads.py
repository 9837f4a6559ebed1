"""The adaptive thread policy: its decisions from given wall times, and the fused engine's
results on whichever thread count it picks."""

from __future__ import annotations

import itertools

import pytest
import torch

import rnnkit as rk
from rnnkit import kernels, layers
from rnnkit.kernels import _runtime, _threads

from .reference import assert_close, forward_backward, random_call


def _feed(policy: _threads.ThreadPolicy, cost: dict[int, float], calls: int) -> list[int]:
    """Run ``calls`` calls of one site whose wall time per thread count is ``cost``."""
    used = []
    for _ in range(calls):
        n = policy.choose("site", 2)
        used.append(n)
        policy.record("site", n, cost[n])
    return used


def test_starts_on_all_threads_and_probes_one() -> None:
    policy = _threads.ThreadPolicy()
    used = _feed(policy, {2: 1.0, 1: 1.5}, _threads.MIN_INTERVAL + _threads.PROBE_CALLS)
    assert used[: _threads.MIN_INTERVAL] == [2] * _threads.MIN_INTERVAL
    assert used[_threads.MIN_INTERVAL :] == [1] * _threads.PROBE_CALLS
    assert policy.choose("site", 2) == 2  # one thread was slower: all threads kept
    assert policy.describe() == "2 threads (1 thread measured 1.50x their time)"


def test_switches_to_one_thread_when_faster_and_back_when_the_load_goes() -> None:
    policy = _threads.ThreadPolicy()
    _feed(policy, {2: 3.0, 1: 1.0}, _threads.MIN_INTERVAL + _threads.PROBE_CALLS)
    assert policy.choose("site", 2) == 1
    assert policy.describe() is not None and policy.describe().startswith("1 thread")
    # the load goes away: the next probe of all threads finds them faster again
    used = _feed(policy, {2: 0.5, 1: 1.0}, _threads.MIN_INTERVAL + _threads.PROBE_CALLS)
    assert 2 in used
    assert policy.choose("site", 2) == 2


def test_hysteresis_keeps_the_current_way_and_spaces_the_probes() -> None:
    policy = _threads.ThreadPolicy()
    used = _feed(policy, {2: 1.0, 1: 0.95}, 200)  # one thread only 5 % faster: no switch
    assert str(policy.describe()).startswith("2 threads")
    probes = used.count(1) // _threads.PROBE_CALLS
    assert 2 <= probes < 200 // (_threads.MIN_INTERVAL + _threads.PROBE_CALLS)


def test_a_slowdown_of_the_chosen_way_probes_at_once() -> None:
    policy = _threads.ThreadPolicy()
    _feed(policy, {2: 1.0, 1: 2.0}, 60)  # all threads win; the next probe is far off
    used = _feed(policy, {2: 5.0, 1: 2.0}, 2 + _threads.PROBE_CALLS)
    assert used[-_threads.PROBE_CALLS :] == [1] * _threads.PROBE_CALLS
    assert policy.choose("site", 2) == 1


def test_the_choice_splits_the_kernels_rows_and_leaves_torchs_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """torch's reductions round differently on another thread count: the policy only sets
    the kernels' row split, inside the call."""
    policy = _threads.ThreadPolicy()
    monkeypatch.setattr(_threads, "POLICY", policy)
    monkeypatch.setattr(policy, "choose", lambda key, full: 1)
    monkeypatch.setattr(policy, "record", lambda key, threads, seconds: 1)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        with _threads.adaptive_threads("k", True) as n:
            assert n == 1 and _threads.kernel_threads() == 1
            assert torch.get_num_threads() == 3
            assert len(_runtime.row_chunks(96, 10**9)) == 1
        assert _threads.kernel_threads() == 3 == torch.get_num_threads()
        assert len(_runtime.row_chunks(96, 10**9)) == 3
        with _threads.adaptive_threads("k", False) as n:  # too small to split: left alone
            assert n == 3
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fused_results_do_not_depend_on_the_policy(
    cell: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whichever way the policy picks per call (here: alternating), forward and backward give
    the results of torch's own count, bit for bit."""
    call = random_call(cell, batch=24, time=9, dtype=torch.float64, mask="post")
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        want = forward_backward(call, "fused")  # too small to split: one thread
    finally:
        torch.set_num_threads(before)
    monkeypatch.setattr(_runtime, "_MIN_PARALLEL_WORK", 0)
    policy = _threads.ThreadPolicy()
    ways = itertools.cycle([3, 1])
    monkeypatch.setattr(policy, "choose", lambda key, full: next(ways))
    monkeypatch.setattr(policy, "record", lambda key, threads, seconds: 3)
    monkeypatch.setattr(_threads, "POLICY", policy)
    try:
        torch.set_num_threads(3)
        for _ in range(4):
            got = forward_backward(call, "fused")
            assert_close(got[0], want[0], 0.0)
            assert_close(got[1], want[1], 0.0)  # bit-identical: torch's count is unchanged
    finally:
        torch.set_num_threads(before)


def test_summary_says_what_the_policy_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    model = rk.Sequential([rk.Input((5, 3)), layers.LSTM(4), layers.Dense(2)])
    lines: list[str] = []
    monkeypatch.setattr(kernels, "threads_chosen", lambda: "1 thread (busy)")
    model.summary(print_fn=lines.append)
    assert any("engine fused (" in ln and "; 1 thread (busy))" in ln for ln in lines)
    monkeypatch.setattr(kernels, "threads_chosen", lambda: None)
    lines.clear()
    model.summary(print_fn=lines.append)
    assert not any("1 thread" in ln for ln in lines)
