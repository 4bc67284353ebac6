"""One screen at the end of a sweep: each job's AUCs, failures, and where to look."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from covers.tracking import ui_command

SHOWN = ["user_auc", "thumbs_auc", "coverage", "thumbs_auc_random", "thumbs_auc_popularity",
         "thumbs_auc_user_mean", "thumbs_auc_oracle", "index_recall_at_10"]


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
    failed = [r for r in results if r["status"] != "FINISHED"]
    for r in failed:
        lines.append(f"  FAILED {r['name']}: {r.get('error')}")
    flagged = [r["name"] for r in results if r["status"] == "FINISHED"
               and r["metrics"].get("thumbs_auc_user_mean", 0) > r["metrics"]["thumbs_auc"]]
    if flagged:
        lines.append("  note: the user_mean baseline (knows only who is generous) beats the cover method on global "
                     f"thumbs_auc in {len(flagged)} run(s); judge by user_auc, which it cannot game.")
    uris = sorted({r["tracking_uri"] for r in results})
    lines.append("  browse: " + " ; ".join(ui_command(u) for u in uris))
    return "\n".join(lines), len(failed)


class SweepSummary(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        text, n_failed = render(Path(config.hydra.sweep.dir))
        print(text)
        if n_failed:
            sys.exit(1)
