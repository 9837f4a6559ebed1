"""Resuming a run folder: the requested configuration must be the stored one.

``rnnkit train CONFIG --out DIR`` keeps the TOML it ran in ``DIR/config.toml``. When it is run
again and ``DIR`` holds checkpoints, the new TOML is compared with the stored one key by key.
A difference is refused with a :class:`rnnkit.errors.ConfigMismatchError` naming the changed
keys: a checkpoint carries the old optimizer, learning rate, data split and network, so an
edited value would otherwise be ignored silently. ``--allow-config-change`` applies the
changes a resumed run can honour (:data:`APPLICABLE`: the epoch count, the progress output,
the text sample drawn after training) and records each in ``DIR/config_changes.json``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import _bounded
from ..errors import ConfigMismatchError, RunFolderError

CHANGES_FILE = "config_changes.json"
STORED_FILE = "config.toml"
#: Keys (and ``section.`` prefixes) a resumed run applies as given.
APPLICABLE = ("training.epochs", "training.verbose", "sample.")


def _flat(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{"section.key": [old, new]}`` for every key whose value differs (or is only in one).

    >>> config_changes({"training": {"learning_rate": 0.01, "epochs": 5}},
    ...                {"training": {"learning_rate": 0.02, "epochs": 5}})
    {'training.learning_rate': [0.01, 0.02]}
    """
    a, b = _flat(old), _flat(new)
    return {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def _applicable(key: str) -> bool:
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in APPLICABLE)


def check_resume(out: Path, stored: Mapping[str, Any] | None, config: Mapping[str, Any],
                 checkpoint_dir: str | os.PathLike[str], allow_changes: bool) -> None:
    """Refuse (or, with ``allow_changes``, record) a changed configuration when ``out`` holds
    checkpoints of an earlier run of ``stored``."""
    if stored is None or not any(Path(checkpoint_dir).rglob("epoch-*")):
        return
    changes = config_changes(stored, config)
    if not changes:
        return
    shown = ", ".join(f"{k} ({v[0]!r} -> {v[1]!r})" for k, v in changes.items())
    if not allow_changes:
        raise ConfigMismatchError(
            f"expected the configuration this run was started with, got changes to {shown}; "
            "restore them, use another --out to start afresh, or pass --allow-config-change",
            path=out)
    fixed = [k for k in changes if not _applicable(k)]
    if fixed:
        raise ConfigMismatchError(
            f"expected changes a resumed run can apply ({', '.join(APPLICABLE)}*), got "
            f"{', '.join(fixed)}, which its checkpoints fix; use another --out to start afresh",
            path=out)
    log = out / CHANGES_FILE
    history = _change_log(log)
    history.append({"time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                    "changes": changes})
    log.write_text(json.dumps(history, indent=2) + "\n", encoding="utf-8")


def _change_log(log: Path) -> list[Any]:
    """The changes recorded so far (none when the file does not exist)."""

    def fail(reason: str) -> RunFolderError:
        return RunFolderError(f"{CHANGES_FILE}: {reason}", path=log.parent)

    try:
        history = _bounded.parse_json(_bounded.read_file(log, 16 << 20, fail), fail)
    except FileNotFoundError:
        return []
    if not isinstance(history, list):
        raise fail(f"expected a JSON list, got {type(history).__name__}")
    return history
