"""Benchmark rnnkit against PyTorch nn.* and Keras 3 on the seeds' workloads.

    python bench/run.py            # every workload; writes bench/RESULTS.md
    python bench/run.py --quick    # a subset, fewer repetitions

Each framework runs in its own subprocess (one process per framework, all its workloads in
turn), so that their thread pools, JIT caches and global flags do not meet. Printed: the median
training-step time (forward + backward + Adam) in ms, inference throughput in sequences/s, and
rnnkit's ratio to the best peer (training: peer ms / rnnkit ms; inference: rnnkit seq/s / peer
seq/s; above 1 means rnnkit is faster). A framework that cannot run (JAX not installed, no
recurrent dropout in nn.*) shows "n/a".
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from workloads import WORKLOADS, Workload, run  # noqa: E402

FRAMEWORKS = {
    "rnnkit": "rnnkit (auto engine)",
    "torch": "PyTorch nn.*",
    "torch_ftz": "PyTorch nn.* denormals flushed",
    "keras_jax": "Keras 3 on JAX",
    "keras_torch": "Keras 3 on torch",
}
PEERS = ["torch", "torch_ftz", "keras_jax", "keras_torch"]
MARK = "@@RESULT@@ "


def _worker(framework: str, names: list[str], warmup: int, reps: int) -> None:
    """Run the named workloads in this process and print one JSON line per workload."""
    threads = os.environ.get("RNNKIT_BENCH_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    by_name = {w.name: w for w in WORKLOADS}
    if names:  # a fresh process's first workload also pays for thread pools, allocator and JIT
        try:  # start-up (the first rows of a round came out 1.5x slow): one untimed pass first
            run(framework, by_name[names[0]], warmup, 1)
        except Exception:  # reported by the timed run below
            pass
    for name in names:
        try:
            res = run(framework, by_name[name], warmup, reps)
        except Exception as exc:  # report, keep going with the next workload
            res = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        print(MARK + json.dumps({"workload": name, **res}), flush=True)


def _available(framework: str) -> str | None:
    """None when the framework can run here, else why not."""
    if framework.startswith("keras") and importlib.util.find_spec("keras") is None:
        return "keras not installed"
    if framework == "keras_jax" and importlib.util.find_spec("jax") is None:
        return "jax not installed"
    return None


def _spawn(
    framework: str, names: list[str], warmup: int, reps: int, timeout: float, threads: str
) -> dict:
    env = dict(os.environ)
    if threads != "default":
        env["RNNKIT_BENCH_THREADS"] = threads
        env["OMP_NUM_THREADS"] = threads
        env["MKL_NUM_THREADS"] = threads
        if framework == "keras_jax":
            env["XLA_FLAGS"] = (
                "--xla_force_host_platform_device_count=1 "
                f"--xla_cpu_multi_thread_eigen={'false' if threads == '1' else 'true'} "
                f"intra_op_parallelism_threads={threads}"
            )
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), str(HERE), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    if framework.startswith("keras"):
        env["KERAS_BACKEND"] = framework.split("_")[1]
        env.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
        env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", framework,
           "--warmup", str(warmup), "--reps", str(reps), "--names", json.dumps(names)]  # fmt: skip
    results: dict[str, dict] = {}
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        output = proc.stdout
        failure = None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["?"])[-1]
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout
        output = out.decode() if isinstance(out, bytes) else (out or "")
        failure = f"timed out after {timeout:.0f} s"
    for line in output.splitlines():
        if line.startswith(MARK):
            rec = json.loads(line[len(MARK) :])
            results[rec.pop("workload")] = rec
    for name in names:
        results.setdefault(name, {"error": failure or "no result"})
    return results


def _median_of_rounds(recs: list[dict[str, dict]], names: list[str]) -> dict[str, dict]:
    """Per workload: the median over rounds of each timing (rounds that failed are skipped; a
    workload no round measured keeps the first round's record, its error)."""
    out: dict[str, dict] = {}
    for n in names:
        ok = [r[n] for r in recs if "train_ms" in r.get(n, {})]
        if not ok:
            out[n] = recs[0][n]
            continue
        merged = dict(ok[0])
        for key in ("train_ms", "infer_ms"):
            vals = [r[key] for r in ok if key in r]
            if vals:
                merged[key] = statistics.median(vals)
        merged["rounds"] = len(ok)
        out[n] = merged
    return out


def _fmt_ms(rec: dict | None) -> str:
    if not rec or "train_ms" not in rec:
        return "n/a"
    return f"{rec['train_ms']:.1f}"


def _seq_s(rec: dict | None, w: Workload) -> float | None:
    if not rec or "infer_ms" not in rec:
        return None
    return w.batch / (rec["infer_ms"] / 1e3)


def _machine() -> dict[str, str]:
    info = {"python": platform.python_version(), "platform": platform.platform()}
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((ln.split(":", 1)[1].strip() for ln in fh if "model name" in ln), "?")
        info["cpu"] = model
    except OSError:
        info["cpu"] = platform.processor() or "?"
    info["cores"] = str(os.cpu_count())
    versions = {}
    for mod in ("torch", "numba", "numpy", "keras", "jax", "jaxlib"):
        try:
            versions[mod] = importlib.metadata.version(mod)
        except importlib.metadata.PackageNotFoundError:
            versions[mod] = "not installed"
    info["versions"] = ", ".join(f"{k} {v}" for k, v in versions.items())
    try:
        info["load"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        info["load"] = "?"
    return info


def _table(workloads: list[Workload], res: dict[str, dict[str, dict]]) -> list[str]:
    cols = ["rnnkit", *PEERS]
    head = (
        "| workload | "
        + " | ".join(f"{FRAMEWORKS[c]} train ms" for c in cols)
        + " | train: best peer / rnnkit | rnnkit infer seq/s | best peer infer seq/s"
        + " | infer: rnnkit / best peer |"
    )
    lines = [head, "|" + "---|" * (len(cols) + 5)]
    for w in workloads:
        row = res.get("rnnkit", {}).get(w.name)
        peers_train = [
            r["train_ms"] for p in PEERS if (r := res.get(p, {}).get(w.name)) and "train_ms" in r
        ]
        peers_inf = [s for p in PEERS if (s := _seq_s(res.get(p, {}).get(w.name), w))]
        best_train = min(peers_train) if peers_train else None
        best_inf = max(peers_inf) if peers_inf else None
        rk_inf = _seq_s(row, w)
        train_ratio = (
            f"{best_train / row['train_ms']:.2f}x"
            if best_train and row and "train_ms" in row
            else "n/a"
        )
        inf_ratio = f"{rk_inf / best_inf:.2f}x" if rk_inf and best_inf else "n/a"
        cells = [_fmt_ms(res.get(c, {}).get(w.name)) for c in cols]
        cells += [
            train_ratio,
            f"{rk_inf:,.0f}" if rk_inf else "n/a",
            f"{best_inf:,.0f}" if best_inf else "n/a",
            inf_ratio,
        ]
        lines.append(f"| {w.name} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a subset of workloads, fewer repetitions")
    ap.add_argument("--frameworks", default=",".join(FRAMEWORKS), help="comma-separated subset")
    ap.add_argument("--only", default="", help="run the workloads whose name contains this")
    ap.add_argument("--output", default=str(HERE / "RESULTS.md"), help="'' to write nothing")
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per framework")
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every framework this many times (taking turns); report the median per cell",
    )
    ap.add_argument(
        "--threads",
        default="default",
        help="comma-separated thread counts to run, e.g. '1,default' ('default': every core)",
    )
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--names", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    warmup = args.warmup if args.warmup is not None else (2 if args.quick else 5)
    reps = args.reps if args.reps is not None else (7 if args.quick else 21)
    if args.worker:
        _worker(args.worker, json.loads(args.names), warmup, reps)
        return 0

    workloads = [w for w in WORKLOADS if (w.quick or not args.quick) and args.only in w.name]
    names = [w.name for w in workloads]
    frameworks = [f for f in args.frameworks.split(",") if f]
    unknown = [f for f in frameworks if f not in FRAMEWORKS]
    if unknown:
        ap.error(f"expected frameworks from {list(FRAMEWORKS)}, got {unknown}")
    machine_before = _machine()
    started = dt.datetime.now().isoformat(timespec="seconds")
    settings = [t.strip() for t in args.threads.split(",") if t.strip()]
    tables: list[tuple[str, list[str], dict[str, dict[str, dict]]]] = []
    for threads in settings:
        label = "threads: " + ("framework default (all cores)" if threads == "default" else threads)
        print(f"== {label}", flush=True)
        rounds: dict[str, list[dict[str, dict]]] = {fw: [] for fw in frameworks}
        for r in range(args.rounds):  # frameworks take turns, so drifts hit them all alike
            for fw in frameworks:
                why = _available(fw)
                if why:
                    rounds[fw].append({n: {"na": why} for n in names})
                    print(f"{FRAMEWORKS[fw]}: n/a ({why})", flush=True)
                    continue
                print(f"{FRAMEWORKS[fw]} (round {r + 1}/{args.rounds}): running {len(names)} "
                      "workloads ...", flush=True)  # fmt: skip
                rounds[fw].append(_spawn(fw, names, warmup, reps, args.timeout, threads))
                for n in names:
                    rec = rounds[fw][-1][n]
                    show = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in rec.items()}
                    print(f"  {n}: {show}", flush=True)
        results = {fw: _median_of_rounds(recs, names) for fw, recs in rounds.items()}
        table = _table(workloads, results)
        print()
        print(label)
        print("\n".join(table))
        tables.append((label, table, results))
    if args.output:
        m = machine_before
        text = [
            "# Benchmark results",
            "",
            f"Command: `python bench/run.py {' '.join(argv if argv is not None else sys.argv[1:])}`"
            f" (started {started}; median of {reps} after {warmup} warm-up steps; "
            f"{args.rounds} round(s) per framework, the median of the rounds).",
            "",
            f"Machine: {m['cpu']}, {m['cores']} cores; {m['platform']}; Python {m['python']}.",
            f"Versions: {m['versions']}.",
            f"Load average (1/5/15 min) before: {m['load']}; after: {_machine()['load']}.",
            "",
            "Training: one step (forward + backward + Adam), median ms. Inference: one forward "
            "call on the same batch, sequences/s. Ratios above 1 mean rnnkit is faster.",
        ]
        for label, table, results in tables:
            text += [
                "",
                f"## {label}",
                "",
                *table,
                "",
                "rnnkit engines (the layers' `last_engine`):",
                "",
            ]
            text += [
                f"- {n}: {results['rnnkit'][n].get('engine', '?')}"
                for n in names
                if "rnnkit" in results
            ]
            notes = [
                f"- {FRAMEWORKS[fw]}, {n}: {rec.get('error') or rec.get('na')}"
                for fw in frameworks
                for n in names
                if "error" in (rec := results.get(fw, {}).get(n, {})) or "na" in rec
            ]
            if notes:
                text += ["", "Not measured / failed:", "", *notes]
        extra = HERE / "RESULTS_NOTES.md"
        if extra.exists():
            text += ["", extra.read_text().rstrip()]
        Path(args.output).write_text("\n".join(text) + "\n")
        print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
