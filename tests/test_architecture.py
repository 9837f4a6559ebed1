"""The import flow of docs/architecture.md, checked on every module's imports (static, AST)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "rnnkit"

# Leaves that every part may import: the error classes and the bounded readers of untrusted
# files (which import only the error classes).
SHARED = {"errors", "_bounded"}
# Which of our packages each part may import. A leaf (empty set) imports nothing of ours but
# SHARED.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "_bounded": {"errors"},
    "kernels": set(),
    "data": set(),
    "training": set(),
    "_archive": set(),
    "layers": {"kernels"},
    "model": {"layers", "kernels", "training", "_archive", "_summary"},
    "_summary": {"layers", "kernels"},
    "io": {"model", "layers", "kernels", "training", "_archive"},
    "streaming": {"model", "layers", "kernels"},
    "datasets": {"data"},
    "tasks": {"model", "layers", "kernels", "training", "data", "io", "_archive", "datasets"},
    "cli": {"tasks", "data", "datasets", "io", "model", "layers", "kernels", "training"},
    "__init__": {"*"},
    "__main__": {"cli"},
}


def _imported_parts(path: Path, root: Path) -> set[str]:
    """Our top-level parts that ``path`` imports (absolute ``rnnkit.x`` or relative)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    depth = len(path.relative_to(root).parts) - 1  # folders below rnnkit/
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("rnnkit."):
                    found.add(alias.name.split(".")[1])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.startswith("rnnkit"):
                parts = node.module.split(".")
                found |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
            elif node.level > 0:
                if node.level - 1 < depth:  # stays inside the same part
                    continue
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found |= {a.name for a in node.names}
    return found


def violations(root: Path = SRC) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        part = path.relative_to(root).parts[0].removesuffix(".py")
        allowed = ALLOWED.get(part)
        if allowed is None:
            bad.append(f"{path.relative_to(root)}: part {part!r} is not in the architecture")
            continue
        if "*" in allowed:
            continue
        shared = set() if part in SHARED else SHARED
        for target in _imported_parts(path, root) - {part} - shared:
            if target not in allowed:
                bad.append(f"{path.relative_to(root)} imports {target!r}, against the flow")
    return bad


def test_imports_follow_the_architecture() -> None:
    assert violations() == []


def test_the_checker_catches_wrong_imports(tmp_path: Path) -> None:
    root = tmp_path / "rnnkit"
    (root / "data").mkdir(parents=True)
    (root / "training").mkdir()
    (root / "data" / "_x.py").write_text("from ..model import Sequential\n", encoding="utf-8")
    (root / "training" / "_y.py").write_text("import rnnkit.layers\n", encoding="utf-8")
    (root / "kernels.py").write_text("from . import layers\n", encoding="utf-8")
    (root / "data" / "_ok.py").write_text("from ._x import y\nimport numpy\n", encoding="utf-8")
    found = violations(root)
    assert len(found) == 3, found
    assert any("data/_x.py imports 'model'" in v for v in found)
    assert any("training/_y.py imports 'layers'" in v for v in found)
    assert any("kernels.py imports 'layers'" in v for v in found)


# --------------------------------------------------------------------------- training's shape
def _stems(folder: Path) -> set[str]:
    """Names of a part's modules and subpackages (without a leading underscore)."""
    return {
        p.stem.lstrip("_")
        for p in folder.iterdir()
        if p.stem != "__init__" and (p.suffix == ".py" or (p / "__init__.py").exists())
    }


def test_no_private_public_module_pairs() -> None:
    """No ``_x.py`` beside an ``x.py`` (a shim re-exporting the other)."""
    pairs = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("_*.py")
        if not p.stem.startswith("__") and (p.parent / f"{p.stem[1:]}.py").exists()
    ]
    assert pairs == []


def test_training_and_kernels_use_no_module_name_for_two_things() -> None:
    assert _stems(SRC / "training") & _stems(SRC / "kernels") == set()


def test_training_functions_read_in_one_sitting() -> None:
    """No function of the training loop over 80 lines, and nothing passes ``locals()``."""
    long, calls = [], []
    for path in sorted((SRC / "training").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > 80:
                    long.append(f"{path.relative_to(SRC)}:{node.name} ({lines} lines)")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "locals"
            ):
                calls.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert long == [] and calls == []


# --------------------------------------------------------------------------- model's shape
# Which modules of the model package each may import (one way, as docs/architecture.md says).
MODEL_FLOW: dict[str, set[str]] = {
    "_exporters": set(),
    "_entries": set(),
    "_base": {"_exporters", "_entries"},
    "_sequential": {"_base", "_entries"},
    "_functional": {"_base", "_entries"},
    "_loading": {"_sequential", "_functional"},
    "__init__": {"*"},
}


def _sibling_imports(path: Path) -> set[str]:
    """Modules of the same package that ``path`` imports (``from .x import ...``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
    }


def test_model_modules_import_one_way_and_read_in_one_sitting() -> None:
    folder = SRC / "model"
    assert {p.stem for p in folder.glob("*.py")} == set(MODEL_FLOW)
    bad = []
    for path in sorted(folder.glob("*.py")):
        allowed = MODEL_FLOW[path.stem]
        if "*" not in allowed:
            bad += [f"{path.name} imports {m}" for m in _sibling_imports(path) - allowed]
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > 400:
            bad.append(f"{path.name} has {lines} lines")
    assert bad == []
