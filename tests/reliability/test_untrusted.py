"""Issue 7.4: untrusted files run no code.

A pickle whose ``__reduce__`` writes a marker file is put wherever rnnkit expects a file
(checkpoint weights / optimizer state / state, model file and its members, arrays, vocabularies):
every read is refused with a named error and the marker never appears. A lint test fails on
any unpickling call in ``src/``; a config naming an unregistered layer is refused.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnkit as rk
from rnnkit import _archive, layers
from rnnkit.data import CharVocab, WordTokenizer, read_npy, read_npz
from rnnkit.errors import ModelFileError
from rnnkit.training import CheckpointCorruptError, fit, latest_checkpoint, read_checkpoint
from rnnkit.training import checkpoint as ck

from ._common import SRC, TinyNet, regression


class Payload:
    """Unpickling this calls ``Path(marker).write_text("pwned")``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (Path.write_text, (Path(self.marker), "pwned"))


def _payload(marker: Path) -> bytes:
    return pickle.dumps({"weights": Payload(marker)})


def _torch_payload(marker: Path) -> bytes:
    buf = io.BytesIO()
    torch.save({"weights": Payload(marker)}, buf)  # a zip holding data.pkl
    return buf.getvalue()


def test_the_payload_is_live(tmp_path: Path) -> None:
    # control: unpickling it does write the marker, so "marker absent" below means something
    marker = tmp_path / "control"
    pickle.loads(_payload(marker))  # our own payload, in a temporary folder
    assert marker.read_text() == "pwned"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ckpt")
    x, y = regression(n=16)
    fit(TinyNet(), x, y, loss="mse", optimizer="adam", epochs=1, verbose=0, checkpoint_dir=root)
    return root


def _rehash(folder: Path) -> None:
    manifest = json.loads((folder / ck.MANIFEST).read_text())
    for name in manifest["files"]:
        data = (folder / name).read_bytes()
        manifest["files"][name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (folder / ck.MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize("kind", ["pickle", "torch.save"])
@pytest.mark.parametrize("name", [ck.WEIGHTS, ck.OPTIMIZER, ck.STATE_TENSORS, ck.STATE,
                                  ck.MANIFEST])
def test_pickles_in_a_checkpoint_are_refused(
    checkpoint: Path, tmp_path: Path, name: str, kind: str
) -> None:
    root = tmp_path / "ckpt"
    shutil.copytree(checkpoint, root)
    folder = latest_checkpoint(root)
    assert folder is not None
    marker = tmp_path / "marker"
    (folder / name).write_bytes((_payload if kind == "pickle" else _torch_payload)(marker))
    if name != ck.MANIFEST:
        _rehash(folder)  # the manifest vouches for the pickle: the parser must still refuse it
    with pytest.raises(CheckpointCorruptError, match=name.replace(".", r"\.")):
        read_checkpoint(folder)
    x, y = regression(n=16)
    with pytest.raises(CheckpointCorruptError):
        fit(TinyNet(), x, y, loss="mse", optimizer="adam", epochs=2, verbose=0,
            checkpoint_dir=root)
    assert not marker.exists()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "m.rnnkit"
    rk.Sequential([rk.Input((5, 2)), layers.LSTM(3), layers.Dense(1)]).save(path)
    return path


@pytest.mark.parametrize("member", [None, _archive.CONFIG, _archive.WEIGHTS, "extra.pkl"])
@pytest.mark.parametrize("kind", ["pickle", "torch.save"])
def test_pickles_in_a_model_file_are_refused(
    model_file: Path, tmp_path: Path, member: str | None, kind: str
) -> None:
    marker = tmp_path / "marker"
    payload = (_payload if kind == "pickle" else _torch_payload)(marker)
    bad = tmp_path / "bad.rnnkit"
    if member is None:
        bad.write_bytes(payload)  # the whole file
    else:
        with zipfile.ZipFile(model_file) as src, zipfile.ZipFile(bad, "w") as dst:
            for name in src.namelist():
                dst.writestr(name, payload if name == member else src.read(name))
            if member not in src.namelist():
                dst.writestr(member, payload)
    with pytest.raises(ModelFileError, match="bad.rnnkit"):  # an unknown member is refused
        rk.load_model(bad)
    assert not marker.exists()


def test_pickled_arrays_and_vocabularies_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    obj = np.empty(2, dtype=object)
    obj[0] = Payload(marker)
    np.save(tmp_path / "x.npy", obj, allow_pickle=True)
    np.savez(tmp_path / "d.npz", X=obj, y=np.zeros(2))
    (tmp_path / "raw.npy").write_bytes(_payload(marker))
    (tmp_path / "raw.npz").write_bytes(_torch_payload(marker))
    for path in ("x.npy", "raw.npy"):
        with pytest.raises(ValueError, match="pickle"):
            read_npy(tmp_path / path)
    for path in ("d.npz", "raw.npz"):
        with pytest.raises(ValueError):
            read_npz(tmp_path / path)
    text = _payload(marker).decode("latin-1")
    for cls in (CharVocab, WordTokenizer):
        with pytest.raises(ValueError):
            cls.from_json(text)  # type: ignore[attr-defined]
    assert not marker.exists()


# --------------------------------------------------------------------------- configs
def _config_file(tmp_path: Path, model_config: dict) -> Path:
    path = tmp_path / "evil.rnnkit"
    _archive.write_archive(path, {"model": model_config}, {})
    return path


@pytest.mark.parametrize("name", ["os.system", "Lambda", "builtins.eval", "__import__", ""])
def test_a_config_naming_an_unregistered_layer_is_refused(tmp_path: Path, name: str) -> None:
    config = {
        "class_name": "Sequential",
        "name": "s",
        "input": {"shape": [5, 2], "dtype": "float32"},
        "layers": [{"class_name": name, "config": {"command": "touch marker"}}],
    }
    with pytest.raises(ValueError, match="expected a registered layer class"):
        rk.load_model(_config_file(tmp_path, config))


def test_a_config_naming_an_unknown_model_class_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected a model class_name"):
        rk.load_model(_config_file(tmp_path, {"class_name": "subprocess.Popen"}))


# --------------------------------------------------------------------------- lint
_UNSAFE = {
    "pickle.load", "pickle.loads", "pickle.Unpickler", "_pickle.load", "_pickle.loads",
    "_pickle.Unpickler", "cPickle.load", "cPickle.loads", "dill.load", "dill.loads",
    "cloudpickle.load", "cloudpickle.loads", "joblib.load", "pandas.read_pickle",
    "shelve.open", "marshal.load", "marshal.loads", "torch.jit.load",
}
_NEEDS_WEIGHTS_ONLY = {"torch.load", "torch.serialization.load"}
_NEEDS_NO_PICKLE = {"numpy.load", "numpy.lib.format.read_array"}


def _qualname(node: ast.expr, aliases: dict[str, str]) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    name = ".".join(reversed(parts))
    return "numpy" + name[2:] if name.startswith("np.") else name


def _keyword(call: ast.Call, name: str) -> ast.expr | None | bool:
    """The keyword's value, None if absent, True if ``**kwargs`` could hide it."""
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return True if any(kw.arg is None for kw in call.keywords) else None


def unpickling_calls(source: str, filename: str = "<src>") -> list[str]:
    """Calls that may unpickle: pickle & co., torch.load without ``weights_only=True``,
    numpy.load with ``allow_pickle`` other than a literal False."""
    tree = ast.parse(source, filename)
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(
                    "."
                )[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _qualname(node.func, aliases)
        if name is None:
            continue
        where = f"{filename}:{node.lineno}: {name}"
        if name in _UNSAFE:
            found.append(where)
        elif name in _NEEDS_WEIGHTS_ONLY:
            value = _keyword(node, "weights_only")
            if not (isinstance(value, ast.Constant) and value.value is True):
                found.append(where + " without weights_only=True")
        elif name in _NEEDS_NO_PICKLE:
            value = _keyword(node, "allow_pickle")
            if value is not None and not (isinstance(value, ast.Constant) and value.value is False):
                found.append(where + " with allow_pickle")
    return found


def test_the_lint_catches_planted_unpickling(tmp_path: Path) -> None:
    planted = '''
import pickle, torch, numpy as np
import pickle as pk
from torch import load as tload
from numpy import load
import pandas as pd
pickle.load(f)
pk.loads(b)
torch.load("w.pt")
torch.load("w.pt", weights_only=False)
tload("w.pt", map_location="cpu")
np.load("x.npy", allow_pickle=True)
load("x.npy", allow_pickle=flag)
pd.read_pickle("f")
torch.load("w.pt", **kwargs)
torch.load("ok.pt", weights_only=True)
np.load("ok.npy")
np.load("ok.npy", allow_pickle=False)
json.load(f)
'''
    found = unpickling_calls(planted, "planted.py")
    assert [f.split(":")[1] for f in found] == ["7", "8", "9", "10", "11", "12", "13", "14", "15"]


def test_no_unpickling_in_the_sources() -> None:
    found = []
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 20
    for path in files:
        found += unpickling_calls(path.read_text(encoding="utf-8"), str(path.relative_to(SRC)))
    assert found == []
