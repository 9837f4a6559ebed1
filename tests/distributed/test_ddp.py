"""Data-parallel training: 2 CPU processes (gloo) give the one-process weights, rank 0 writes.

The two-process run goes through ``rnnkit.training.launch`` -> ``torch.distributed.run``, as
``rnnkit train CONFIG --nproc N`` does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file
from torch import nn

import rnnkit as rk
from rnnkit import training
from rnnkit.training.distributed.launcher import free_port

from . import _train_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(_train_script.__file__)


def _env() -> dict[str, str]:
    src = str(ROOT / "src")
    old = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": src if not old else src + os.pathsep + old, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(one-process dir, two-process dir)`` of :mod:`._train_script`."""
    ref = tmp_path_factory.mktemp("one")
    out = tmp_path_factory.mktemp("two")
    _train_script.run(ref, distributed=False)
    code = training.launch(2, [str(SCRIPT), str(out)], env=_env(), timeout=240)
    assert code == 0, "the two-process run failed (its output is above)"
    return ref, out


@pytest.mark.parametrize("fit_no", [1, 2])
def test_two_processes_give_the_one_process_weights(runs: tuple[Path, Path], fit_no: int) -> None:
    ref_dir, out_dir = runs
    ref = load_file(str(ref_dir / f"weights-{fit_no}-r0.safetensors"))
    init = {k: v.double() for k, v in _train_script.model().state_dict().items()}
    assert any(not torch.equal(ref[k], init[k]) for k in ref), "training changed nothing"
    for rank in (0, 1):
        got = load_file(str(out_dir / f"weights-{fit_no}-r{rank}.safetensors"))
        assert got.keys() == ref.keys()
        for k in ref:
            torch.testing.assert_close(got[k], ref[k], rtol=1e-10, atol=1e-12, msg=k)


def test_logged_values_are_global_and_stops_are_shared(runs: tuple[Path, Path]) -> None:
    ref_dir, out_dir = runs
    ref = json.loads((ref_dir / "history-r0.json").read_text())
    assert ref["world_size"] == 1
    # rank 0 alone asked to stop after batch 2 of the second fit: both ranks stopped with it
    assert len(ref["fit2"]["loss"]) == 1
    for rank in (0, 1):
        got = json.loads((out_dir / f"history-r{rank}.json").read_text())
        assert got["world_size"] == 2
        for fit_key in ("fit1", "fit2"):
            assert got[fit_key].keys() == ref[fit_key].keys()
            for key, values in ref[fit_key].items():
                np.testing.assert_allclose(got[fit_key][key], values, rtol=1e-10, atol=1e-12)


def test_only_rank_zero_writes(runs: tuple[Path, Path]) -> None:
    _, out = runs
    assert sorted(p.name for p in out.glob("ckpt-*")) == [
        "ckpt-r0-1.safetensors",
        "ckpt-r0-2.safetensors",
    ]
    assert sorted(p.name for p in out.glob("logs-*")) == ["logs-r0"]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch-0001", "epoch-0002"]
    assert sorted(p.name for p in out.glob("checkpoint-writes-*")) == ["checkpoint-writes-r0.txt"]
    assert (out / "checkpoint-writes-r0.txt").read_text().split() == ["write", "write"]
    assert (out / "progress-r1.txt").read_text() == ""
    progress = (out / "progress-r0.txt").read_text()
    assert "Epoch 1/2" in progress and "Epoch 3/3" in progress
    history = json.loads((out / "history-r0.json").read_text())["fit1"]
    lines = (out / "logs-r0" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["loss"] for line in lines] == history["loss"]
    csv_rows = (out / "logs-r0" / "history.csv").read_text().splitlines()
    assert csv_rows[0] == "epoch,loss,mae,val_loss,val_mae" and len(csv_rows) == 3
    # the last checkpoint holds the weights after the first fit
    ckpt = load_file(str(out / "ckpt-r0-2.safetensors"))
    weights = load_file(str(out / "weights-1-r0.safetensors"))
    assert ckpt.keys() == weights.keys()
    for k in weights:
        assert torch.equal(ckpt[k], weights[k])


# ----------------------------------------------------------------------- in this process
def _clear_torchrun_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)


def _linear(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(3, 1).double()


def _xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 3))
    return x, x @ np.array([[1.0], [-2.0], [0.5]])


def test_auto_without_torchrun_is_the_plain_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_torchrun_env(monkeypatch)
    assert not training.under_torchrun() and training.is_rank_zero()
    assert training.get_world_size() == 1
    x, y = _xy()
    weights = []
    for distributed in (False, "auto"):
        module = _linear()
        gen = torch.Generator().manual_seed(5)
        training.fit(
            module,
            x,
            y,
            loss="mse",
            optimizer="sgd",
            batch_size=4,
            epochs=2,
            verbose=0,
            generator=gen,
            distributed=distributed,
        )
        weights.append(module.weight.detach().clone())
    assert torch.equal(weights[0], weights[1])


def test_distributed_true_needs_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_torchrun_env(monkeypatch)
    assert not dist.is_initialized()
    x, y = _xy()
    with pytest.raises(ValueError, match="expected to run under torchrun"):
        training.fit(_linear(), x, y, loss="mse", optimizer="sgd", verbose=0, distributed=True)
    with pytest.raises(ValueError, match="expected distributed to be True, False or 'auto'"):
        training.fit(_linear(), x, y, loss="mse", optimizer="sgd", verbose=0, distributed="yes")


def test_distributed_fit_in_a_one_process_group(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """world size 1: the DDP wrapper path in this process; callbacks see the plain module."""
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    x, y = _xy()
    plain = _linear()
    training.fit(
        plain,
        x,
        y,
        loss="mse",
        optimizer="sgd",
        batch_size=3,
        epochs=2,
        verbose=0,
        generator=torch.Generator().manual_seed(2),
    )
    module = _linear()
    try:
        ckpt = training.ModelCheckpoint(tmp_path / "w-{epoch}.safetensors")
        stop = training.EarlyStopping(monitor="loss", patience=5, restore_best_weights=True)
        h = training.fit_distributed(
            module,
            x,
            y,
            loss="mse",
            optimizer="sgd",
            batch_size=3,
            epochs=2,
            verbose=0,
            generator=torch.Generator().manual_seed(2),
            callbacks=[ckpt, stop],
        )
        assert dist.is_initialized() and dist.get_world_size() == 1
        assert len(h.history["loss"]) == 2
    finally:
        dist.destroy_process_group()
    assert not stop.wait
    torch.testing.assert_close(module.weight, plain.weight, rtol=0, atol=1e-15)
    saved = load_file(str(tmp_path / "w-2.safetensors"))
    assert saved.keys() == module.state_dict().keys()


def test_output_masks_cross_the_data_parallel_gather(monkeypatch: pytest.MonkeyPatch) -> None:
    """A masked sequence model trains under the DDP wrapper as in one process (the mask of
    every row is gathered with the outputs)."""
    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, (12, 6))
    y = rng.normal(size=(12, 6, 1)).astype(np.float32)

    def model() -> rk.Sequential:
        torch.manual_seed(1)
        return rk.Sequential(
            [
                rk.Input((6,)),
                rk.layers.Embedding(5, 3, mask_zero=True),
                rk.layers.SimpleRNN(2, return_sequences=True),
                rk.layers.Dense(1),
            ]
        )

    kw: dict = {"loss": "mse", "optimizer": "sgd", "batch_size": 4, "epochs": 2, "verbose": 0}
    plain = training.fit(model(), x, y, shuffle=False, **kw)
    try:
        ddp = training.fit_distributed(model(), x, y, shuffle=False, **kw)
    finally:
        dist.destroy_process_group()
    np.testing.assert_allclose(ddp.history["loss"], plain.history["loss"], rtol=1e-6)
