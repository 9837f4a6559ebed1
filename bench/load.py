"""Speed under load, compute that follows the true lengths, streaming latency (issue 17).

    python bench/load.py                 # every section (about 8 minutes on 2 idle cores)
    python bench/load.py --sections load --quick
    python bench/load.py --write bench/RESULTS.md   # also replace its sections there

Sections:

* ``load``: W1 LSTM/GRU/SimpleRNN at b32 and b256, one training step, under four loads (idle;
  one and two ``while True`` processes started here; a second rnnkit training of the same
  workload beside it). rnnkit runs three ways, alternated round by round in one process so that
  they see the same instantaneous load: its adaptive thread and wait policies (the default), all
  threads always (the policies off: libgomp's spinning waits), and one thread. Keras 3 on JAX
  runs under the same loads.
* ``lengths``: W1 with lengths uniform in 10..200, right- and left-padded, masked (rnnkit,
  Keras) or packed (PyTorch), against the same batch fully padded (no mask, 200 steps).
* ``floor``: the floor of W1 LSTM b32 training (dependent chains of per-step products at
  measured latency, plus the products after the loop) and rnnkit's distance to it.
* ``stream``: one step of the W1 LSTM model with carried state at batch 1 (rnnkit's
  ``Streamer``, onnxruntime on the exported step model, PyTorch eager ``nn.LSTM``): p50, p99.

Each framework runs in its own process (``--worker``); results come back as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from workloads import Workload, make_data  # noqa: E402

MARK = "@@LOAD@@ "
LOAD_NAMES = ["W1 LSTM b32", "W1 GRU b32", "W1 SimpleRNN b32", "W1 LSTM b256", "W1 GRU b256",
              "W1 SimpleRNN b256"]  # fmt: skip
LOADS = ["idle", "one busy core", "two busy cores", "a second rnnkit training"]
CELLS = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "simple_rnn"}


def workload(name: str, mask: bool = False) -> Workload:
    _, label, b = name.split()[:3]
    return Workload(name, CELLS[label], int(b[1:]), 200, 3, (32, 32), 12, mask=mask)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(HERE), env.get("PYTHONPATH", "")])
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    return env


# ---------------------------------------------------------------------------------------------
# loads


@contextmanager
def load(kind: str, name: str) -> Iterator[None]:
    """Run the body under ``kind`` (one of :data:`LOADS`); ``name`` is the workload a second
    rnnkit training runs."""
    procs: list[subprocess.Popen] = []
    busy = [sys.executable, "-c", "while True: pass"]
    if kind == "one busy core":
        procs.append(subprocess.Popen(busy))
    elif kind == "two busy cores":
        procs += [subprocess.Popen(busy), subprocess.Popen(busy)]
    elif kind == "a second rnnkit training":
        cmd = [sys.executable, str(Path(__file__).resolve()), "--train-forever", name]
        proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout is not None
        proc.stdout.readline()  # "ready": compiled and warm
    try:
        time.sleep(0.3)
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def train_forever(name: str) -> None:
    from workloads import build_rnnkit

    steps = build_rnnkit(workload(name))
    for _ in range(5):
        steps.train()
    print("ready", flush=True)
    while True:
        steps.train()


# ---------------------------------------------------------------------------------------------
# timing


def step_times(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def alternate(ways: dict[str, Callable[[], Any]], rounds: int, per_round: int) -> dict[str, float]:
    """Median ms per way, the ways run round-robin (``per_round`` calls each per round)."""
    times: dict[str, list[float]] = {k: [] for k in ways}
    for _ in range(rounds):
        for k, fn in ways.items():
            times[k] += step_times(fn, per_round)
    return {k: statistics.median(v) * 1e3 for k, v in times.items()}


def emit(**rec: Any) -> None:
    print(MARK + json.dumps(rec), flush=True)


# ---------------------------------------------------------------------------------------------
# workers


def rnnkit_ways(train: Callable[[], Any], full: int) -> dict[str, Callable[[], Any]]:
    """The training step three ways: the adaptive policy, all (``full``) threads always, one
    thread."""
    import torch

    from rnnkit.kernels import _threads, _wait

    def way(threads: int, adaptive: bool) -> Callable[[], None]:
        def run() -> None:
            before = torch.get_num_threads()
            if not adaptive:
                torch.set_num_threads(threads)
            _threads.POLICY.enabled = _wait.WAIT.enabled = adaptive
            try:
                train()
            finally:
                _threads.POLICY.enabled = _wait.WAIT.enabled = True
                if not adaptive:
                    torch.set_num_threads(before)

        return run

    return {"adaptive": way(full, True), f"{full} threads": way(full, False),
            "1 thread": way(1, False)}  # fmt: skip


def worker_load(framework: str, names: list[str], rounds: int, per_round: int) -> None:
    import torch
    from workloads import build_keras, build_rnnkit

    full = torch.get_num_threads()

    built = {}
    for name in names:
        w = workload(name)
        steps = build_rnnkit(w) if framework == "rnnkit" else build_keras(w)
        for _ in range(3):
            steps.train()
        built[name] = steps
    for kind in LOADS:
        for name in names:
            train = built[name].train
            ways = rnnkit_ways(train, full) if framework == "rnnkit" else {"keras_jax": train}
            with load(kind, name):
                res = alternate(ways, rounds, per_round)
            extra = {}
            if framework == "rnnkit":
                from rnnkit.kernels import _threads

                extra["policy"] = _threads.threads_chosen()
            emit(section="load", load=kind, workload=name, ms=res, **extra)


def _lengths_data(w: Workload, side: str, seed: int = 0) -> dict[str, np.ndarray]:
    data = make_data(w, seed)
    rng = np.random.default_rng(seed + 1)
    lengths = rng.integers(10, w.time + 1, size=w.batch)
    x = data["x"]
    for b, n in enumerate(lengths):
        if side == "right":
            x[b, n:] = 0.0
        else:
            x[b, : w.time - n] = 0.0
            if side == "left-as-right":  # the same sequences right-aligned (for packing)
                x[b, :n] = x[b, w.time - n :].copy()
                x[b, n:] = 0.0
    return {"x": x, "y": data["y"], "lengths": lengths}


def worker_lengths(framework: str, names: list[str], rounds: int, per_round: int) -> None:
    from workloads import build_keras, build_rnnkit, build_torch

    def build_torch_ftz(w: Workload, data: dict[str, np.ndarray]) -> Any:
        return build_torch(w, data, flush_denormal=True)

    build = {"rnnkit": build_rnnkit, "keras_jax": build_keras, "torch": build_torch_ftz}[framework]
    for name in names:
        masked = workload(name, mask=True)
        cases: dict[str, Any] = {}
        for side in ("right", "left"):
            data = _lengths_data(masked, "left-as-right" if framework == "torch" else side)
            cases[side] = build(masked, data)
        cases["fully padded"] = build(workload(name), _lengths_data(masked, "right"))
        for phase in ("train", "infer"):
            ways = {k: getattr(v, phase) for k, v in cases.items() if not isinstance(v, str)}
            for fn in ways.values():
                for _ in range(3):
                    fn()
            res = alternate(ways, rounds, per_round)
            emit(section="lengths", workload=name, phase=phase, ms=res)


def _chain_us(rows: int, k: int, n: int, steps: int = 400) -> float:
    """Microseconds (the fastest of 15 runs) per product of a dependent chain of (rows, k) @
    (k, n) products (each product's output feeds the next one's input), with the fused kernels'
    own register-tiled product (``_nb_gemm._gemm``) in one compiled loop: no call overhead, no
    allocation."""
    import numba

    from rnnkit.kernels import _nb_gemm

    u64 = np.uint64

    @numba.njit(cache=False)
    def chain(a: np.ndarray, w: np.ndarray, out: np.ndarray, steps: int) -> None:
        rows, k = a.shape[1], a.shape[2]
        m = min(k, out.shape[2])
        for _ in range(steps):
            _nb_gemm._gemm(a, 0, u64(0), u64(k), w, out, 0, u64(0), 0, rows)
            for b in range(rows):  # the next product reads this one's output
                for j in range(m):
                    a[0, b, j] = out[0, b, j] * np.float32(0.5)

    rng = np.random.default_rng(0)
    a = rng.standard_normal((1, rows, k)).astype(np.float32) * 0.1
    w = rng.standard_normal((k, n)).astype(np.float32) * 0.1
    out = np.zeros((1, rows, n), np.float32)
    chain(a, w, out, 2)
    times = []
    for _ in range(15):
        t = time.perf_counter()
        chain(a, w, out, steps)
        times.append((time.perf_counter() - t) / steps)
    return min(times) * 1e6  # a lower bound: the fastest


def _mm_us(m: int, k: int, n: int) -> float:
    import torch

    a, b = torch.randn(k, m).T, torch.randn(k, n)
    return min(step_times(lambda: a @ b, 50)[5:]) * 1e6  # a lower bound: the fastest


def worker_floor() -> None:
    """W1 LSTM b32 training: the floor (per layer, the forward and backward per-step products as
    dependent chains at measured latency, each thread's rows on its own core, plus the products
    after the loop) and rnnkit's step."""
    import torch
    from workloads import build_rnnkit

    batch, time_, feats, units = 32, 200, 3, 32
    rows = batch // torch.get_num_threads()  # the threads split the rows: chains side by side
    parts = {}
    for layer, f in (("layer 1", feats), ("layer 2", units)):
        fwd = _chain_us(rows, units + f, 4 * units) * time_  # [h | x] @ [U; W]
        bwd = _chain_us(rows, 4 * units, units) * time_  # d gates @ U^T
        after = _mm_us(units + f + 1, time_ * batch, 4 * units)  # dU, dW, db
        if layer == "layer 2":
            after += _mm_us(time_ * batch, 4 * units, f)  # d inputs
        parts[layer] = {"forward chain": fwd, "backward chain": bwd, "after the loop": after}
    steps = build_rnnkit(workload("W1 LSTM b32"))
    for _ in range(5):
        steps.train()
    rnnkit = statistics.median(step_times(steps.train, 60)) * 1e6
    emit(section="floor", parts=parts, rnnkit_us=rnnkit)


def percentiles(times: list[float]) -> dict[str, float]:
    arr = np.asarray(times) * 1e6
    return {"p50_us": float(np.percentile(arr, 50)), "p99_us": float(np.percentile(arr, 99))}


def worker_stream(framework: str, steps: int) -> None:
    import streaming

    fn = streaming.build(framework)
    xs = np.random.default_rng(0).standard_normal((steps, 1, 3)).astype(np.float32)
    for i in range(200):
        fn(xs[i])
    times = []
    for i in range(steps):
        t = time.perf_counter()
        fn(xs[i])
        times.append(time.perf_counter() - t)
    emit(section="stream", framework=framework, **percentiles(times))


# ---------------------------------------------------------------------------------------------
# parent


def spawn(framework: str, args: list[str], timeout: float) -> list[dict]:
    env = _env()
    if framework == "keras_jax":
        env["KERAS_BACKEND"] = "jax"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", framework, *args]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        out, err = proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = f"timed out after {timeout:.0f} s"
    recs = [json.loads(line[len(MARK) :]) for line in out.splitlines() if line.startswith(MARK)]
    if not recs:
        print(f"{framework} {args[:2]}: no result: {err.strip().splitlines()[-1:]}", flush=True)
    return recs


def fmt(ms: float | None) -> str:
    return "-" if ms is None else f"{ms:.1f} ms" if ms >= 10 else f"{ms:.2f} ms"


def table_load(recs: list[dict], names: list[str]) -> list[str]:
    by = {(r["framework"], r["load"], r["workload"]): r for r in recs}
    lines = ["| workload | load | rnnkit (adaptive) | all threads, spinning | 1 thread |"
             " Keras-JAX | Keras / rnnkit | policy chose |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name in names:
        for kind in LOADS:
            r = by.get(("rnnkit", kind, name), {"ms": {}})
            k = by.get(("keras_jax", kind, name), {"ms": {}})
            ms = list(r["ms"].values()) + [None] * 3
            kj = k["ms"].get("keras_jax")
            ratio = f"{kj / ms[0]:.1f}x" if kj and ms[0] else "-"
            lines.append(
                f"| {name} | {kind} | {fmt(ms[0])} | {fmt(ms[1])} | {fmt(ms[2])} | {fmt(kj)} |"
                f" {ratio} | {r.get('policy') or '-'} |"
            )
    lines.append("")
    lines.append("Two concurrent rnnkit trainings (the 'a second rnnkit training' rows): together "
                 "2 / step time steps per second, against 1 / idle step time alone:")  # fmt: skip
    lines.append("")
    for name in names:
        idle = by.get(("rnnkit", "idle", name), {"ms": {}})["ms"].get("adaptive")
        two = by.get(("rnnkit", LOADS[3], name), {"ms": {}})["ms"].get("adaptive")
        if idle and two:
            lines.append(f"- {name}: one alone {1e3 / idle:.0f} steps/s, two together "
                         f"{2e3 / two:.0f} steps/s")  # fmt: skip
    return lines


def table_lengths(recs: list[dict], names: list[str]) -> list[str]:
    by = {(r["framework"], r["workload"], r["phase"]): r["ms"] for r in recs}
    lines = ["| workload | phase | framework | right-padded | left-padded | fully padded |"
             " padded / right | padded / left |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name in names:
        for phase in ("train", "infer"):
            for fw in ("rnnkit", "torch", "keras_jax"):
                ms = by.get((fw, name, phase))
                if not ms:
                    continue
                pad, right, left = ms.get("fully padded"), ms.get("right"), ms.get("left")
                label = "PyTorch packed (FTZ)" if fw == "torch" else fw
                r1 = f"{pad / right:.2f}x" if pad and right else "-"
                r2 = f"{pad / left:.2f}x" if pad and left else "-"
                lines.append(f"| {name} | {phase} | {label} | {fmt(right)} | {fmt(left)} | "
                             f"{fmt(pad)} | {r1} | {r2} |")  # fmt: skip
    return lines


def table_floor(rec: dict) -> list[str]:
    lines = ["| part | forward chain | backward chain | after the loop |", "|---|---|---|---|"]
    total = 0.0
    for layer, p in rec["parts"].items():
        total += sum(p.values())
        lines.append(f"| {layer} | {p['forward chain']:.0f} us | {p['backward chain']:.0f} us | "
                     f"{p['after the loop']:.0f} us |")  # fmt: skip
    lines += ["", f"Floor: {total / 1e3:.2f} ms per training step; rnnkit: "
              f"{rec['rnnkit_us'] / 1e3:.2f} ms ({rec['rnnkit_us'] / total:.2f}x the floor)."]
    return lines


def table_stream(recs: list[dict]) -> list[str]:
    lines = ["| framework | p50 | p99 |", "|---|---|---|"]
    for r in recs:
        lines.append(f"| {r['framework']} | {r['p50_us']:.1f} us | {r['p99_us']:.1f} us |")
    return lines


def write_section(path: Path, name: str, text: str) -> None:
    """Replace (or append) section ``name``'s block of ``path``."""
    begin, end = f"<!-- bench/load.py {name} begin -->", f"<!-- bench/load.py {name} end -->"
    old = path.read_text() if path.exists() else ""
    block = f"{begin}\n{text}\n{end}"
    if begin in old and end in old:
        new = old[: old.index(begin)] + block + old[old.index(end) + len(end) :]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(new)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sections", default="load,lengths,floor,stream")
    ap.add_argument("--quick", action="store_true", help="fewer workloads and rounds")
    ap.add_argument("--write", type=Path, help="replace these sections of a markdown file")
    ap.add_argument("--worker")
    ap.add_argument("--task", default="load")
    ap.add_argument("--names", default="[]")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--per-round", type=int, default=6)
    ap.add_argument("--train-forever")
    a = ap.parse_args(argv)
    if a.train_forever:
        train_forever(a.train_forever)
        return 0
    names = json.loads(a.names)
    if a.worker:
        if a.task == "load":
            worker_load(a.worker, names, a.rounds, a.per_round)
        elif a.task == "lengths":
            worker_lengths(a.worker, names, a.rounds, a.per_round)
        elif a.task == "floor":
            worker_floor()
        else:
            worker_stream(a.worker, a.rounds)
        return 0
    return run_parent(a)


def section_load(quick: bool, rounds: int, per: int) -> list[str]:
    names = LOAD_NAMES[:1] + LOAD_NAMES[3:4] if quick else LOAD_NAMES
    recs = []
    for fw in ("rnnkit", "keras_jax"):
        args = ["--task", "load", "--names", json.dumps(names), "--rounds", str(rounds),
                "--per-round", str(per)]  # fmt: skip
        recs += [{"framework": fw, **r} for r in spawn(fw, args, 600)]
    return ["### Training step under load (median per step; the three rnnkit ways alternated "
            "round by round)", "", *table_load(recs, names)]  # fmt: skip


def section_lengths(quick: bool, rounds: int, per: int) -> list[str]:
    names = ["W1 LSTM b32"] if quick else ["W1 LSTM b32", "W1 GRU b32"]
    recs = []
    for fw in ("rnnkit", "torch", "keras_jax"):
        args = ["--task", "lengths", "--names", json.dumps(names), "--rounds", str(rounds),
                "--per-round", str(per)]  # fmt: skip
        recs += [{"framework": fw, **r} for r in spawn(fw, args, 600)]
    return ["### Masked batches, lengths uniform in 10..200 (median per call)", "",
            *table_lengths(recs, names)]  # fmt: skip


def section_floor(quick: bool, rounds: int, per: int) -> list[str]:
    recs = spawn("rnnkit", ["--task", "floor"], 300)
    if not recs:
        return ["### Floor of W1 LSTM b32 training: no result"]
    return ["### Floor of W1 LSTM b32 training (2 layers of 32 units, 200 steps)", "",
            "Each layer's per-step products form a dependent chain (step t + 1 needs step t's "
            "state); measured here as one compiled loop of the fused kernels' own register-tiled "
            "(rows, k) @ (k, n) product whose output feeds the next, times 200 steps, with the "
            "batch rows split over torch's threads as the kernels split them (each thread's "
            "chain on its own core), plus the products after the loop (weight gradients; the "
            "input gradient of layer 2) at torch's measured speed. The gates, the optimizer, the "
            "loss and every per-call cost are left out: a lower bound.", "",
            *table_floor(recs[0])]  # fmt: skip


def section_stream(quick: bool, rounds: int, per: int) -> list[str]:
    recs = []
    for fw in ("rnnkit", "onnxruntime", "torch"):
        args = ["--task", "stream", "--rounds", "2000" if quick else "10000"]
        recs += [{"framework": fw, **r} for r in spawn(fw, args, 300)]
    return ["### Streaming: one step of the W1 LSTM model at batch 1, state carried", "",
            *table_stream(recs)]  # fmt: skip


SECTIONS = {"load": section_load, "lengths": section_lengths, "floor": section_floor,
            "stream": section_stream}  # fmt: skip


def run_parent(a: argparse.Namespace) -> int:
    rounds, per = (3, 4) if a.quick else (a.rounds, a.per_round)
    stamp = (f"bench/load.py{' --quick' if a.quick else ''}: {platform.machine()}, "
             f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    for name in a.sections.split(","):
        if name not in SECTIONS:
            raise SystemExit(f"expected sections among {sorted(SECTIONS)}, got {name!r}")
        lines = SECTIONS[name](a.quick, rounds, per)
        text = "\n".join([lines[0], "", f"({stamp}.)", *lines[1:], ""])
        print(text, flush=True)
        if a.write:
            write_section(a.write, name, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
