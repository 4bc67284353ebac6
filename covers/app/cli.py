"""``python -m covers <command>``: the harness's commands besides ``run.py``.

    reproduce RUN_ID    re-run a logged run (or every job of a sweep) and compare metrics
    compare             table of an experiment's or a sweep's runs; --chart writes the sweep chart
    paired RUN_A RUN_B  the cover method of one run minus another's, on the same test thumbs
    cache info|clear    size of the feature/index/world cache, or empty it
    validate DIR        check a folder-format dataset before a long run
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from covers.tracking import resolve_uri
from covers.utils import PROJECT_ROOT

DEFAULT_CACHE = PROJECT_ROOT / ".cache"


def _uri_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tracking-uri", default=None,
                   help="MLflow store (default: $MLFLOW_TRACKING_URI, else sqlite:///<project>/mlflow.db)")


def cmd_reproduce(a: argparse.Namespace) -> int:
    from covers.app.task import run_job
    from covers.tracking.reproduce import reproduce

    outs = reproduce(resolve_uri(a.tracking_uri), a.run_id, run_job, allow_mismatch=a.allow_mismatch,
                     fresh_cache=a.fresh_cache)
    if any(o.mismatches and not a.allow_mismatch for o in outs):
        return 3
    return 1 if any(o.differing or o.new_run_id is None for o in outs) else 0


def cmd_compare(a: argparse.Namespace) -> int:
    import pandas as pd

    from covers.tracking.read import comparison_table, runs_frame, sweep_chart

    df = runs_frame(resolve_uri(a.tracking_uri), a.experiment, a.sweep)
    if df.empty:
        print("no runs found")
        return 1
    table = comparison_table(df, a.metrics.split(",") if a.metrics else None, a.sort, a.ascending)
    with pd.option_context("display.max_columns", None, "display.width", 250, "display.max_colwidth", 60):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if a.csv:
        table.to_csv(a.csv, index=False)
        print(f"wrote {a.csv}")
    if a.chart:
        path = sweep_chart(df, Path(a.chart), a.chart_metric)
        print(f"wrote {path}" if path else "no swept parameter to chart")
    return 0


def cmd_paired(a: argparse.Namespace) -> int:
    from covers.evaluation.evaluate import paired_runs
    from covers.tracking.read import run_scores

    uri = resolve_uri(a.tracking_uri)
    frames = []
    for run_id in (a.run_a, a.run_b):
        try:
            frames.append(run_scores(uri, run_id))
        except Exception as exc:  # MLflow raises several types for a wrong id or a run without the file
            print(f"error: run {run_id!r} has no scores.parquet in {uri}: {type(exc).__name__}: {str(exc)[:200]}")
            return 2
    try:
        r = paired_runs(frames[0], frames[1], n_boot=a.n_boot, seed=a.seed)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    print(f"user_auc {r['user_auc_first']:.4f} ({a.run_a}) minus {r['user_auc_second']:.4f} ({a.run_b}) over "
          f"{r['users']} users: {r['diff_user_auc']:+.4f} [95% CI {r['diff_lo']:+.4f}, {r['diff_hi']:+.4f}], "
          f"p = {r['p']:.2g} (Wilcoxon over users only: {r['wilcoxon_p']:.2g})")
    return 0


def _size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def cmd_cache(a: argparse.Namespace) -> int:
    root = Path(a.cache_dir)
    if not root.exists():
        print(f"{root}: no cache")
        return 0
    if a.action == "info":
        total = 0
        for kind in sorted(p for p in root.iterdir() if p.is_dir()):
            n = sum(1 for f in kind.iterdir() if not f.name.endswith(".lock"))  # locks are not entries
            size = _size(kind)
            total += size
            print(f"{kind.name:12s} {n:6d} entries {size / 2**20:10.1f} MiB")
        print(f"{'total':12s} {'':6s}         {total / 2**20:10.1f} MiB  ({root})")
        return 0
    kinds = [root / k for k in a.kind] if a.kind else [p for p in root.iterdir() if p.is_dir()]
    for k in kinds:
        if k.exists():
            size = _size(k)
            shutil.rmtree(k)
            print(f"removed {k} ({size / 2**20:.1f} MiB)")
    return 0


def cmd_validate(a: argparse.Namespace) -> int:
    from covers.app import validate

    return validate.main(a.rest)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m covers", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("reproduce", help="re-run a logged run or sweep and compare its metrics")
    r.add_argument("run_id")
    r.add_argument("--allow-mismatch", action="store_true", help="rerun even if code, packages or data differ")
    r.add_argument("--fresh-cache", action="store_true", help="recompute features and index instead of using the cache")
    _uri_arg(r)
    r.set_defaults(fn=cmd_reproduce)

    c = sub.add_parser("compare", help="table of runs: swept params and metrics")
    c.add_argument("--experiment", default="covers")
    c.add_argument("--sweep", default=None, help="parent run id of a sweep (its jobs only)")
    c.add_argument("--sort", default="user_auc")
    c.add_argument("--ascending", action="store_true")
    c.add_argument("--metrics", default=None, help="comma-separated metric names")
    c.add_argument("--csv", default=None)
    c.add_argument("--chart", default=None, help="write the metric-vs-parameter chart to this PNG")
    c.add_argument("--chart-metric", default="user_auc")
    _uri_arg(c)
    c.set_defaults(fn=cmd_compare)

    p = sub.add_parser("paired", help="one run's cover method minus another's on the same test thumbs")
    p.add_argument("run_a")
    p.add_argument("run_b")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    _uri_arg(p)
    p.set_defaults(fn=cmd_paired)

    k = sub.add_parser("cache", help="show the cache's size or clear it")
    k.add_argument("action", choices=["info", "clear"])
    k.add_argument("--cache-dir", default=str(DEFAULT_CACHE))
    k.add_argument("--kind", action="append", help="clear only this kind (features, index, worlds, ...)")
    k.set_defaults(fn=cmd_cache)

    v = sub.add_parser("validate", help="check a folder-format dataset", add_help=False)
    v.add_argument("rest", nargs=argparse.REMAINDER)
    v.set_defaults(fn=cmd_validate)

    a = ap.parse_args(argv)
    return a.fn(a)

