"""Hostile Keras files (``.h5``, ``.keras``): HDF5 links, virtual and external datasets, forged
sizes, wrong dtypes, NaN. Each is refused with a KerasImportError (a ModelFileError) before
anything large is allocated. The files are written with h5py (Keras is not needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import rnnkit as rk
from rnnkit.errors import ModelFileError
from rnnkit.io import KerasImportError

from ._hostile import MAX_EXTRA_RSS, expect_refusal, forge_zip_size, nested_json, peak_rss_of
from ._keras_files import h5_config, h5_weights, keras_zip, write_h5


def _kernel(f: h5py.File) -> tuple[h5py.Group, str]:
    return f["model_weights/lstm/lstm/lstm_cell"], "kernel:0"


def test_the_crafted_file_loads(tmp_path: Path) -> None:
    write_h5(tmp_path / "ok.h5").close()
    model = rk.load_keras(tmp_path / "ok.h5")
    assert model.count_params() == 4 * 4 * (2 + 4 + 1) + 5


def test_external_link_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as s:
        s["data"] = np.ones((2, 16), np.float32)
    with write_h5(tmp_path / "bad.h5") as f:
        g, name = _kernel(f)
        del g[name]
        g[name] = h5py.ExternalLink(str(secret), "/data")
    with pytest.raises(KerasImportError, match="external link"):
        rk.load_keras(tmp_path / "bad.h5")


@pytest.mark.parametrize("target", ["self", "elsewhere"])
def test_soft_links_and_loops_are_refused(tmp_path: Path, target: str) -> None:
    with write_h5(tmp_path / "bad.h5") as f:
        g, name = _kernel(f)
        path = g.name + "/" + name
        del g[name]
        g[name] = h5py.SoftLink(path if target == "self" else "/model_weights/dense")
    with pytest.raises(KerasImportError, match="soft link"):
        rk.load_keras(tmp_path / "bad.h5")


def test_virtual_dataset_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "source.h5"
    with h5py.File(source, "w") as s:
        s["data"] = np.ones((2, 16), np.float32)
    with write_h5(tmp_path / "bad.h5") as f:
        g, name = _kernel(f)
        del g[name]
        layout = h5py.VirtualLayout(shape=(2, 16), dtype=np.float32)
        layout[:] = h5py.VirtualSource(str(source), "data", shape=(2, 16))
        g.create_virtual_dataset(name, layout)
    with pytest.raises(KerasImportError, match="virtual"):
        rk.load_keras(tmp_path / "bad.h5")


def test_external_raw_storage_is_refused(tmp_path: Path) -> None:
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.ones((2, 16), np.float32).tobytes())
    with write_h5(tmp_path / "bad.h5") as f:
        g, name = _kernel(f)
        del g[name]
        g.create_dataset(name, shape=(2, 16), dtype=np.float32, external=[(str(raw), 0, 128)])
    with pytest.raises(KerasImportError, match="external raw storage"):
        rk.load_keras(tmp_path / "bad.h5")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda g, n: g.create_dataset(n, data=np.zeros((2, 16), np.int64)), "float16/32/64"),
        (lambda g, n: g.create_dataset(n, data=np.zeros((2, 16), np.float32), compression="gzip"),
         "stored bytes"),
        (lambda g, n: g.create_group(n), "expected an HDF5 dataset"),
        (lambda g, n: g.create_dataset(n, shape=(2, 16), dtype=np.float32, chunks=(1, 16)),
         "stored bytes"),
    ],
    ids=["int64", "compressed", "group", "unallocated"],
)
def test_datasets_that_are_not_stored_floats_are_refused(
    tmp_path: Path, make: Any, match: str
) -> None:
    with write_h5(tmp_path / "bad.h5") as f:
        g, name = _kernel(f)
        del g[name]
        make(g, name)
    with pytest.raises(KerasImportError, match=match):
        rk.load_keras(tmp_path / "bad.h5")


def test_nonfinite_weights_are_refused_unless_asked(tmp_path: Path) -> None:
    arrays = h5_weights()
    arrays["dense"][0][1][0, 0] = np.inf
    write_h5(tmp_path / "bad.h5", arrays=arrays).close()
    with pytest.raises(KerasImportError, match="allow_nonfinite"):
        rk.load_keras(tmp_path / "bad.h5")
    model = rk.load_keras(tmp_path / "bad.h5", allow_nonfinite=True)
    assert not np.isfinite(model.get_weights()[3]).all()


@pytest.mark.slow
def test_huge_sparse_dataset_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    """An 18 KB file declaring a 30000 x 120000 kernel (and a config that matches it)."""
    units = 30000
    with write_h5(tmp_path / "bad.h5", config=h5_config(units), arrays={}) as f:
        lg = f["model_weights"].create_group("lstm")
        names = ["kernel", "recurrent_kernel", "bias"]
        lg.attrs["weight_names"] = [f"lstm/lstm_cell/{n}:0".encode() for n in names]
        for n, shape in zip(names, [(2, 4 * units), (units, 4 * units), (4 * units,)]):
            lg.create_dataset(f"lstm/lstm_cell/{n}:0", shape=shape, dtype=np.float32,
                              chunks=True)
    assert (tmp_path / "bad.h5").stat().st_size < 100_000
    rss, outcome = peak_rss_of(expect_refusal(f"rnnkit.load_keras({str(tmp_path / 'bad.h5')!r})",
                                              "rnnkit.errors.ModelFileError"))
    assert outcome.startswith("REFUSED KerasImportError") and "stored bytes" in outcome, outcome
    assert rss < MAX_EXTRA_RSS, f"{rss / 2**20:.0f} MiB"


def test_huge_units_with_small_weights_are_refused(tmp_path: Path) -> None:
    write_h5(tmp_path / "bad.h5", config=h5_config(8000)).close()
    with pytest.raises(KerasImportError, match="shape"):
        rk.load_keras(tmp_path / "bad.h5")


def test_deeply_nested_config_is_refused(tmp_path: Path) -> None:
    with write_h5(tmp_path / "bad.h5") as f:
        f.attrs["model_config"] = nested_json(50000).decode()
    with pytest.raises(KerasImportError, match="nested|unparsable"):
        rk.load_keras(tmp_path / "bad.h5")


@pytest.mark.slow
def test_keras_zip_with_a_forged_weights_member_size(tmp_path: Path) -> None:
    keras_zip(tmp_path / "ok.keras")
    assert rk.load_keras(tmp_path / "ok.keras").count_params() == 117
    keras_zip(tmp_path / "bad.keras", weights_member=b"\0" * 200_000)
    forge_zip_size(tmp_path / "bad.keras", "model.weights.h5", 1 << 30)
    rss, outcome = peak_rss_of(expect_refusal(
        f"rnnkit.load_keras({str(tmp_path / 'bad.keras')!r})", "rnnkit.errors.ModelFileError"))
    assert outcome.startswith("REFUSED KerasImportError"), outcome
    assert rss < MAX_EXTRA_RSS, f"{rss / 2**20:.0f} MiB"
    forge_zip_size(tmp_path / "bad.keras", "model.weights.h5", 30 << 20)  # within the zip bound
    with pytest.raises(ModelFileError, match="model.weights.h5 of at most"):
        rk.load_keras(tmp_path / "bad.keras")


def test_sha256_is_compared_when_given(tmp_path: Path) -> None:
    import hashlib

    write_h5(tmp_path / "ok.h5").close()
    digest = hashlib.sha256((tmp_path / "ok.h5").read_bytes()).hexdigest()
    rk.load_keras(tmp_path / "ok.h5", sha256=digest)
    data = bytearray((tmp_path / "ok.h5").read_bytes())
    data[-10] ^= 1  # a bit flip HDF5 itself cannot detect
    (tmp_path / "ok.h5").write_bytes(bytes(data))
    with pytest.raises(KerasImportError, match="SHA-256"):
        rk.load_keras(tmp_path / "ok.h5", sha256=digest)
    with pytest.raises(ValueError, match="64 hex digits"):
        rk.load_keras(tmp_path / "ok.h5", sha256="abc")
