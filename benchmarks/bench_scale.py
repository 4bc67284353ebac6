"""End-to-end scale benchmark: features -> index -> evaluation at 10k, 100k and 1M covers.

    python benchmarks/bench_scale.py                          # 10k, 100k, 1M x pixel 16, GIST 32
    python benchmarks/bench_scale.py --sizes 10000 100000 --features pixel
    python benchmarks/bench_scale.py --work /tmp/covers-bench --keep   # keep caches (default: deleted)

Every configuration is one ``python run.py ...`` (the real CLI, default config apart from the
overrides printed in the table) on the procedural synthetic world of that size, with cold
feature and index caches (the world itself is generated once per size beforehand, timed
separately). Each runs under a fresh measuring process that reports, for the whole process
tree (the job, its isolated work process, extraction and query workers):

* wall time;
* CPU time, user + sys: ``getrusage(RUSAGE_CHILDREN)`` after the tree has exited, or the
  sampled sum over live processes (psutil: own + reaped children) if that is larger
  (processes forked by a forkserver are reaped by it, which the kernel counts only when the
  forkserver itself is waited for);
* peak memory: the sampled (every 0.5 s) peak of the tree's summed PSS (proportional set
  size: shared pages split between the processes sharing them, so forked workers and the
  shared mmapped matrix and index are not double counted) and of the largest single process's
  RSS; ``ru_maxrss`` of RUSAGE_CHILDREN is recorded too (scale.json) but only reaches the
  job's main process, since the work runs in a forkserver child;
* the sampled peak of the tree's summed anonymous resident memory (RssAnon: heap and arrays,
  not the file-backed pages of the memory-mapped feature matrix and index, which the kernel can
  drop and re-read: the goal's "flat apart from the memmapped matrix and index");
* a timeline (every 2 s: seconds, tree PSS MiB, anon MiB, tree CPU seconds) in scale.json, to see which
  phase holds the memory.

Results go to ``benchmarks/results/scale.md`` (a markdown table) and ``scale.json``. The
caches and MLflow store live under ``--work`` (default ``/tmp/covers-bench``), not the repo,
and are deleted per size unless ``--keep``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FEATURES = {"pixel": ["features=pixel", "features.size=16"], "gist": ["features=gist", "features.size=32"]}
COMMON = ["baselines=simple", "dataset.n_users=null"]
GOALS = {"pixel": (600, 3 << 30), "gist": (1200, 8 << 30)}  # at 1M: seconds, bytes


def tree(pid: int):
    import psutil

    try:
        p = psutil.Process(pid)
        return [p] + p.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def rss_anon(pid: int) -> float:
    """Resident anonymous memory of a process (heap, arrays): RssAnon in /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return float(line.split()[1]) * 1024
    return 0.0


def sample(pid: int, stop: threading.Event, out: dict) -> None:
    import psutil

    while not stop.is_set():
        cpu = pss = rss = anon = 0.0
        n = 0
        for p in tree(pid):
            try:
                t = p.cpu_times()
                cpu += t.user + t.system + t.children_user + t.children_system
                m = p.memory_full_info()
                pss += m.pss
                rss = max(rss, m.rss)
                anon += rss_anon(p.pid)
                n += 1
            except (psutil.NoSuchProcess, psutil.AccessDenied, FileNotFoundError, ProcessLookupError):
                pass
        out["cpu"] = max(out.get("cpu", 0.0), cpu)
        out["pss"] = max(out.get("pss", 0.0), pss)
        out["anon"] = max(out.get("anon", 0.0), anon)
        out["rss1"] = max(out.get("rss1", 0.0), rss)
        out["procs"] = max(out.get("procs", 0), n)
        out.setdefault("timeline", []).append((round(time.perf_counter() - out.setdefault("t0", time.perf_counter()), 1),
                                               round(pss / (1 << 20)), round(anon / (1 << 20)), round(cpu, 1)))
        stop.wait(0.5)


def measure(cmd: list[str], log: Path, env: dict) -> dict:
    """Run ``cmd`` (in this fresh process) and measure its tree."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
        stop, out = threading.Event(), {}
        th = threading.Thread(target=sample, args=(proc.pid, stop, out), daemon=True)
        th.start()
        code = proc.wait()
        stop.set()
        th.join()
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_ru = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {"returncode": code, "wall": wall, "cpu": max(cpu_ru, out.get("cpu", 0.0)), "cpu_rusage": cpu_ru,
            "cpu_sampled": out.get("cpu", 0.0), "maxrss_children": r1.ru_maxrss * 1024,
            "peak_pss_tree": out.get("pss", 0.0), "peak_rss_one": out.get("rss1", 0.0), "max_procs": out.get("procs", 0),
            "peak_anon_tree": out.get("anon", 0.0),
            "timeline_s_pssMiB_anonMiB_cpus": out.get("timeline", [])[::4]}  # every 2 s


def one(args) -> None:
    """--one: measure one command; print the JSON line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = measure(json.loads(args.one), Path(args.log), env)
    print("RESULT " + json.dumps(res))


def run_measured(cmd: list[str], log: Path) -> dict:
    p = subprocess.run([sys.executable, __file__, "--one", json.dumps(cmd), "--log", str(log)],
                       capture_output=True, text=True)
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if not line:
        raise RuntimeError(f"measurement failed: {p.stderr[-2000:]}")
    return json.loads(line[-1][len("RESULT "):])


def gib(b: float) -> str:
    return f"{b / (1 << 30):.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--features", nargs="+", default=["pixel", "gist"], choices=sorted(FEATURES))
    ap.add_argument("--work", default="/tmp/covers-bench")
    ap.add_argument("--keep", action="store_true", help="keep the caches (default: delete each size's after it)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--extra", nargs="*", default=[], help="more overrides for every run")
    ap.add_argument("--table-only", action="store_true", help="re-render scale.md from scale.json")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--log", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        return one(args)
    if args.table_only:
        out = Path(args.out)
        return write_table(json.loads((out / "scale.json").read_text()), out / "scale.md", os.getloadavg())

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jpath = out / "scale.json"
    rows = json.loads(jpath.read_text()) if jpath.exists() else []
    load = os.getloadavg()
    for n in args.sizes:
        base = work / f"n{n}"
        worlds = base / "worlds"
        worlds.mkdir(parents=True, exist_ok=True)
        # the world, once per size (timed on its own): generated by loading the dataset
        gen = [sys.executable, "-c", (
            "import sys; from covers.data.world import SyntheticWorld; "
            f"ds = SyntheticWorld(n_items={n}, n_users=None).load(sys.argv[1]); print(ds.stats())"), str(base)]
        w = run_measured(gen, base / "world.log")
        print(f"[bench] world n={n}: {w['wall']:.1f}s", flush=True)
        for feat in args.features:
            cache = base / f"cache-{feat}"
            shutil.rmtree(cache, ignore_errors=True)
            cache.mkdir(parents=True)
            os.symlink(worlds, cache / "worlds")
            overrides = [f"dataset.n_items={n}", *COMMON, *FEATURES[feat], *args.extra]
            cmd = [sys.executable, "run.py", *overrides, f"paths.cache_dir={cache}",
                   f"tracking.uri=sqlite:///{work}/mlflow.db", f"hydra.run.dir={base}/run-{feat}"]
            print(f"[bench] {feat} n={n}: {' '.join(overrides)}", flush=True)
            t_load = os.getloadavg()
            m = run_measured(cmd, base / f"run-{feat}.log")
            res = {}
            rj = base / f"run-{feat}" / "result.json"
            if rj.exists():
                res = json.loads(rj.read_text())
            met = res.get("metrics", {})
            row = {"n": n, "features": feat, "overrides": overrides, "status": res.get("status", "NO RESULT"),
                   "error": res.get("error"), **m, "world_seconds": w["wall"], "loadavg_before": t_load,
                   "loadavg_after": os.getloadavg(),
                   **{k: met.get(k) for k in ("features_seconds", "index_build_seconds", "index_neighbours_seconds",
                                              "evaluation_seconds", "run_seconds", "index_size_bytes",
                                              "index_recall_at_10", "user_auc", "coverage", "data_n_thumbs",
                                              "data_n_users", "feature_dim")}}
            rows = [r for r in rows if (r["n"], r["features"]) != (n, feat)] + [row]
            jpath.write_text(json.dumps(rows, indent=1))
            print(f"[bench] {feat} n={n}: {row['status']} wall {m['wall']:.0f}s cpu {m['cpu']:.0f}s "
                  f"peak PSS {gib(m['peak_pss_tree'])} GiB, max RSS {gib(m['maxrss_children'])} GiB", flush=True)
            write_table(rows, out / "scale.md", load)
            if not args.keep:
                shutil.rmtree(cache, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    write_table(rows, out / "scale.md", load)


def write_table(rows: list[dict], path: Path, load) -> None:
    import psutil

    rows = sorted(rows, key=lambda r: (r["features"], r["n"]))
    lines = [
        "# Scale benchmark: features -> index -> evaluation, end to end",
        "",
        f"`python benchmarks/bench_scale.py` on {platform.node()}: {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / (1 << 30):.0f} GiB, Python {platform.python_version()}. "
        "**Shared, noisy machine**: other engineers' test suites (and a headless browser) ran at the same "
        "time, so wall times are upper bounds; the load average (1 min) before/after each run is listed.",
        "",
        "Each row: `python run.py dataset.n_items=N dataset.n_users=null baselines=simple <features>` on the "
        "procedural synthetic world (cold feature and index caches; the world generated beforehand, its time in "
        "`world s`). Default config otherwise: norm=zscore, index=annoy (10 trees, build_threads 1, "
        "search_k -1), scorer=knn (k=50: neighbours of all N items), split=user_holdout, recall on 500 "
        "sampled queries. `baselines=simple` (random, popularity, user_mean, oracle) keeps the table about "
        "the cover pipeline; the CF baselines are timed separately.",
        "",
        "CPU = user+sys of the whole process tree. Peak PSS = sampled (0.5 s) peak of the tree's summed "
        "proportional set size (shared pages split, so forked workers and the mmapped matrix/index count "
        "once): all the memory the run touched, including the page-cache pages of the memory-mapped "
        "feature matrix and index it had resident. Peak anon = sampled peak of the tree's summed anonymous "
        "resident memory (RssAnon: arrays and heap, without those file-backed pages, which the kernel can "
        "drop and re-read). Max RSS 1 proc = sampled peak resident set of the largest single "
        "process (file-backed mmapped pages included). `ru_maxrss` of RUSAGE_CHILDREN only sees the job's "
        "main process here (0.28 GiB in every row): the work runs in a forkserver child (job isolation), "
        "which the kernel's children accounting reaches only through the forkserver, so it is not in the table.",
        "",
        "| features | covers | users / thumbs | status | wall s | CPU s | peak PSS GiB | peak anon GiB | max RSS 1 proc GiB | world s "
        "| extract s | index build s | neighbours s | eval s | index MiB | recall@10 | user_auc | load avg |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]

    def f(v, fmt="{:.0f}"):
        return "" if v is None else fmt.format(v)

    for r in rows:
        lines.append(
            f"| {r['features']} | {r['n']:,} | {f(r.get('data_n_users'), '{:,.0f}')} / {f(r.get('data_n_thumbs'), '{:,.0f}')} "
            f"| {r['status']} | {r['wall']:.0f} | {r['cpu']:.0f} | {gib(r['peak_pss_tree'])} "
            f"| {gib(r['peak_anon_tree']) if 'peak_anon_tree' in r else ''} | {gib(r['peak_rss_one'])} "
            f"| {r['world_seconds']:.0f} | {f(r.get('features_seconds'))} | {f(r.get('index_build_seconds'))} "
            f"| {f(r.get('index_neighbours_seconds'))} | {f(r.get('evaluation_seconds'))} "
            f"| {f((r.get('index_size_bytes') or 0) / (1 << 20) if r.get('index_size_bytes') else None)} "
            f"| {f(r.get('index_recall_at_10'), '{:.3f}')} | {f(r.get('user_auc'), '{:.3f}')} "
            f"| {r['loadavg_before'][0]:.1f} -> {r['loadavg_after'][0]:.1f} |")
    lines += ["", "Goals at 1M: pixel < 600 s and < 3 GiB; GIST 32 < 1200 s and < 8 GiB."]
    for r in rows:
        if r["n"] == 1_000_000 and r["features"] in GOALS:
            t, m = GOALS[r["features"]]
            lines.append(f"- {r['features']} 1M: wall {r['wall']:.0f} s ({'met' if r['wall'] < t else 'NOT met'}), "
                         f"peak PSS {gib(r['peak_pss_tree'])} GiB ({'met' if r['peak_pss_tree'] < m else 'NOT met'}), "
                         f"peak anonymous {gib(r.get('peak_anon_tree', float('nan')))} GiB "
                         f"({'met' if r.get('peak_anon_tree', m) < m else 'NOT met'})")
    for r in rows:
        if r.get("error"):
            lines.append(f"- {r['features']} {r['n']:,} failed: {r['error']}")
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
