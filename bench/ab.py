"""A/B of rnnkit's own rows of bench/run.py: two source trees in one run, taking turns.

    git worktree add /tmp/old <commit>
    python bench/ab.py --old /tmp/old [--rounds 3] [--write bench/RESULTS.md]

Each round runs every workload once per tree, each tree in a fresh process (this repository's
``bench/run.py --worker rnnkit`` with ``PYTHONPATH`` set to that tree's ``src``), old and new
taking turns so that drifts of the machine hit both alike; a first untimed pass per tree fills
numba's caches. Printed: the median over rounds of the median training step (ms) and inference
call (ms) per workload and tree, and new / old (below 1: the new tree is faster).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from run import MARK  # noqa: E402
from workloads import WORKLOADS  # noqa: E402

KEYS = ("train_ms", "infer_ms")


def _run(tree: Path, names: list[str], warmup: int, reps: int) -> dict[str, dict]:
    """One fresh process timing ``names`` with the rnnkit of ``tree``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tree / "src"), str(HERE)])
    cmd = [sys.executable, str(HERE / "run.py"), "--worker", "rnnkit", "--warmup", str(warmup),
           "--reps", str(reps), "--names", json.dumps(names)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{tree}: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return {(rec := json.loads(line[len(MARK):])).pop("workload"): rec
            for line in proc.stdout.splitlines() if line.startswith(MARK)}


def _table(names: list[str], got: dict[str, list[dict[str, dict]]]) -> list[str]:
    lines = ["| workload | old train ms | new train ms | new / old | old infer ms | new infer ms"
             " | new / old |", "|---|---|---|---|---|---|---|"]
    for n in names:
        cells = []
        for key in KEYS:
            old, new = (statistics.median(r[n][key] for r in got[t]) for t in ("old", "new"))
            cells += [f"{old:.2f}", f"{new:.2f}", f"{new / old:.3f}"]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", required=True, type=Path, help="the other source tree (a worktree)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=11)
    ap.add_argument("--only", default="", help="the workloads whose name contains this")
    ap.add_argument("--write", type=Path, help="append the table to this markdown file")
    args = ap.parse_args()
    trees = {"old": args.old.resolve(), "new": ROOT}
    names = [w.name for w in WORKLOADS if args.only in w.name]
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    started = dt.datetime.now().isoformat(timespec="seconds")
    for tree in trees.values():  # fill the numba caches, untimed
        _run(tree, names, 1, 1)
    got: dict[str, list[dict[str, dict]]] = {t: [] for t in trees}
    for r in range(args.rounds):
        for label, tree in trees.items():
            got[label].append(_run(tree, names, args.warmup, args.reps))
            print(f"round {r + 1}/{args.rounds}: {label} done", flush=True)
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    head = (f"A/B started {started}: old = {trees['old']}, new = {ROOT}; {args.rounds} rounds, "
            f"median of {args.reps} steps after {args.warmup}; load average before {load_before},"
            f" after {load_after}.")
    lines = [head, "", *_table(names, got)]
    print("\n".join(lines))
    if args.write:
        with args.write.open("a", encoding="utf-8") as fh:
            fh.write("\n" + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
