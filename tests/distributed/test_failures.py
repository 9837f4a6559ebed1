"""A dead (SIGKILL) or stalled (SIGSTOP) rank ends the job within its timeout, naming the rank
in one line (``WorkerFailedError``; ``rnnkit train --nproc 2`` exits 1), and the run resumed
from its last checkpoint ends bit-identical to an uninterrupted one.

Timings are generous for a loaded 2-core machine: the stall timeout's floor is set to
``FLOOR`` s, the job must end within ``FLOOR + SLACK`` s of the signal (the default would be
30 minutes; before the steps are measured, the ceiling, set to 10 minutes).
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rnnkit import training
from rnnkit.errors import WorkerFailedError

from . import _stall_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(_stall_script.__file__)
FLOOR = 15
SLACK = 60
RUN_LIMIT = 300


def _env() -> dict[str, str]:
    src = str(ROOT / "src")
    old = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": src if not old else src + os.pathsep + old, "OMP_NUM_THREADS": "1",
            "RNNKIT_DIST_TIMEOUT_FLOOR": str(FLOOR), "RNNKIT_DIST_TIMEOUT_CEILING": "600"}


def _launch(out: Path, hold: float = 0) -> int:
    env = {**_env(), "STALL_SCRIPT_HOLD": str(hold)}
    return training.launch(2, [str(SCRIPT), str(out)], env=env, timeout=RUN_LIMIT,
                           forward_stderr=False)


def _wait_for(path: Path, future: concurrent.futures.Future[int]) -> None:
    deadline = time.monotonic() + RUN_LIMIT
    while not path.exists():
        assert not future.done(), f"the run ended before {path.name} appeared: {future.result()}"
        assert time.monotonic() < deadline, f"no {path} after {RUN_LIMIT} s"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.Tensor]:
    out = tmp_path_factory.mktemp("uninterrupted")
    assert _launch(out) == 0
    return load_file(str(out / "weights.safetensors"))


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP], ids=["dead", "stalled"])
def test_a_lost_rank_ends_the_job_and_the_resumed_run_is_bit_identical(
    tmp_path: Path, reference: dict[str, torch.Tensor], sig: signal.Signals
) -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(_launch, tmp_path, RUN_LIMIT)  # holds in epoch 3 until stopped
        _wait_for(tmp_path / "checkpoints" / "epoch-0002", future)
        pid = int((tmp_path / "pid-r1").read_text())
        os.kill(pid, sig)
        signalled = time.monotonic()
        with pytest.raises(WorkerFailedError) as failure:
            future.result(timeout=FLOOR + SLACK)
        took = time.monotonic() - signalled
    assert failure.value.rank == 1
    words = "was killed by SIGKILL" if sig == signal.SIGKILL else "stopped responding"
    assert f"rank 1 (pid {pid}) {words}" in str(failure.value)
    assert "\n" not in str(failure.value)
    assert took < FLOOR + SLACK
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the lost rank is gone (a stopped one was killed)
    assert not (tmp_path / "weights.safetensors").exists()
    assert _launch(tmp_path) == 0  # resumes from the last complete epoch
    got = load_file(str(tmp_path / "weights.safetensors"))
    assert got.keys() == reference.keys()
    for k in reference:
        assert torch.equal(got[k], reference[k]), k


@pytest.mark.slow
def test_a_failing_rank_is_one_line_and_exit_1_from_the_cli(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("date,y\n2020-01-01,1\n2020-01-02,oops\n")
    config = tmp_path / "run.toml"
    config.write_text('task = "forecaster"\n[data]\npath = "bad.csv"\ntime_column = "date"\n'
                      "[training]\nepochs = 1\n", encoding="utf-8")
    env = {**os.environ, **_env()}
    cmd = [sys.executable, "-m", "rnnkit", "train", str(config), "--nproc", "2",
           "--out", str(tmp_path / "run"), "--verbose", "0"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=RUN_LIMIT)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert re.match(r"rnnkit: error: WorkerFailedError: rank [01] \(pid \d+\) failed with exit "
                    "status 1: DataFileError: ", lines[0]), lines[0]
    assert "DataFileError" in lines[0] and "bad.csv" in lines[0], lines[0]
    debug = subprocess.run([*cmd, "--debug"], env=env, capture_output=True, text=True,
                           timeout=RUN_LIMIT)
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr  # the workers' tracebacks
