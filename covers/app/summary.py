"""One screen at the end of a sweep: each job's AUCs, failures, and where to look."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from covers.tracking.write import ui_command

#: user_auc first, with the baselines' user_auc beside it; thumbs_auc only next to user_mean's,
#: the baseline that shows what it rewards (knowing who is generous, without any cover)
SHOWN = ["user_auc", "user_auc_lo", "user_auc_hi", "user_auc_random", "user_auc_popularity", "user_auc_oracle",
         "coverage", "thumbs_auc", "thumbs_auc_user_mean", "index_recall_at_10", "index_qps_single", "recall_at_10",
         "down_at_10"]


def sweep_table(sweep_dir: Path) -> tuple[pd.DataFrame, list[dict]]:
    rows, results = [], []
    for p in sorted(sweep_dir.glob("*/result.json"), key=lambda p: (len(p.parent.name), p.parent.name)):
        r = json.loads(p.read_text())
        results.append(r)
        row: dict[str, Any] = {"job": p.parent.name, "run": r["name"], "status": r["status"]}
        for k in SHOWN:
            if k in r.get("metrics", {}):
                row[k] = r["metrics"][k]
        row["seconds"] = r.get("seconds")
        rows.append(row)
    return pd.DataFrame(rows), results


def render(sweep_dir: Path) -> tuple[str, int]:
    table, results = sweep_table(sweep_dir)
    if table.empty:
        return f"[covers] no job results under {sweep_dir}", 0
    lines = [f"[covers] sweep {sweep_dir}", table.to_string(index=False, float_format=lambda v: f"{v:.4f}")]
    # RUNNING at the end: the job's process vanished without anyone recording how it ended
    failed = [r for r in results if r["status"] in ("FAILED", "KILLED", "RUNNING")]
    skipped = [r for r in results if r["status"] == "SKIPPED"]
    if skipped:
        lines.append(f"  {len(skipped)} job(s) skipped: already FINISHED with the same config and code (resume=false reruns them)")
    for r in failed:
        why = r.get("error") or f"its process was lost while the job ran (MLflow run {r.get('run_id')})"
        lines.append(f"  {r['status']} {r['name']}: {why}")
    flagged = [r["name"] for r in results if r["status"] in ("FINISHED", "SKIPPED")
               and r["metrics"].get("thumbs_auc_user_mean", 0) > r["metrics"]["thumbs_auc"]]
    if flagged:
        lines.append("  note: the user_mean baseline (knows only who is generous) beats the cover method on global "
                     f"thumbs_auc in {len(flagged)} run(s); judge by user_auc, which it cannot game.")
    uris = sorted({r["tracking_uri"] for r in results})
    lines.append("  browse: " + " ; ".join(ui_command(u) for u in uris))
    return "\n".join(lines), len(failed)


def index_charts(df: pd.DataFrame, sweep_dir: Path) -> list[Path]:
    """The ann-benchmarks view of the sweep's runs (recall vs QPS per index family) and what the
    index's recall costs the cover method (user_auc, recommendations' recall vs recall)."""
    from covers.evaluation.plots import auc_recall, recall_qps

    cols = {"tags.covers.index_family": "family", "metrics.index_recall_at_10": "recall",
            "metrics.index_qps_single": "qps_single", "metrics.index_qps_batched": "qps_batched",
            "metrics.user_auc": "user_auc", "metrics.user_auc_lo": "user_auc_lo", "metrics.user_auc_hi": "user_auc_hi",
            "metrics.recall_at_10": "rec_recall"}
    if not all(c in df for c in list(cols)[:5]):
        return []  # runs from before indexes reported their speed: nothing to draw
    runs = df[[c for c in cols if c in df]].rename(columns=cols).dropna(subset=["family", "recall", "qps_single"])
    if runs.empty:
        return []
    return [recall_qps(sweep_dir / "index_recall_qps.png", runs), auc_recall(sweep_dir / "index_user_auc_recall.png", runs)]


class SweepSummary(Callback):
    """Opens the sweep's parent MLflow run before the jobs, and closes it with the comparison
    table and the metric-vs-parameter chart after them; prints the one-screen summary."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from covers.tracking import write as tracking
        from covers.app.task import PARENT_FILE

        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        uri = tracking.resolve_uri(config.tracking.uri)
        overrides = list(config.hydra.overrides.task)
        parent = tracking.start_parent(uri, config.tracking.experiment, sweep_dir, overrides)
        (sweep_dir / PARENT_FILE).write_text(parent)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        text, n_failed = render(sweep_dir)
        try:
            parent_note = self._close_parent(config, sweep_dir, n_failed)
        except Exception as exc:  # noqa: BLE001 - the summary and the exit status matter more
            parent_note = f"\n  could not finish the sweep's parent run: {type(exc).__name__}: {exc}"
        print(text + parent_note)
        if n_failed:
            sys.exit(1)

    @staticmethod
    def _close_parent(config: DictConfig, sweep_dir: Path, n_failed: int) -> str:
        from covers.tracking import write as tracking
        from covers.app.task import PARENT_FILE
        from covers.tracking.read import comparison_table, runs_frame, sweep_chart

        pfile = sweep_dir / PARENT_FILE
        if not pfile.exists():
            return ""
        uri = tracking.resolve_uri(config.tracking.uri)
        parent = pfile.read_text().strip()
        _, results = sweep_table(sweep_dir)
        ids = [r["run_id"] for r in results if r.get("run_id")]  # includes jobs skipped as already done
        df = runs_frame(uri, run_ids=ids) if ids else None
        files: list[Path] = []
        best: dict[str, float] = {}
        if df is not None and not df.empty:
            table = comparison_table(df)
            table.to_csv(sweep_dir / "comparison.csv", index=False)
            (sweep_dir / "comparison.md").write_text(table.to_markdown(index=False, floatfmt=".4f") + "\n")
            files += [sweep_dir / "comparison.csv", sweep_dir / "comparison.md"]
            for m in ("user_auc", "thumbs_auc"):
                chart = sweep_chart(df, sweep_dir / f"sweep_{m}.png", m)
                if chart:
                    files.append(chart)
            if "metrics.user_auc" in df:
                best["best_user_auc"] = float(df["metrics.user_auc"].max())
            files += index_charts(df, sweep_dir)
        best["n_jobs_failed"] = float(n_failed)
        tracking.finish_parent(uri, parent, files, n_failed, best)
        return f"\n  sweep parent run {parent}: comparison table and charts logged to it"
