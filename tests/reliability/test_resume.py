"""Issue 7.1: exact resume after a real SIGKILL, plus the resume policies of ``fit``."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import rnnkit as rk
from rnnkit import layers
from rnnkit.training import (
    Callback,
    CheckpointMismatchError,
    EarlyStopping,
    ReduceLROnPlateau,
    fit,
    latest_checkpoint,
    list_checkpoints,
    read_checkpoint,
)

from ._common import (
    TinyNet,
    finish,
    optimizer_snapshot,
    regression,
    same_tensors,
    snapshot,
    start,
)


def _result(out: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    return (
        json.loads((out / "result.json").read_text(encoding="utf-8")),
        load_file(out / "result.safetensors"),
    )


def test_sigkill_during_epoch_4_then_rerun_is_bit_identical(tmp_path: Path) -> None:
    ref_out, run_out, ctl_out = tmp_path / "ref", tmp_path / "run", tmp_path / "control"
    ckpt = tmp_path / "ckpt"
    # the uninterrupted run and the run killed in the middle of epoch 4, side by side
    ref = start("_resume_run.py", ref_out, "-", -1, 0)
    killed = start("_resume_run.py", run_out, ckpt, 3, 0)
    rc_ref, _, err_ref = finish(ref)
    rc_killed, _, err_killed = finish(killed)
    assert rc_ref == 0, err_ref
    assert rc_killed == -signal.SIGKILL, err_killed
    assert [p.name for p in list_checkpoints(ckpt)] == ["epoch-0002", "epoch-0003"]
    assert not (run_out / "result.json").exists()
    control_ckpt = tmp_path / "control-ckpt"
    shutil.copytree(ckpt, control_ckpt)

    # rerun with the same arguments; the control rerun does not restore the RNG states
    rerun = start("_resume_run.py", run_out, ckpt, -1, 0)
    control = start("_resume_run.py", ctl_out, control_ckpt, -1, 1)
    rc_rerun, _, err_rerun = finish(rerun)
    rc_control, _, err_control = finish(control)
    assert rc_rerun == 0, err_rerun
    assert rc_control == 0, err_control

    want, want_t = _result(ref_out)
    got, got_t = _result(run_out)
    ctl, ctl_t = _result(ctl_out)
    assert want["epochs_run"] == ["0", "1", "2", "3", "4", "5"]
    assert got["epochs_run"] == ["0", "1", "2", "3", "3", "4", "5"]  # epoch 4 ran twice
    assert ctl["epochs_run"] == ["3", "4", "5"]
    # weights (last and best), Adam moments and steps, lr schedule, History, CSV, RNG streams
    assert want_t.keys() == got_t.keys()
    for key in want_t:
        assert torch.equal(want_t[key], got_t[key]), key
    for key in want:
        if key != "epochs_run":
            assert got[key] == want[key], key
    assert len(set(want["lr"])) == 1 and want["lr"][0] < 0.02  # the schedule did reduce it
    # the control proves that the comparison can fail
    assert not all(torch.equal(want_t[k], ctl_t[k]) for k in want_t if k.startswith("last/"))
    assert ctl["history"] != want["history"]


def _lstm_model() -> rk.Sequential:
    model = rk.Sequential(
        [rk.Input((6, 3)), layers.LSTM(5, dropout=0.3, recurrent_dropout=0.3), layers.Dense(1)]
    )
    model.compile("adam", "mse")
    return model


def _lstm_run(epochs: int, ckpt: Path | None) -> tuple[rk.Sequential, Any]:
    x, y = regression()
    rk.set_seed(3)
    model = _lstm_model()
    callbacks = [
        ReduceLROnPlateau(monitor="loss", patience=1, min_delta=10.0, factor=0.5),
        EarlyStopping(monitor="val_loss", patience=50),
    ]
    kwargs: dict[str, Any] = {} if ckpt is None else {"checkpoint_dir": ckpt}
    history = model.fit(
        x, y, epochs=epochs, batch_size=8, validation_split=0.25, verbose=0,
        callbacks=callbacks, global_clipnorm=1.0, **kwargs,
    )
    return model, history


def test_model_fit_passes_checkpoint_arguments_and_resumes_an_lstm_exactly(
    tmp_path: Path,
) -> None:
    ref_model, ref_hist = _lstm_run(4, None)
    _lstm_run(2, tmp_path)  # stops after 2 epochs (as if interrupted between epochs)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["epoch-0001", "epoch-0002"]
    model, hist = _lstm_run(4, tmp_path)  # a new process would do the same: new model, rerun
    assert hist.history == ref_hist.history and hist.epoch == [0, 1, 2, 3]
    assert same_tensors(snapshot(model), snapshot(ref_model))
    assert model.optimizer is not None and ref_model.optimizer is not None
    t1, o1 = optimizer_snapshot(model.optimizer)
    t2, o2 = optimizer_snapshot(ref_model.optimizer)
    assert same_tensors(t1, t2) and o1 == o2
    ckpt = read_checkpoint(latest_checkpoint(tmp_path))  # type: ignore[arg-type]
    assert ckpt.epoch == 4 and ckpt.lr == [g["lr"] for g in model.optimizer.param_groups]
    assert ckpt.history is not None and ckpt.history["history"] == ref_hist.history
    # and without the rng restore the same resume differs (the comparison can fail)
    import rnnkit.training.checkpoint.resume as checkpoint

    original = checkpoint.restore_rng_states
    checkpoint.restore_rng_states = lambda state, generator: None
    try:
        shutil.rmtree(tmp_path)
        _lstm_run(2, tmp_path)
        torch.manual_seed(12345)
        model2, hist2 = _lstm_run(4, tmp_path)
    finally:
        checkpoint.restore_rng_states = original
    assert hist2.history != ref_hist.history
    assert not same_tensors(snapshot(model2), snapshot(ref_model))


def _tiny_fit(ckpt: Path, epochs: int = 3, **kwargs: Any) -> tuple[TinyNet, Any]:
    x, y = regression(n=24)
    torch.manual_seed(0)
    module = TinyNet()
    opt = torch.optim.Adam(module.parameters(), lr=0.01)
    kwargs.setdefault("verbose", 0)
    hist = fit(module, x, y, loss="mse", optimizer=opt, epochs=epochs, batch_size=8,
               checkpoint_dir=ckpt, **kwargs)
    return module, hist


def test_resume_policies_and_keep_last(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"expected a checkpoint in .*resume=True"):
        _tiny_fit(tmp_path / "a", resume=True)
    _tiny_fit(tmp_path / "a", epochs=5, keep_last=3)
    assert [p.name for p in list_checkpoints(tmp_path / "a")] == [
        "epoch-0003", "epoch-0004", "epoch-0005"
    ]
    with pytest.raises(ValueError, match=r"expected no checkpoint .*resume=False.*epoch-0005"):
        _tiny_fit(tmp_path / "a", resume=False)
    module, hist = _tiny_fit(tmp_path / "a", epochs=5, resume=True)  # already done: no epoch
    assert hist.epoch == [0, 1, 2, 3, 4] and len(hist.history["loss"]) == 5
    ckpt = read_checkpoint(tmp_path / "a" / "epoch-0005")
    assert same_tensors(snapshot(module), ckpt.weights)
    with pytest.raises(ValueError, match="expected resume to be 'auto', True or False"):
        _tiny_fit(tmp_path / "b", resume="yes")
    with pytest.raises(ValueError, match="expected keep_last >= 1"):
        _tiny_fit(tmp_path / "b", keep_last=0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="expected checkpoint_dir to be a directory"):
        _tiny_fit(tmp_path / "file")
    with pytest.raises(CheckpointMismatchError, match="shuffle=True"):
        _tiny_fit(tmp_path / "a", epochs=6, shuffle=False)


def test_a_run_stopped_early_stays_stopped_on_resume(tmp_path: Path) -> None:
    class StopAt(Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if epoch == 1:
                self.stop()

    _, hist = _tiny_fit(tmp_path, epochs=6, callbacks=[StopAt()])
    assert hist.epoch == [0, 1]
    ckpt = read_checkpoint(latest_checkpoint(tmp_path))  # type: ignore[arg-type]
    assert ckpt.stopped and ckpt.epoch == 2
    _, hist = _tiny_fit(tmp_path, epochs=6, callbacks=[StopAt()])
    assert hist.epoch == [0, 1]
    assert [p.name for p in list_checkpoints(tmp_path)] == ["epoch-0001", "epoch-0002"]


def test_resume_refuses_other_callbacks(tmp_path: Path) -> None:
    _tiny_fit(tmp_path, epochs=2, callbacks=[EarlyStopping(monitor="loss", patience=9)])
    x, y = regression(n=24)
    module = TinyNet()
    before = snapshot(module)
    opt = torch.optim.Adam(module.parameters(), lr=0.01)
    with pytest.raises(CheckpointMismatchError, match=r"state\.json.*callbacks"):
        fit(module, x, y, loss="mse", optimizer=opt, epochs=3, verbose=0,
            checkpoint_dir=tmp_path, callbacks=[ReduceLROnPlateau(monitor="loss")])
    assert same_tensors(before, snapshot(module))
    with pytest.raises(CheckpointMismatchError, match=r"KerasAdam optimizer, got Adam"):
        fit(module, x, y, loss="mse", optimizer="adam", epochs=3, verbose=0,
            checkpoint_dir=tmp_path, callbacks=[EarlyStopping(monitor="loss", patience=9)])
    assert same_tensors(before, snapshot(module))


def test_csv_logger_is_restored_to_the_checkpoint(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"

    class Boom(Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if epoch == 2 and self.params.get("epochs") == 4:
                raise KeyboardInterrupt  # after CSVLogger wrote epoch 3's row, before the save

    cbs = lambda: [rk.callbacks.CSVLogger(log), Boom()]  # noqa: E731
    ref_log = tmp_path / "ref.csv"
    _tiny_fit(tmp_path / "ref", epochs=5, callbacks=[rk.callbacks.CSVLogger(ref_log), Boom()])
    with pytest.raises(KeyboardInterrupt):
        _tiny_fit(tmp_path / "ck", epochs=4, callbacks=cbs())
    assert log.read_text().count("\n") == 4  # header + 3 rows, the last one not checkpointed
    _tiny_fit(tmp_path / "ck", epochs=5, callbacks=cbs())
    assert log.read_text() == ref_log.read_text()
    assert np.isfinite(np.loadtxt(log, delimiter=",", skiprows=1)).all()
