"""``--out DIR`` is locked while a run writes it: a second writer (a real second process) gets
a one-line error and exit status 1; a lock left by a killed process is taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rnnkit.errors import RunFolderError, RunLockedError
from rnnkit.tasks import run_lock
from rnnkit.tasks._lock import LOCK_FILE

from ._common import ROOT, script_env

HOLD = """
import sys, time
from rnnkit.tasks import run_lock
with run_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


def _holder(folder: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE,
                            text=True, env=script_env())
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.fixture
def held(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    proc = _holder(tmp_path / "run")
    yield proc
    _stop(proc)


@pytest.mark.slow
def test_a_second_writer_is_refused_with_one_line_and_exit_1(
    tmp_path: Path, held: subprocess.Popen[str]
) -> None:
    out = tmp_path / "run"
    info = json.loads((out / LOCK_FILE).read_text())
    assert info["pid"] == held.pid and info["host"]
    with pytest.raises(RunLockedError, match=f"pid {held.pid} on host"):
        with run_lock(out):
            pass
    result = subprocess.run(
        [sys.executable, "-m", "rnnkit.cli", "train", str(ROOT / "configs" / "activity.toml"),
         "--out", str(out)],
        capture_output=True, text=True, env=script_env(), timeout=120, check=False,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "RunLockedError" in lines[0] and str(held.pid) in lines[0], lines
    assert not (out / "checkpoints").exists()  # nothing was written by the refused run
    assert held.poll() is None  # the holder runs on undisturbed


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _holder(out)
    os.kill(proc.pid, signal.SIGKILL)
    _stop(proc)
    assert json.loads((out / LOCK_FILE).read_text())["pid"] == proc.pid  # left behind
    with run_lock(out):
        assert json.loads((out / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert not (out / LOCK_FILE).exists()  # released on exit


def test_the_lock_is_released_after_an_error_and_reentrant_in_one_process(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    with pytest.raises(ZeroDivisionError), run_lock(out):
        with run_lock(out):  # the same process (e.g. torchrun's workers of the holder)
            raise ZeroDivisionError
    assert not (out / LOCK_FILE).exists()
    _stop(_holder(out))  # another process can take it now


def test_a_symlink_or_fifo_in_the_run_folder_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep me")
    for name, make in [("task.json", lambda p: p.symlink_to(target)),
                       (LOCK_FILE, lambda p: p.symlink_to(target)),
                       ("config.toml", os.mkfifo)]:
        folder = tmp_path / f"run-{name}"
        folder.mkdir()
        make(folder / name)
        with pytest.raises(RunFolderError, match=f"run folder .*{name}"):
            with run_lock(folder):
                raise AssertionError("the folder was locked")
        assert target.read_text() == "keep me"  # nothing written through the symlink
    with run_lock(tmp_path / "fresh") as folder:  # regular files and folders are fine
        (folder / "sub").mkdir()
        (folder / "task.json").write_text("{}")
    with run_lock(tmp_path / "fresh"):
        pass
