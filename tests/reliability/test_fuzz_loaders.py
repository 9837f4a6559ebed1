"""Each loader raises only its documented error class, for any bytes (Hypothesis).

Mutations of a valid file: random bytes, truncations, bit flips, and structural ones: JSON
values swapped for other types or deep nesting, zip members dropped, added, renamed or
replaced, HDF5 objects deleted, retyped, relinked or given odd attributes. A loader may load the
mutated file or refuse it with its class (:class:`ModelFileError` for ``load_model`` and
``load_keras``, :class:`DataFileError` for the data readers); anything else, or a call that
runs past :data:`TIME_LIMIT_S`, fails. Derandomized, with few examples per loader: ~1 minute.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import signal
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnkit as rk
from rnnkit import _archive, layers
from rnnkit.data import read_npy, read_npz, read_npz_arrays, read_text, read_ts
from rnnkit.errors import ConfigFileError, DataFileError, ModelFileError
from rnnkit.tasks import load_config
from rnnkit.training import CheckpointError, fit, latest_checkpoint, read_checkpoint

from ._common import TinyNet, regression
from ._keras_files import keras3_config, keras_zip, write_h5

TIME_LIMIT_S = 20
FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


class Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def handler(signum: int, frame: Any) -> None:
        raise Hang(f"no result after {seconds} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def only_raises(error: type[Exception], fn: Callable[[Path], Any], path: Path) -> None:
    try:
        with time_limit(TIME_LIMIT_S):
            fn(path)
    except error as e:
        assert e.path is not None and str(path) in str(e), e  # names the file
    except Hang:
        raise AssertionError(f"{fn.__name__} hung on {path.name}") from None
    except Exception as e:
        raise AssertionError(f"{fn.__name__} raised {type(e).__name__}: {e}") from e


# --------------------------------------------------------------------------- byte mutations
def byte_mutations(data: bytes) -> st.SearchStrategy[bytes]:
    n = len(data)
    flips = st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 7)), min_size=1,
                     max_size=4)
    return st.one_of(
        st.binary(max_size=300),
        st.integers(0, n - 1).map(lambda k: data[:k]),
        flips.map(lambda fs: _flip(data, fs)),
        st.tuples(st.integers(0, n - 1), st.binary(min_size=1, max_size=16)).map(
            lambda t: data[: t[0]] + t[1] + data[t[0] + len(t[1]) :]),
    )


def _flip(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for at, bit in flips:
        out[at] ^= 1 << bit
    return bytes(out)


# --------------------------------------------------------------------------- JSON mutations
HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 3), st.just(2**70), st.just(10**6),
    st.just(-(2**63)), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4),
    st.just([]), st.just({}), st.just([[[[[]]]]]), st.just({"class_name": "Dense"}),
    st.just({"class_name": "LSTM", "config": {"units": 10**9}}), st.just("../../etc/passwd"),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def mutate_json(data: st.DataObject, value: Any) -> Any:
    paths = _paths(value)[1:]
    path = data.draw(st.sampled_from(paths))
    new = data.draw(HOSTILE)
    doc = json.loads(json.dumps(value))
    node = doc
    for key in path[:-1]:
        node = node[key]
    if data.draw(st.booleans()) and isinstance(node, dict):
        del node[path[-1]]
    else:
        node[path[-1]] = new
    return doc


# --------------------------------------------------------------------------- zip mutations
def mutate_zip(data: st.DataObject, src: Path, dst: Path) -> None:
    with zipfile.ZipFile(src) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    name = data.draw(st.sampled_from(sorted(members)))
    kind = data.draw(st.sampled_from(["drop", "duplicate", "rename", "extra", "garbage",
                                      "stored", "json"]))
    items = list(members.items())
    if kind == "drop":
        items = [(n, b) for n, b in items if n != name]
    elif kind == "duplicate":
        items.append((name, members[name]))
    elif kind == "rename":
        items = [("../" + n if n == name else n, b) for n, b in items]
    elif kind == "extra":
        items.append((data.draw(st.sampled_from(["x.bin", "/abs", "a/../../b"])), b"\0" * 100))
    elif kind == "garbage":
        items = [(n, data.draw(st.binary(max_size=64)) if n == name else b) for n, b in items]
    elif kind == "json" and name.endswith(".json"):
        doc = mutate_json(data, json.loads(members[name]))
        items = [(n, json.dumps(doc).encode() if n == name else b) for n, b in items]
    method = zipfile.ZIP_STORED if kind == "stored" else zipfile.ZIP_DEFLATED
    with warnings.catch_warnings(), zipfile.ZipFile(dst, "w", compression=method) as z:
        warnings.simplefilter("ignore")  # "Duplicate name"
        for n, b in items:
            z.writestr(n, b)


# --------------------------------------------------------------------------- text formats
TS = ("# a toy\n@problemName toy\n@univariate false\n@dimensions 2\n@equalLength false\n"
      "@classLabel true up down\n@data\n1,2.5,?:3,4,5:up\n-1e3,2:0.5,6:down\n")
TOML = ('task = "classifier"\n[data]\ndataset = "activity"\n[model]\ncell = "gru"\n'
        "units = [8, 4]\ndropout = 0.1\n[training]\nepochs = 2\nbatch_size = 64\n")
TOKENS = st.sampled_from(["?", "nan", "inf", "1e999", "-0", "0x10", "1_0", ":", ",", ",,", "(",
                          ")", "@data", "@classLabel true", "@dimensions 99999999999", "\n",
                          "\r", "\x00", "\u2028", "[", "]", "{", "}", "=", '"', "[[x]]",
                          "a.b.c.d.e", "'''", "#", "é", "9" * 400, "a" * 300])


def mutate_text(data: st.DataObject, text: str) -> str:
    """Tokens of the format inserted, deleted or repeated (up to 5000 times) at random places."""
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        kind = data.draw(st.sampled_from(["insert", "delete", "repeat"]))
        if kind == "insert":
            text = text[:at] + data.draw(TOKENS) + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 8)):]
        else:
            text = text[:at] + data.draw(TOKENS) * data.draw(st.integers(2, 5000)) + text[at:]
    return text


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("valid")
    rk.set_seed(0)
    model = rk.Sequential([rk.Input((5, 2)), layers.Bidirectional(layers.GRU(3)),
                           layers.Dense(2)])
    model.save(root / "m.rnnkit")
    write_h5(root / "m.h5").close()
    keras_zip(root / "m.keras")
    x = np.random.default_rng(0).normal(size=(4, 5, 2)).astype(np.float32)
    np.save(root / "x.npy", x)
    np.savez_compressed(root / "d.npz", X=x, y=np.arange(4))
    (root / "t.txt").write_text("hello, wörld\n", encoding="utf-8")
    (root / "s.ts").write_text(TS, encoding="utf-8")
    (root / "c.toml").write_text(TOML, encoding="utf-8")
    return {p.suffix: p for p in root.iterdir()}


LOADERS: dict[str, tuple[Callable[[Path], Any], type[Exception]]] = {
    ".rnnkit": (rk.load_model, ModelFileError),
    ".h5": (rk.load_keras, ModelFileError),
    ".keras": (rk.load_keras, ModelFileError),
    ".npy": (read_npy, DataFileError),
    ".npz": (read_npz, DataFileError),
    ".txt": (read_text, DataFileError),
    ".ts": (read_ts, DataFileError),
    ".toml": (load_config, ConfigFileError),
}


@FUZZ
@given(data=st.data())
@pytest.mark.parametrize("suffix", sorted(LOADERS))
def test_byte_mutations(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory,
                        suffix: str, data: st.DataObject) -> None:
    raw = data.draw(byte_mutations(files[suffix].read_bytes()))
    path = tmp_path_factory.mktemp("fuzz") / f"f{suffix}"
    path.write_bytes(raw)
    fn, error = LOADERS[suffix]
    only_raises(error, fn, path)
    if suffix == ".npz":
        only_raises(DataFileError, read_npz_arrays, path)


@FUZZ
@given(data=st.data())
@pytest.mark.parametrize("suffix", [".ts", ".toml"])
def test_text_format_mutations(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory,
                               suffix: str, data: st.DataObject) -> None:
    text = mutate_text(data, files[suffix].read_text(encoding="utf-8"))
    path = tmp_path_factory.mktemp("fuzz") / f"f{suffix}"
    path.write_bytes(text.encode("utf-8"))
    fn, error = LOADERS[suffix]
    only_raises(error, fn, path)


@FUZZ
@given(data=st.data())
@pytest.mark.parametrize("suffix", [".rnnkit", ".keras", ".npz"])
def test_zip_mutations(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory,
                       suffix: str, data: st.DataObject) -> None:
    path = tmp_path_factory.mktemp("fuzz") / f"f{suffix}"
    mutate_zip(data, files[suffix], path)
    fn, error = LOADERS[suffix]
    only_raises(error, fn, path)


@FUZZ
@given(data=st.data())
def test_model_config_mutations(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory,
                                data: st.DataObject) -> None:
    config, tensors = _archive.read_archive(files[".rnnkit"])
    path = tmp_path_factory.mktemp("fuzz") / "f.rnnkit"
    doc = mutate_json(data, config)
    _archive.write_archive(path, {k: v for k, v in doc.items() if k != "format"}
                           if isinstance(doc, dict) else {}, tensors)
    only_raises(ModelFileError, rk.load_model, path)


@FUZZ
@given(data=st.data())
def test_keras_config_mutations(tmp_path_factory: pytest.TempPathFactory,
                                data: st.DataObject) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    doc = mutate_json(data, keras3_config())
    keras_zip(folder / "f.keras", config=doc)
    only_raises(ModelFileError, rk.load_keras, folder / "f.keras")
    with write_h5(folder / "f.h5") as f:
        f.attrs["model_config"] = json.dumps(mutate_json(data, json.loads(
            f.attrs["model_config"])))
    only_raises(ModelFileError, rk.load_keras, folder / "f.h5")


def _mutate_h5(data: st.DataObject, f: h5py.File) -> None:
    names: list[str] = []
    f.visit(names.append)
    name = data.draw(st.sampled_from(sorted(names)))
    parent, _, leaf = name.rpartition("/")
    group = f[parent] if parent else f
    kind = data.draw(st.sampled_from(["delete", "group", "dataset", "soft", "soft_loop",
                                      "attr", "weight_names", "string"]))
    if kind == "attr":
        f[name].attrs[data.draw(st.sampled_from(["name", "weight_names", "x"]))] = \
            data.draw(st.sampled_from([np.arange(3), b"\xff\xfe", "n" * 1000, 7]))
        return
    if kind == "weight_names":
        group.attrs["weight_names"] = data.draw(st.sampled_from(
            [[b"../x"], [b""], [b"a/./b"], [b"/model_weights"], np.arange(2)]))
        return
    del group[leaf]
    if kind == "group":
        group.create_group(leaf)
    elif kind == "dataset":
        shape = data.draw(st.sampled_from([(), (0,), (2, 16), (1, 1, 1), (4,)]))
        dtype = data.draw(st.sampled_from(["f2", "f8", "i4", "u1", "c8", "S3"]))
        group.create_dataset(leaf, shape=shape, dtype=dtype)
    elif kind == "soft":
        group[leaf] = h5py.SoftLink("/model_weights")
    elif kind == "soft_loop":
        group[leaf] = h5py.SoftLink(f"/{name}")
    elif kind == "string":
        group[leaf] = "not a tensor"


@FUZZ
@given(data=st.data())
def test_hdf5_structure_mutations(tmp_path_factory: pytest.TempPathFactory,
                                  data: st.DataObject) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "f.h5"
    with write_h5(path) as f:
        _mutate_h5(data, f)
    only_raises(ModelFileError, rk.load_keras, path)


# --------------------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ckpt")
    x, y = regression()
    fit(TinyNet(), x, y, loss="mse", optimizer="adam", epochs=1, verbose=0, checkpoint_dir=root)
    found = latest_checkpoint(root)
    assert found is not None
    return found


def _reseal(folder: Path) -> None:
    """Rewrite the manifest to match the (damaged) files: the parsers themselves must refuse."""
    manifest = json.loads((folder / "manifest.json").read_text())
    for name, entry in manifest["files"].items():
        data = (folder / name).read_bytes()
        entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    (folder / "manifest.json").write_text(json.dumps(manifest))


@FUZZ
@given(data=st.data())
def test_checkpoint_mutations(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory,
                              data: st.DataObject) -> None:
    folder = tmp_path_factory.mktemp("fuzz") / checkpoint.name
    shutil.copytree(checkpoint, folder)
    names = sorted(p.name for p in folder.iterdir())
    name = data.draw(st.sampled_from(names))
    target = folder / name
    if name.endswith(".json") and data.draw(st.booleans()):
        target.write_text(json.dumps(mutate_json(data, json.loads(target.read_text()))))
    else:
        target.write_bytes(data.draw(byte_mutations(target.read_bytes())))
    if name != "manifest.json" and data.draw(st.booleans()):
        _reseal(folder)
    try:
        with time_limit(TIME_LIMIT_S):
            read_checkpoint(folder)
    except CheckpointError as e:
        assert str(folder) in str(e), e
    except Exception as e:
        raise AssertionError(f"read_checkpoint raised {type(e).__name__}: {e}") from e


# --------------------------------------------------------------------------- run folders
@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import pandas as pd

    from rnnkit.tasks import Forecaster

    folder = tmp_path_factory.mktemp("run")
    series = pd.DataFrame({"y": np.sin(np.arange(60) / 3.0)})
    Forecaster("gru", 4, units=(3,), epochs=1, verbose=0).fit(series).save(folder)
    return folder


@FUZZ
@given(data=st.data())
def test_run_folder_mutations(run_folder: Path, tmp_path_factory: pytest.TempPathFactory,
                              data: st.DataObject) -> None:
    from rnnkit.errors import RunFolderError
    from rnnkit.tasks import load_task

    folder = tmp_path_factory.mktemp("fuzz") / "run"
    shutil.copytree(run_folder, folder)
    target = folder / "task.json"
    if data.draw(st.booleans()):
        target.write_text(json.dumps(mutate_json(data, json.loads(target.read_text()))))
    else:
        target.write_bytes(data.draw(byte_mutations(target.read_bytes())))
    try:
        with time_limit(TIME_LIMIT_S):
            load_task(folder)
    except (RunFolderError, ModelFileError) as e:
        assert str(folder) in str(e), e
    except Exception as e:
        raise AssertionError(f"load_task raised {type(e).__name__}: {e}") from e
