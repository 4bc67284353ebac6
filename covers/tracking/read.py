"""Working with logged runs: compare them, and reproduce one. Uses MLflow's search API only.

(``covers.tracking`` writes runs; this module reads them. Evaluation imports neither.)
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from covers.config import is_result_key  # noqa: E402

DEFAULT_METRICS = ["user_auc", "user_auc_lo", "user_auc_hi", "thumbs_auc", "coverage", "thumbs_auc_random",
                   "thumbs_auc_popularity", "user_auc_popularity", "index_recall_at_10", "genre_precision_at_10"]
TIMING_MARKERS = ("seconds", "_ms_", "_qps", "peak_memory")  # measured speed and memory: never compared as results


def runs_frame(uri: str, experiment: str | None = None, parent_id: str | None = None,
               run_ids: list[str] | None = None) -> pd.DataFrame:
    """Job runs as a DataFrame: all of an experiment, the children of a sweep's parent run,
    or the given run ids (a resumed sweep's jobs include runs finished by an earlier sweep)."""
    client = MlflowClient(uri)
    mlflow.set_tracking_uri(uri)
    if parent_id or run_ids:
        exp_ids = [client.get_run(parent_id or run_ids[0]).info.experiment_id]
        flt = (f"tags.`mlflow.parentRunId` = '{parent_id}'" if parent_id
               else "attributes.run_id IN (" + ",".join(f"'{r}'" for r in run_ids) + ")")
    else:
        exp = client.get_experiment_by_name(experiment or "covers")
        if exp is None:
            raise ValueError(f"no experiment named {experiment!r} in {uri}")
        exp_ids, flt = [exp.experiment_id], ""
    df = mlflow.search_runs(experiment_ids=exp_ids, filter_string=flt, max_results=50000)
    if not df.empty and "tags.covers.kind" in df:
        df = df[df["tags.covers.kind"].fillna("") != "sweep"]
    return df


def swept_params(df: pd.DataFrame) -> list[str]:
    """Params whose values differ between the runs (what the sweep varied): the command-line
    overrides (``override.*``) when the runs have them, else any config value."""
    cols = [c for c in df.columns if c.startswith("params.")]
    varying = [c[len("params."):] for c in cols if df[c].astype(str).nunique(dropna=False) > 1]
    chosen = [p for p in varying if p.startswith("override.")]
    return chosen or varying


def comparison_table(df: pd.DataFrame, metrics: list[str] | None = None, sort: str | None = "user_auc",
                     ascending: bool = False) -> pd.DataFrame:
    metrics = [m for m in (metrics or DEFAULT_METRICS) if f"metrics.{m}" in df]
    params = swept_params(df)
    out = pd.DataFrame({"run_id": df["run_id"].str[:8], "run": df.get("tags.mlflow.runName"), "status": df["status"]})
    for p in params:
        out[p] = df[f"params.{p}"].to_numpy()
    for m in metrics:
        out[m] = df[f"metrics.{m}"].to_numpy()
    if sort:
        if sort not in out:
            if sort != "user_auc":  # asked for explicitly
                raise ValueError(f"cannot sort by {sort!r}: columns are {list(out.columns)}")
        else:
            out = out.sort_values(sort, ascending=ascending, kind="stable", na_position="last")
    return out.reset_index(drop=True)


def _as_number(values: pd.Series):
    try:
        return pd.to_numeric(values), True
    except (ValueError, TypeError):
        return values.fillna("(unset)").astype(str), False


def sweep_chart(df: pd.DataFrame, path: Path, metric: str = "user_auc") -> Path | None:
    """One panel per swept parameter: the metric of every run against that parameter's value."""
    params = [p for p in swept_params(df) if is_result_key(p.removeprefix("override."))]
    if not params or f"metrics.{metric}" not in df:
        return None
    n = len(params)
    cols = min(n, 3)
    fig, axes = plt.subplots(math.ceil(n / cols), cols, figsize=(4 * cols, 3.2 * math.ceil(n / cols)), squeeze=False)
    y = df[f"metrics.{metric}"]
    lo, hi = df.get(f"metrics.{metric}_lo"), df.get(f"metrics.{metric}_hi")
    for ax, p in zip(axes.ravel(), params):
        x, numeric = _as_number(df[f"params.{p}"])
        if not numeric:
            cats = sorted(set(x))
            x = x.map({c: i for i, c in enumerate(cats)})
            ax.set_xticks(range(len(cats)), [c.rsplit(".", 1)[-1][:14] for c in cats], rotation=20, fontsize=7)
        if lo is not None and hi is not None:
            ax.errorbar(x, y, yerr=[y - lo, hi - y], fmt="o", capsize=3, lw=1)
        else:
            ax.plot(x, y, "o")
        ax.axhline(0.5, color="k", ls="--", lw=0.8)
        ax.set_xlabel(p, fontsize=8)
        ax.set_ylabel(metric)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def is_timing(metric: str) -> bool:
    return any(t in metric for t in TIMING_MARKERS)


def run_scores(uri: str, run_id: str) -> pd.DataFrame:
    """A logged run's per-test-thumb scores (its ``scores.parquet`` artifact)."""
    import mlflow

    return pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="scores.parquet",
                                                               tracking_uri=uri))
