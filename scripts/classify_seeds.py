"""Held-out accuracy of the classifier's defaults over several seeds (issue 14's README rows).

Each data set runs with the settings of its demo (``rnnkit demo activity`` / ``digits``) or,
for BasicMotions, the bare defaults on the official split; only ``random_state`` changes.

    python scripts/classify_seeds.py basic_motions --seeds 0,1,2 --threads 2
    python scripts/classify_seeds.py activity --seeds 0 --threads 2
    python scripts/classify_seeds.py digits --seeds 1,2 --threads 2

Held-out UCR/UEA sets that the repository does not bundle (never tuned on) are read, with the
bare defaults on their official split, from the ``.ts`` files inside the sktime 1.2.0 wheel
(``pip download sktime==1.2.0 --no-deps``; nothing is downloaded here):

    python scripts/classify_seeds.py ArrowHead GunPoint --wheel sktime-1.2.0-py3-none-any.whl

Prints one JSON line per (data, seed) and the median and range of the accuracy over the seeds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit import datasets
from rnnkit.data import read_ts
from rnnkit.tasks import SequenceClassifier
from rnnkit.tasks._demos import (
    ACTIVITY_STRIDE,
    WristAugment,
    _mirror_right_wrist,
    _named,
    demo_data,
    shifted_copies,
)


def _activity() -> tuple[dict[str, Any], tuple[Any, ...], Any]:
    ds = datasets.load_activity(stride=ACTIVITY_STRIDE)
    assert ds.groups is not None
    train = ~ds.is_test
    xtr = _mirror_right_wrist(ds.X, ds.extras["side"])[train]
    ytr = _named(ds.y, ds.classes)[train]
    _, _, xte, yte = demo_data("activity")
    return {"augment": WristAugment(), "max_time": 540.0}, (xtr, ytr, xte, yte), ds.groups[train]


def _digits() -> tuple[dict[str, Any], tuple[Any, ...], Any]:
    xtr, ytr, xte, yte = demo_data("digits")
    images = np.tile(np.arange(len(ytr)), 5)
    xtr, ytr = shifted_copies(xtr, ytr)
    return {"max_time": 540.0}, (xtr, ytr, xte, yte), images


def _basic_motions() -> tuple[dict[str, Any], tuple[Any, ...], Any]:
    ds = datasets.load_basic_motions()
    return {}, (ds.X_train, ds.y_train, ds.X_test, ds.y_test), None


DATA = {"activity": _activity, "digits": _digits, "basic_motions": _basic_motions}
#: held-out UCR/UEA sets read from the sktime wheel (``--wheel``)
UCR = ("ArrowHead", "GunPoint", "ItalyPowerDemand", "JapaneseVowels")


def _ucr(name: str, wheel: str | None) -> tuple[dict[str, Any], tuple[Any, ...], Any]:
    if wheel is None:
        raise SystemExit(f"{name}: expected --wheel sktime-1.2.0-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory() as tmp:
        parts = []
        for split in ("TRAIN", "TEST"):
            member = f"sktime/datasets/data/{name}/{name}_{split}.ts"
            parts.append(read_ts(Path(zf.extract(member, tmp))))
    return {}, (parts[0].X, parts[0].y, parts[1].X, parts[1].y), None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="+", choices=sorted(DATA) + list(UCR))
    parser.add_argument("--wheel", help="the sktime 1.2.0 wheel (for the UCR/UEA sets)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.data:
        settings, (xtr, ytr, xte, yte), groups = (
            _ucr(name, args.wheel) if name in UCR else DATA[name]())
        scores = []
        for seed in [int(s) for s in args.seeds.split(",")]:
            start = time.perf_counter()
            task = SequenceClassifier(random_state=seed, **settings).fit(xtr, ytr, groups=groups)
            m = task.evaluate(xte, yte)
            scores.append(m["accuracy"])
            print(json.dumps({
                "data": name, "seed": seed, "accuracy": round(m["accuracy"], 4),
                "non_recurrent": round(m["baselines"]["non_recurrent"]["accuracy"], 4),
                "majority": round(m["baselines"]["majority"]["accuracy"], 4),
                "epochs_run": len(task.history_["loss"]), "recipe": task.recipe_,
                "stopped_by_time": task.stopped_by_time_,
                "fit_seconds": round(time.perf_counter() - start, 1)}), flush=True)
        print(f"{name}: median {np.median(scores):.3f}, range {min(scores):.3f}-"
              f"{max(scores):.3f} over {len(scores)} seed(s)", flush=True)


if __name__ == "__main__":
    main()
