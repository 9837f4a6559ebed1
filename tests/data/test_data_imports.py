"""data/ imports nothing else of rnnkit, and never unpickles."""

from __future__ import annotations

import ast
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "src" / "rnnkit" / "data"
ALLOWED = {"numpy", "pandas", "pyarrow", "array", "collections", "__future__", "abc", "contextlib",
           "dataclasses",
           "gzip",
           "hashlib", "importlib", "io", "json", "lzma", "math", "numbers", "os", "pathlib", "re",
           "tokenize", "typing", "zipfile", "zlib"}


def test_data_imports_only_numpy_pandas_and_stdlib() -> None:
    files = sorted(DATA.glob("*.py"))
    assert len(files) > 5
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level == 1:
                    continue  # sibling module inside rnnkit.data
                leaves = {"errors", "_bounded"}  # rnnkit's leaf modules: errors, bounded reads
                if node.level == 2 and (node.module in leaves or node.module is None
                                        and {a.name for a in node.names} <= leaves):
                    continue
                assert node.level == 0, f"{path.name}: relative import outside data/"
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in ALLOWED, f"{path.name} imports {name}"


def test_no_unpickling_at_run_time() -> None:
    for path in DATA.glob("*.py"):
        text = path.read_text()
        assert "allow_pickle=True" not in text, path.name
        assert "import pickle" not in text, path.name
