"""Hostile ``.rnnkit`` model files: refused with ModelFileError, in bounded memory and time.

Each file is built small (a forged size field, a tiny config naming a huge layer): what it
declares is never allocated. Peak memory is measured in a subprocess (ru_maxrss).
"""

from __future__ import annotations

import json
import os
import threading
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as st_save

import rnnkit as rk
from rnnkit import _archive, layers
from rnnkit.errors import ModelFileError, RnnkitError

from ._hostile import (
    MAX_EXTRA_RSS,
    expect_refusal,
    forge_zip_size,
    json_bytes,
    nested_json,
    peak_rss_of,
    rewrite_zip,
)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "m.rnnkit"
    rk.Sequential([rk.Input((5, 2)), layers.LSTM(4), layers.Dense(1)]).save(path)
    return path


def _config(path: Path) -> dict:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read(_archive.CONFIG))


def _refused_cheaply(path: Path, match: str) -> None:
    rss, outcome = peak_rss_of(expect_refusal(f"rnnkit.load_model({str(path)!r})",
                                              "rnnkit.errors.ModelFileError"))
    assert outcome.startswith("REFUSED ModelFileError"), outcome
    assert match in outcome, outcome
    assert rss < MAX_EXTRA_RSS, f"{rss / 2**20:.0f} MiB above import for {outcome}"


def test_member_declaring_1gib_is_refused_before_reading(model_file: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.rnnkit"
    bad.write_bytes(model_file.read_bytes())
    forge_zip_size(bad, _archive.WEIGHTS, 1 << 30)
    _refused_cheaply(bad, "expand to at most")


@pytest.mark.parametrize(
    ("member", "match"),
    [(_archive.WEIGHTS, "from its header"), (_archive.CONFIG, "at most 4194304 bytes")],
)
def test_member_size_is_checked_against_what_it_declares(
    model_file: Path, tmp_path: Path, member: str, match: str
) -> None:
    bad = tmp_path / "bad.rnnkit"
    bad.write_bytes(model_file.read_bytes())
    forge_zip_size(bad, member, 60 << 20)  # within the zip-bomb bound: the content decides
    with pytest.raises(ModelFileError, match=match):
        rk.load_model(bad)


def test_extra_member_is_refused_unread(model_file: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.rnnkit"
    rewrite_zip(model_file, bad, {"extra.bin": b"\0" * 1000})
    forge_zip_size(bad, "extra.bin", 1 << 30)
    _refused_cheaply(bad, "expected")


def test_huge_units_are_refused_before_any_weight_is_allocated(
    model_file: Path, tmp_path: Path
) -> None:
    config = _config(model_file)
    config["model"]["layers"][0]["config"]["units"] = 8000  # 256M parameters, ~1 GiB
    bad = tmp_path / "bad.rnnkit"
    rewrite_zip(model_file, bad, {_archive.CONFIG: json_bytes(config)})
    _refused_cheaply(bad, "shape")


def test_huge_input_shape_is_refused_before_any_weight_is_allocated(
    model_file: Path, tmp_path: Path
) -> None:
    config = _config(model_file)
    config["model"]["input"]["shape"] = [5, 10**9]  # an LSTM kernel of 4e9 floats
    bad = tmp_path / "bad.rnnkit"
    rewrite_zip(model_file, bad, {_archive.CONFIG: json_bytes(config)})
    _refused_cheaply(bad, "shape")


def test_thousands_of_layers_are_refused_by_count(model_file: Path, tmp_path: Path) -> None:
    config = _config(model_file)
    dense = config["model"]["layers"][1]
    config["model"]["layers"] = [dense] * 5000
    bad = tmp_path / "bad.rnnkit"
    rewrite_zip(model_file, bad, {_archive.CONFIG: json_bytes(config)})
    with pytest.raises(ModelFileError, match="at most 4096 layers"):
        rk.load_model(bad)


@pytest.mark.parametrize("depth", [100, 100000])
def test_deeply_nested_config_is_refused(model_file: Path, tmp_path: Path, depth: int) -> None:
    bad = tmp_path / "bad.rnnkit"
    rewrite_zip(model_file, bad, {_archive.CONFIG: nested_json(depth)})
    with pytest.raises(ModelFileError, match="nested|unparsable"):
        rk.load_model(bad)


def _with_weights(model_file: Path, bad: Path, change: dict[str, torch.Tensor]) -> None:
    config, tensors = _archive.read_archive(model_file)
    rewrite_zip(model_file, bad, {_archive.WEIGHTS: st_save({**tensors, **change})})


def test_wrong_dtype_and_nonfinite_weights(model_file: Path, tmp_path: Path) -> None:
    _, tensors = _archive.read_archive(model_file)
    name = next(iter(tensors))
    bad = tmp_path / "bad.rnnkit"
    _with_weights(model_file, bad, {name: tensors[name].to(torch.int64)})
    with pytest.raises(ModelFileError, match="dtype torch.float32, got shape .* torch.int64"):
        rk.load_model(bad)
    _with_weights(model_file, bad, {name: tensors[name].double()})
    with pytest.raises(ModelFileError, match="float64"):
        rk.load_model(bad)
    nan = tensors[name].clone()
    nan.view(-1)[0] = float("nan")
    _with_weights(model_file, bad, {name: nan})
    with pytest.raises(ModelFileError, match="finite.*allow_nonfinite"):
        rk.load_model(bad)
    loaded = rk.load_model(bad, allow_nonfinite=True)  # explicitly asked for
    assert torch.isnan(loaded.state_dict()[name]).any()


def test_safetensors_header_inconsistent_with_member_size(model_file: Path, tmp_path: Path) -> None:
    _, tensors = _archive.read_archive(model_file)
    data = bytearray(st_save(tensors))
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    key = next(k for k in header if k != "__metadata__")
    header[key]["shape"] = [100000, 100000]  # declares 40 GB in a few bytes
    raw = json.dumps(header).encode()
    forged = len(raw).to_bytes(8, "little") + raw + bytes(data[8 + n :])
    bad = tmp_path / "bad.rnnkit"
    rewrite_zip(model_file, bad, {_archive.WEIGHTS: forged})
    _refused_cheaply(bad, "bytes for tensor")


def test_sha256_is_compared_when_given(model_file: Path, tmp_path: Path) -> None:
    import hashlib

    digest = hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert isinstance(rk.load_model(model_file, sha256=digest.upper()), rk.Sequential)
    with pytest.raises(ModelFileError, match="SHA-256"):
        rk.load_model(model_file, sha256="0" * 64)


def test_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "m.rnnkit"
    os.mkfifo(fifo)
    result: list[BaseException | None] = []

    def load() -> None:
        try:
            rk.load_model(fifo)
            result.append(None)
        except BaseException as e:  # noqa: BLE001 - recorded and checked below
            result.append(e)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(20)
    if worker.is_alive():  # unblock the reader so the test run can end, then fail
        with open(fifo, "wb", buffering=0) as w:
            w.write(b"x")
        pytest.fail("load_model blocked on a FIFO")
    assert isinstance(result[0], ModelFileError) and "FIFO" in str(result[0])
    assert isinstance(result[0], RnnkitError)


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="folder"):
        rk.load_model(tmp_path)


# --------------------------------------------------------------------------- checkpoints
@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    from rnnkit.training import fit, latest_checkpoint

    from ._common import TinyNet, regression

    x, y = regression()
    fit(TinyNet(), x, y, loss="mse", optimizer="adam", epochs=1, verbose=0,
        checkpoint_dir=tmp_path / "ckpt")
    found = latest_checkpoint(tmp_path / "ckpt")
    assert found is not None
    return found


@pytest.mark.parametrize("size", [10**15, 2**70])
def test_checkpoint_manifest_claiming_huge_sizes(checkpoint: Path, size: int) -> None:
    from rnnkit.training import CheckpointCorruptError, read_checkpoint

    manifest = json.loads((checkpoint / "manifest.json").read_text())
    manifest["files"]["weights.safetensors"]["size"] = size
    (checkpoint / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointCorruptError, match=f"expected {size} bytes"):
        read_checkpoint(checkpoint)


def test_fifo_in_place_of_a_checkpoint_file(checkpoint: Path) -> None:
    from rnnkit.training import CheckpointCorruptError, read_checkpoint

    weights = checkpoint / "weights.safetensors"
    weights.unlink()
    os.mkfifo(weights)
    result: list[BaseException | None] = []

    def read() -> None:
        try:
            read_checkpoint(checkpoint)
            result.append(None)
        except BaseException as e:  # noqa: BLE001 - checked below
            result.append(e)

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(20)
    if worker.is_alive():
        with open(weights, "wb", buffering=0) as w:
            w.write(b"x")
        pytest.fail("read_checkpoint blocked on a FIFO")
    assert isinstance(result[0], CheckpointCorruptError) and "FIFO" in str(result[0])
    assert isinstance(result[0], RnnkitError)
