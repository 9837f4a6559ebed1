"""Issue 7.3: damaged or foreign files give named errors, and nothing in memory changes."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnkit as rk
from rnnkit import _archive, layers
from rnnkit.errors import ModelFileError
from rnnkit.training import (
    CheckpointCorruptError,
    CheckpointError,
    CheckpointMismatchError,
    fit,
    latest_checkpoint,
    load_checkpoint,
)
from rnnkit.training import checkpoint as ck

from ._common import TinyNet, optimizer_snapshot, regression, same_tensors, snapshot

FILES = [ck.WEIGHTS, ck.OPTIMIZER, ck.STATE_TENSORS, ck.STATE, ck.MANIFEST]


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint directory written by fit (TinyNet, Adam, 2 epochs)."""
    root = tmp_path_factory.mktemp("good")
    x, y = regression(n=16)
    torch.manual_seed(0)
    module = TinyNet()
    fit(module, x, y, loss="mse", optimizer=torch.optim.Adam(module.parameters()), epochs=2,
        batch_size=8, verbose=0, checkpoint_dir=root)
    return root


def _rehash(folder: Path) -> None:
    """Make the manifest agree with the files again (a consistent but wrong checkpoint)."""
    manifest = json.loads((folder / ck.MANIFEST).read_text())
    for name in manifest["files"]:
        data = (folder / name).read_bytes()
        manifest["files"][name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (folder / ck.MANIFEST).write_text(json.dumps(manifest))


def _copy(good: Path, tmp_path: Path) -> Path:
    root = tmp_path / "ckpt"
    shutil.copytree(good, root)
    return root


def _newest(root: Path) -> Path:
    path = latest_checkpoint(root)
    assert path is not None
    return path


def _check_refused(root: Path, error: type[CheckpointError], file: str, reason: str) -> None:
    """Both load_checkpoint and a resuming fit raise ``error`` naming ``file`` and ``reason``,
    and leave the module, the optimizer and the RNG exactly as they were."""
    x, y = regression(n=16)
    torch.manual_seed(1)
    module = TinyNet()
    opt = torch.optim.Adam(module.parameters(), lr=0.5)
    fit(module, x, y, loss="mse", optimizer=opt, epochs=1, verbose=0)  # some optimizer state
    weights, (opt_tensors, opt_rest) = snapshot(module), optimizer_snapshot(opt)
    rng = torch.get_rng_state()
    with pytest.raises(error) as info:
        load_checkpoint(_newest(root), module, opt)
    assert info.value.path.endswith(file) and reason in info.value.reason
    assert file in str(info.value) and reason in str(info.value)
    with pytest.raises(error, match=reason.replace("(", r"\(").replace(")", r"\)")):
        fit(module, x, y, loss="mse", optimizer=opt, epochs=4, verbose=0, checkpoint_dir=root)
    assert same_tensors(weights, snapshot(module))
    t, rest = optimizer_snapshot(opt)
    assert same_tensors(t, opt_tensors) and rest == opt_rest
    assert torch.equal(rng, torch.get_rng_state())


@pytest.mark.parametrize("name", [ck.WEIGHTS, ck.OPTIMIZER, ck.STATE])
@pytest.mark.parametrize("where", ["empty", "1 byte", "8 bytes", "half", "all but 1"])
def test_truncated_files(good: Path, tmp_path: Path, name: str, where: str) -> None:
    root = _copy(good, tmp_path)
    path = _newest(root) / name
    data = path.read_bytes()
    cut = {"empty": 0, "1 byte": 1, "8 bytes": 8, "half": len(data) // 2,
           "all but 1": len(data) - 1}[where]
    path.write_bytes(data[:cut])
    _check_refused(root, CheckpointCorruptError, name, "truncated")


@pytest.mark.parametrize("name", [ck.WEIGHTS, ck.OPTIMIZER, ck.STATE_TENSORS, ck.STATE])
def test_flipped_byte(good: Path, tmp_path: Path, name: str) -> None:
    root = _copy(good, tmp_path)
    path = _newest(root) / name
    data = bytearray(path.read_bytes())
    data[len(data) * 2 // 3] ^= 0x10
    path.write_bytes(bytes(data))
    _check_refused(root, CheckpointCorruptError, name, "SHA-256 mismatch")


@pytest.mark.parametrize("name", FILES)
def test_missing_file(good: Path, tmp_path: Path, name: str) -> None:
    root = _copy(good, tmp_path)
    (_newest(root) / name).unlink()
    _check_refused(root, CheckpointCorruptError, name, "missing file")


@pytest.mark.parametrize(
    ("name", "edit", "reason"),
    [
        (ck.WEIGHTS, lambda b: b"\x08" + b[1:], "not a safetensors file"),
        (ck.STATE, lambda b: b.replace(b'"epoch": 2', b'"epoch": "2"'), "expected epoch 2"),
        (ck.STATE, lambda b: b"[1, 2, 3]", "expected format"),
        (ck.STATE, lambda b: b"\xff\xfe{", "not valid JSON"),
        (ck.STATE, lambda b: b.replace(b'"__tensor__"', b'"__pickle__"'), "expected a known tag"),
        (ck.MANIFEST, lambda b: b"{}", "expected format"),
        (ck.MANIFEST, lambda b: b"NaN", "not valid JSON"),
    ],
)
def test_consistent_but_wrong_content(
    good: Path, tmp_path: Path, name: str, edit: Callable[[bytes], bytes], reason: str
) -> None:
    root = _copy(good, tmp_path)
    path = _newest(root) / name
    path.write_bytes(edit(path.read_bytes()))
    if name != ck.MANIFEST:
        _rehash(_newest(root))
    _check_refused(root, CheckpointCorruptError, name, reason)


def test_oversized_file_is_not_read_whole(good: Path, tmp_path: Path) -> None:
    root = _copy(good, tmp_path)
    with open(_newest(root) / ck.WEIGHTS, "ab") as f:
        f.write(b"\0" * 1000)
    _check_refused(root, CheckpointCorruptError, ck.WEIGHTS, "longer than written")


def test_checkpoint_of_another_architecture(good: Path, tmp_path: Path) -> None:
    root = _copy(good, tmp_path)
    x, y = regression(n=16)
    module = TinyNet(hidden=5)  # other shapes, same names
    before = snapshot(module)
    with pytest.raises(CheckpointMismatchError, match=r"weights\.safetensors.*shape") as info:
        load_checkpoint(_newest(root), module)
    assert info.value.path.endswith(ck.WEIGHTS)
    with pytest.raises(CheckpointMismatchError, match="another architecture"):
        fit(module, x, y, loss="mse", optimizer="adam", verbose=0, checkpoint_dir=root)
    assert same_tensors(before, snapshot(module))
    other = torch.nn.Sequential(torch.nn.Linear(3, 1))
    with pytest.raises(CheckpointMismatchError, match="missing .*unexpected"):
        load_checkpoint(_newest(root), other)


def test_checkpoint_of_another_optimizer(good: Path, tmp_path: Path) -> None:
    module = TinyNet()
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    with pytest.raises(CheckpointMismatchError, match=r"optimizer\.safetensors.*SGD.*got Adam"):
        load_checkpoint(_newest(good), module, opt)
    opt2 = torch.optim.Adam(list(module.parameters())[:2])
    with pytest.raises(CheckpointMismatchError, match="parameters in param group 0"):
        load_checkpoint(_newest(good), module, opt2)


def test_rnnkit_model_lstm_checkpoint_into_gru(tmp_path: Path) -> None:
    x, y = regression(n=16)
    lstm = rk.Sequential([rk.Input((6, 3)), layers.LSTM(4), layers.Dense(1)])
    lstm.compile("adam", "mse")
    lstm.fit(x, y, epochs=1, verbose=0, checkpoint_dir=tmp_path)
    gru = rk.Sequential([rk.Input((6, 3)), layers.GRU(4), layers.Dense(1)])
    gru.compile("adam", "mse")
    before = snapshot(gru)
    with pytest.raises(CheckpointMismatchError, match=r"weights\.safetensors.*kernel"):
        gru.fit(x, y, epochs=2, verbose=0, checkpoint_dir=tmp_path)
    assert same_tensors(before, snapshot(gru))


# --------------------------------------------------------------------------- model files
@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "m.rnnkit"
    rk.Sequential([rk.Input((5, 2)), layers.GRU(3), layers.Dense(1)]).save(path)
    return path


@pytest.mark.parametrize("cut", [0, 1, 30, 0.5, -1])
def test_truncated_model_file(model_file: Path, tmp_path: Path, cut: float) -> None:
    data = model_file.read_bytes()
    n = int(len(data) * cut) if isinstance(cut, float) else (cut % len(data))
    bad = tmp_path / "bad.rnnkit"
    bad.write_bytes(data[:n])
    with pytest.raises(ModelFileError, match="model file .*bad.rnnkit") as info:
        rk.load_model(bad)
    assert info.value.path == str(bad) and info.value.reason


def test_flipped_byte_in_model_file(model_file: Path, tmp_path: Path) -> None:
    data = bytearray(model_file.read_bytes())
    with zipfile.ZipFile(model_file) as z:
        offset = z.getinfo(_archive.WEIGHTS).header_offset + 100  # inside the weights
    data[offset] ^= 0x01
    bad = tmp_path / "bad.rnnkit"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"bad\.rnnkit.*(CRC|Error)"):
        rk.load_model(bad)


def test_missing_model_file_and_members(model_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="no such file") as info:
        rk.load_model(tmp_path / "nope.rnnkit")
    assert info.value.path == str(tmp_path / "nope.rnnkit")
    bad = tmp_path / "bad.rnnkit"
    with zipfile.ZipFile(model_file) as src, zipfile.ZipFile(bad, "w") as dst:
        dst.writestr(_archive.CONFIG, src.read(_archive.CONFIG))
    with pytest.raises(ModelFileError, match="expected exactly the members"):
        rk.load_model(bad)


def test_model_file_of_another_architecture(model_file: Path, tmp_path: Path) -> None:
    config, tensors = _archive.read_archive(model_file)
    tensors = {k: torch.zeros(tuple(np.array(v.shape) + 1)) for k, v in tensors.items()}
    bad = tmp_path / "bad.rnnkit"
    _archive.write_archive(bad, config, tensors)
    with pytest.raises(ModelFileError, match=r"bad\.rnnkit.*shape"):
        rk.load_model(bad)
