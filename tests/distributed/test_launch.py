"""Launching processes (torchrun argv or spawned functions) and sharding arithmetic."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from rnnkit import training
from rnnkit.errors import WorkerFailedError
from rnnkit.training.distributed import shard_bounds, shard_sizes

from . import _spawn_target

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    src = str(ROOT / "src")
    old = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": src if not old else src + os.pathsep + old, "OMP_NUM_THREADS": "1"}


@pytest.mark.parametrize("world", [1, 2, 3, 4, 7])
def test_shards_are_contiguous_and_as_even_as_possible(world: int) -> None:
    for n in range(0, 40):
        sizes = shard_sizes(n, world)
        assert sum(sizes) == n and max(sizes) - min(sizes) <= 1
        assert sizes == sorted(sizes, reverse=True)
        starts = [shard_bounds(n, r, world) for r in range(world)]
        assert starts[0][0] == 0 and starts[-1][1] == n
        for (_, hi), (lo, _) in zip(starts, starts[1:]):
            assert hi == lo


def test_without_option_and_torchrun_command() -> None:
    argv = ["train", "cfg.toml", "--nproc", "4", "--epochs", "2", "--nproc=3"]
    assert training.without_option(argv, "--nproc") == ["train", "cfg.toml", "--epochs", "2"]
    cmd = training.torchrun_command(2, ["-m", "rnnkit.cli", "train", "cfg.toml"])
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert cmd[cmd.index("--nproc-per-node") + 1] == "2"
    assert "--standalone" in cmd and cmd[-4:] == ["-m", "rnnkit.cli", "train", "cfg.toml"]


def test_launch_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="nproc >= 1"):
        training.launch(0, ["script.py"])
    with pytest.raises(TypeError, match="nproc to be an int"):
        training.launch(True, ["script.py"])
    with pytest.raises(TypeError, match="sequence of str"):
        training.launch(2, "script.py")
    with pytest.raises(ValueError, match="empty"):
        training.launch(2, [])


def test_launch_raises_the_failure_of_a_rank(tmp_path: Path) -> None:
    script = tmp_path / "fail.py"
    script.write_text("import os, sys\nif os.environ['RANK'] == '1':\n"
                      "    sys.exit('rank one: expected x, got y')\n")
    with pytest.raises(WorkerFailedError, match=r"^rank 1 \(pid \d+\) failed with exit status "
                       r"1: rank one: expected x, got y$") as failure:
        training.launch(2, [str(script)], env=_env(), forward_stderr=False)
    assert failure.value.rank == 1
    assert training.launch(1, [str(script)], env=_env()) == 0


def test_launch_stops_processes_at_the_timeout(tmp_path: Path) -> None:
    script = tmp_path / "sleep.py"
    pid_file = tmp_path / "pid"
    script.write_text(
        "import os, sys, time\nopen(sys.argv[1], 'w').write(str(os.getpid()))\ntime.sleep(600)\n"
    )
    started = time.monotonic()  # a worker's start, measured now: the timeout is a few of them
    training.launch(1, ["-c", "pass"], env=_env())
    timeout = 10 + 5 * (time.monotonic() - started)
    with pytest.raises(TimeoutError, match="did not finish within"):
        training.launch(1, [str(script), str(pid_file)], env=_env(), timeout=timeout)
    assert pid_file.exists(), f"the worker did not start within {timeout:.0f} s"
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)  # the worker is gone


def test_launch_spawns_functions_with_the_torchrun_environment(tmp_path: Path) -> None:
    assert training.launch(2, _spawn_target.all_reduce_ranks, args=(str(tmp_path),)) == 0
    lines = sorted(p.read_text() for p in tmp_path.glob("rank-*.txt"))
    assert lines == ["True 0 2 3", "True 1 2 3"]  # each created its group; 1 + 2 == 3


def test_launch_raises_a_spawned_function_s_error() -> None:
    from torch.multiprocessing import ProcessRaisedException

    with pytest.raises(ProcessRaisedException, match="rank one fails"):
        training.launch(2, _spawn_target.fail_on_rank_one)
