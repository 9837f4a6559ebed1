"""Issue 7.2: checkpoints are atomic; a killed writer always leaves the previous one loadable."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from rnnkit import _archive
from rnnkit.training import checkpoint as ck
from rnnkit.training import fit, latest_checkpoint, list_checkpoints, read_checkpoint
from rnnkit.training.checkpoint import files as ck_files

from ._common import TinyNet, finish, regression, start


def _run(mode: str, folder: Path) -> dict:
    rc, out, err = finish(start("_crash_writer.py", mode, folder))
    assert rc == 0, err
    return json.loads(out)


def test_sigkill_at_every_stage_of_a_write_keeps_a_complete_checkpoint(tmp_path: Path) -> None:
    result = _run("points", tmp_path)
    assert list(result) == [
        "mid-weights", "before-manifest", "mid-manifest", "before-rename", "after-rename",
        "mid-prune",
    ]
    for point, r in result.items():
        assert r["killed"], point  # the child really died of SIGKILL at that point
        # before the rename the previous checkpoint (2) is the newest; after it, the new one (3)
        want = 2 if point in ("mid-weights", "before-manifest", "mid-manifest",
                              "before-rename") else 3
        assert r["epoch_after_kill"] == want, point
        assert r["next"] == 4 and all(not n.startswith(".") for n in r["after_next_save"])
    for point in ("mid-weights", "before-manifest", "mid-manifest", "before-rename"):
        assert result[point]["leftovers"] == [".tmp"], point  # ignored, then cleaned up
    assert result["after-rename"]["leftovers"] == []
    assert result["mid-prune"]["leftovers"] == [".trash"]


def test_writers_killed_at_random_moments_never_lose_the_last_checkpoint(tmp_path: Path) -> None:
    result = _run("random", tmp_path)
    assert result["kills"] >= 20
    assert result["mid_write"] >= 3  # some kills did land in the middle of a write
    assert result["advanced"] >= 3  # and some writes completed between kills
    assert result["epochs"] == sorted(result["epochs"])


def _fit(ckpt: Path, epochs: int) -> None:
    x, y = regression(n=16)
    torch.manual_seed(0)
    fit(TinyNet(), x, y, loss="mse", optimizer="sgd", epochs=epochs, batch_size=8, verbose=0,
        checkpoint_dir=ckpt)


def test_failed_write_removes_its_temporary_folder_and_keeps_the_previous(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fit(tmp_path, 2)
    real = ck_files._write_file

    def full_disk(path: Path, data: bytes) -> None:
        if path.name == ck.STATE:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(ck_files, "_write_file", full_disk)
    with pytest.raises(OSError, match="No space left"):
        _fit(tmp_path, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0001", "epoch-0002"]
    assert read_checkpoint(latest_checkpoint(tmp_path)).epoch == 2  # type: ignore[arg-type]


def test_stale_folders_are_ignored_then_removed(tmp_path: Path) -> None:
    _fit(tmp_path, 1)
    for name in (".tmp-dead", ".trash-old"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "weights.safetensors").write_bytes(b"partial")
    (tmp_path / "epoch-9999.partial").mkdir()  # not a checkpoint name: never listed
    assert [p.name for p in list_checkpoints(tmp_path)] == ["epoch-0001"]
    _fit(tmp_path, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "epoch-0002", "epoch-0003", "epoch-9999.partial"
    ]


def test_model_archive_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.rnnkit"
    _archive.write_archive(path, {"value": 1}, {"w": torch.ones(3)})

    def crash(fd: int) -> None:
        raise KeyboardInterrupt  # interrupted while the new bytes are being made durable

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        _archive.write_archive(path, {"value": 2}, {"w": torch.full((3,), 2.0)})
    monkeypatch.undo()
    config, tensors = _archive.read_archive(path)
    assert config["value"] == 1 and torch.equal(tensors["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["m.rnnkit"]
