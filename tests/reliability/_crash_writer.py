"""Kill checkpoint writers (real SIGKILLs of forked children) and check what they leave.

    python _crash_writer.py points DIR     # one kill at each stage of a checkpoint write
    python _crash_writer.py random DIR     # writers saving in a loop, killed at random moments

After every kill the parent checks that the newest checkpoint verifies and loads, and that
its content is one that was completely written (every weight equals its epoch number), and
the same for a model archive written with ``_archive.write_archive``. Prints a JSON summary.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

torch.set_num_threads(1)

from rnnkit import _archive  # noqa: E402
from rnnkit.training import checkpoint as ck  # noqa: E402
from rnnkit.training import latest_checkpoint, load_checkpoint, read_checkpoint  # noqa: E402
from rnnkit.training.checkpoint import files as ck_files  # noqa: E402


def _module(value: float) -> nn.Module:
    module = nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 3))
    with torch.no_grad():
        for p in module.parameters():
            p.fill_(value)
    return module


def _save(root: Path, epoch: int) -> None:
    module = _module(float(epoch))
    opt = torch.optim.SGD(module.parameters(), lr=0.1, momentum=0.9)
    for p in module.parameters():
        opt.state[p]["momentum_buffer"] = torch.full_like(p, float(epoch))
    ck.save_training_checkpoint(
        root, epoch=epoch, epochs=10**6, module=module, optimizer=opt, callbacks=[],
        generator=None, params={}, stopped=False, keep_last=2,
    )


def _check(root: Path) -> int:
    """The epoch of the newest checkpoint, after verifying and loading it completely."""
    path = latest_checkpoint(root)
    assert path is not None, "no checkpoint left"
    ckpt = read_checkpoint(path)
    module = _module(-1.0)
    opt = torch.optim.SGD(module.parameters(), lr=0.1, momentum=0.9)
    load_checkpoint(ckpt, module, opt)
    for p in module.parameters():
        assert bool((p == ckpt.epoch).all()), f"weights of {path} are not those of its epoch"
    for state in opt.state.values():
        assert bool((state["momentum_buffer"] == ckpt.epoch).all())
    return ckpt.epoch


def _check_archive(path: Path) -> int:
    config, tensors = _archive.read_archive(path)
    value = config["value"]
    assert all(bool((t == value).all()) for t in tensors.values())
    return int(value)


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _in_child(fn: Any) -> int:
    """Run ``fn`` in a forked child; return its wait status."""
    pid = os.fork()
    if pid == 0:  # child
        try:
            fn()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return status


# --------------------------------------------------------------------------- points
def _crash_at(point: str, root: Path, epoch: int) -> None:
    """In the child: arrange a SIGKILL at ``point`` of writing checkpoint ``epoch``."""
    real_write, real_rename, real_fsync_dir = ck_files._write_file, os.rename, ck_files._fsync_dir
    real_rmtree = shutil.rmtree

    def write_file(path: Path, data: bytes) -> None:
        if point == "mid-weights" and path.name == ck.WEIGHTS:
            real_write(path, data[: len(data) // 2])
            _kill_self()
        if point == "before-manifest" and path.name == ck.MANIFEST:
            _kill_self()
        if point == "mid-manifest" and path.name == ck.MANIFEST:
            real_write(path, data[: len(data) // 2])
            _kill_self()
        real_write(path, data)

    def rename(src: Any, dst: Any) -> None:
        if point == "before-rename" and Path(src).name.startswith(".tmp-"):
            _kill_self()
        real_rename(src, dst)
        if point == "after-rename" and Path(src).name.startswith(".tmp-"):
            _kill_self()

    def rmtree(path: Any, *args: Any, **kwargs: Any) -> None:
        if point == "mid-prune":
            victim = next(Path(path).iterdir(), None)
            if victim is not None:
                victim.unlink()  # the first file of the old checkpoint is gone
            _kill_self()
        real_rmtree(path, *args, **kwargs)

    ck_files._write_file = write_file  # type: ignore[assignment]
    os.rename = rename  # type: ignore[assignment]
    shutil.rmtree = rmtree  # type: ignore[assignment]
    ck_files._fsync_dir = real_fsync_dir
    _save(root, epoch)


POINTS = ["mid-weights", "before-manifest", "mid-manifest", "before-rename", "after-rename",
          "mid-prune"]


def points(root: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for point in POINTS:
        folder = root / point
        _save(folder, 1)
        _save(folder, 2)
        status = _in_child(lambda folder=folder, point=point: _crash_at(point, folder, 3))
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        leftovers = sorted(
            p.name.split("-")[0] for p in folder.iterdir() if p.name.startswith(".")
        )
        after = _check(folder)
        _save(folder, 4)  # the next write cleans up and continues
        clean = sorted(p.name for p in folder.iterdir())
        out[point] = {
            "killed": killed,
            "epoch_after_kill": after,
            "leftovers": leftovers,
            "after_next_save": clean,
            "next": _check(folder),
        }
    return out


# --------------------------------------------------------------------------- random
def _writer_loop(root: Path, start: int) -> None:
    epoch = start
    while True:
        _save(root, epoch)
        module = _module(float(epoch))
        _archive.write_archive(root / "model.rnnkit", {"value": epoch}, module.state_dict())
        epoch += 1


def random_kills(root: Path, min_mid_write: int = 3, max_kills: int = 150) -> dict[str, Any]:
    rng = random.Random(1234)
    root.mkdir(parents=True, exist_ok=True)
    _save(root, 1)
    _archive.write_archive(root / "model.rnnkit", {"value": 1}, _module(1.0).state_dict())
    kills = mid_write = advanced = 0
    epoch = 1
    seen = []
    while kills < max_kills and (
        mid_write < min_mid_write or advanced < min_mid_write or kills < 20
    ):
        pid = os.fork()
        if pid == 0:
            try:
                _writer_loop(root, epoch + 1)
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.0, 0.15))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        kills += 1
        if any(p.name.startswith(".tmp-") or p.name.endswith(".tmp") for p in root.iterdir()):
            mid_write += 1
        new = _check(root)
        assert new >= epoch, "a newer checkpoint disappeared"
        advanced += new > epoch
        epoch = new
        seen.append(epoch)
        _check_archive(root / "model.rnnkit")
    return {"kills": kills, "mid_write": mid_write, "advanced": advanced, "epochs": seen}


if __name__ == "__main__":
    mode, folder = sys.argv[1], Path(sys.argv[2])
    result = points(folder) if mode == "points" else random_kills(folder)
    sys.stdout.write(json.dumps(result) + "\n")
