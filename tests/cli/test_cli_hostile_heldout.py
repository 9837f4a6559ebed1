"""`rnnkit evaluate RUN` on a run folder whose heldout.npz was replaced by well-formed arrays
that are not the run's held-out data: one line naming the file (DataFileError), exit 1."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from .conftest import invoke


def _with_heldout(run: Path, dst: Path, change: dict[str, np.ndarray | None]) -> Path:
    shutil.copytree(run, dst)
    with np.load(run / "heldout.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for key, value in change.items():
        if value is None:
            arrays.pop(key, None)
        else:
            arrays[key] = value
    np.savez(dst / "heldout.npz", **arrays)  # type: ignore[arg-type]
    return dst


@pytest.mark.parametrize("change", [
    {"panel_meta": None},
    {"panel_meta": np.array("[" * 100_000 + "]" * 100_000)},
    {"panel_meta": np.array("not json")},
    {"panel_meta": np.array('{"datetime": 1}')},
    {"offsets": np.array([5, 1, 10**12])},
    {"target": np.zeros((2, 2, 2), dtype=np.float32)},
], ids=["no-meta", "deep-json", "not-json", "meta-keys", "offsets", "target"])
def test_forecast_heldout_of_another_shape_is_one_line(forecast_run: Path, tmp_path: Path,
                                                       change: dict[str, np.ndarray | None]
                                                       ) -> None:
    folder = _with_heldout(forecast_run, tmp_path / "run", change)
    result = invoke("evaluate", folder)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnnkit: error: DataFileError: data file "), \
        result.output
    assert "heldout.npz" in lines[0]


def test_classify_heldout_of_another_width_is_one_line(classify_run: Path,
                                                       tmp_path: Path) -> None:
    with np.load(classify_run / "heldout.npz", allow_pickle=False) as z:
        x = z["X"]
    folder = _with_heldout(classify_run, tmp_path / "run", {"X": x[..., :1]})
    result = invoke("evaluate", folder)
    assert result.exit_code == 1
    assert "DataFileError" in result.output and "heldout.npz" in result.output
