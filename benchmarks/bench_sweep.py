"""One sweep, several launchers: wall time of the same 16 jobs run one at a time, through Hydra's
joblib launcher, and as Ray tasks (cluster=ray, Ray started for the sweep).

    python benchmarks/bench_sweep.py --launchers sequential joblib ray --parallel 2

The sweep is ``index.n_trees=1..8 x norm=zscore,l2`` on a 1000-cover synthetic world with the
simple baselines. A warm-up run first generates the world and fills the feature cache, so every
launcher measures the same work: 16 index builds, evaluations and MLflow runs. Each launcher
gets a fresh SQLite store. Printed per launcher: wall time, its ratio to sequential, how many
runs FINISHED, and the peak RSS of the largest process in the sweep's process tree
(``ru_maxrss`` from ``wait4``; processes are not summed).
Compare ratios within one run: the machine is shared.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ["index.n_trees=1,2,3,4,5,6,7,8", "norm=zscore,l2"]
TO_REMOVE: list[str] = []


def launcher_args(name: str, parallel: int) -> list[str]:
    if name == "sequential":
        return []
    if name == "joblib":
        return ["cluster=local_parallel", f"hydra.launcher.n_jobs={parallel}"]
    if name == "ray":
        ray_tmp = tempfile.mkdtemp(prefix="covers-ray-")  # Ray's socket paths must stay short
        TO_REMOVE.append(ray_tmp)
        return ["cluster=ray", f"hydra.launcher.ray.init.num_cpus={parallel}",
                f"+hydra.launcher.ray.init._temp_dir={ray_tmp}"]
    raise ValueError(f"unknown launcher {name!r}: sequential, joblib or ray")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--launchers", nargs="+", default=["sequential", "joblib", "ray"])
    ap.add_argument("--parallel", type=int, default=2, help="jobs at once for joblib / CPUs for Ray")
    ap.add_argument("--items", type=int, default=1000)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="covers-bench-sweep-"))
    base = [sys.executable, "run.py", "-m", f"dataset.n_items={a.items}", "baselines=simple",
            f"paths.cache_dir={tmp}/cache"]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    # warm-up: the world and the features, cached for every launcher below
    subprocess.run(base + [f"tracking.uri=sqlite:///{tmp}/warm.db", f"hydra.sweep.dir={tmp}/warm", "index.n_trees=1"],
                   cwd=ROOT, check=True, capture_output=True, env=env)
    print(f"16-job sweep ({' x '.join(SWEEP)}) on a {a.items}-cover world, {os.cpu_count()} cores, "
          f"parallel={a.parallel}")
    print(f"{'launcher':<12}{'wall s':>9}{'vs seq':>8}{'finished':>10}{'max RSS MB':>12}")
    seq = None
    for name in a.launchers:
        sweep_dir = tmp / f"sweep-{name}"
        cmd = base + [f"tracking.uri=sqlite:///{tmp}/{name}.db", f"hydra.sweep.dir={sweep_dir}",
                      *SWEEP, *launcher_args(name, a.parallel)]
        t0 = time.perf_counter()
        with open(tmp / f"{name}.log", "w") as log:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
            _, status, usage = os.wait4(proc.pid, 0)  # rusage of this sweep's process tree only
        wall = time.perf_counter() - t0
        code = proc.returncode = os.waitstatus_to_exitcode(status)
        results = [json.loads(f.read_text()) for f in sweep_dir.glob("*/result.json")]
        finished = sum(r["status"] == "FINISHED" for r in results)
        if code != 0:
            print(f"{name}: exit {code}, see {tmp / (name + '.log')}", file=sys.stderr)
        seq = wall if name == "sequential" else seq
        ratio = f"{seq / wall:.2f}x" if seq else "-"
        rss = usage.ru_maxrss / 1024
        print(f"{name:<12}{wall:>9.1f}{ratio:>8}{finished:>7}/16{rss:>12.0f}", flush=True)
    for d in TO_REMOVE:
        shutil.rmtree(d, ignore_errors=True)
    print(f"(outputs and logs under {tmp}; remove it when done)")


if __name__ == "__main__":
    main()
