"""Score every method on one split and summarise: pure functions, no I/O, no MLflow.

``method`` is the cover scorer under test; every other entry is a baseline scored on the
same split. Metric names: ``<metric>`` for the method, ``<metric>_<baseline>`` for the others.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from covers.metrics import (paired_user_comparison, percentile_interval, pigeonhole_replicates, thumbs_auc,
                            thumbs_auc_bootstrap, user_auc)
from covers.scorers.base import Context, NotApplicable, Scorer


def score_methods(methods: dict[str, Scorer], split, ctx: Context,
                  not_applicable: dict[str, str]) -> pd.DataFrame:
    """Per-test-thumb scores of every method (columns score_<name>, covered_<name>).

    A baseline that needs an input the dataset lacks (the oracle off the simulator) is
    recorded in ``not_applicable`` with the reason instead of failing the run.
    """
    test = split.test
    out = pd.DataFrame({"user_id": test["user_id"].to_numpy(), "item_id": test["item_id"].to_numpy(),
                        "user": test["user"].to_numpy(), "item": test["item"].to_numpy(),
                        "thumb": test["thumb"].to_numpy()})
    for name, m in methods.items():
        try:
            res = m.fit(split.train, ctx).score(test)
        except NotApplicable as exc:
            if name == "method":
                raise
            not_applicable[name] = str(exc)
            continue
        out[f"score_{name}"] = res.scores
        out[f"covered_{name}"] = res.covered
    return out


def method_names(scores: pd.DataFrame) -> list[str]:
    return [c[len("score_"):] for c in scores.columns if c.startswith("score_")]


def summarise(scores: pd.DataFrame, genre_of_item: np.ndarray | None = None, n_boot: int = 1000,
              seed: int = 0) -> tuple[dict[str, float], pd.DataFrame]:
    """Metrics dict + one results row per method: user_auc and thumbs_auc with 95% intervals
    resampling users and albums, coverage, and the paired per-user difference
    of the method to it (interval from the same user-and-album replicates; Wilcoxon p-value)."""
    y = scores["thumb"].to_numpy()
    users = scores["user"].to_numpy()
    items = scores["item"].to_numpy()
    metrics: dict[str, float] = {}
    rows, per_user, replicates = [], {}, {}
    for name in method_names(scores):
        s = scores[f"score_{name}"].to_numpy()
        sfx = "" if name == "method" else f"_{name}"
        ua = per_user[name] = user_auc(users, y, s)
        # users and albums both resampled: the albums are a sample too (see pigeonhole_replicates)
        replicates[name] = pigeonhole_replicates(users, items, y, s, n_boot, seed)
        u_lo, u_hi = percentile_interval(replicates[name])
        g_lo, g_hi = thumbs_auc_bootstrap(users, items, y, s, n_boot, seed)
        row = {"method": name, "user_auc": ua.mean, "user_auc_lo": u_lo, "user_auc_hi": u_hi,
               "thumbs_auc": thumbs_auc(y, s), "thumbs_auc_lo": g_lo, "thumbs_auc_hi": g_hi,
               "coverage": float(scores[f"covered_{name}"].mean()), "users_evaluated": int(ua.users.size)}
        rows.append(row)
        metrics.update({f"{k}{sfx}": v for k, v in row.items() if k not in ("method", "users_evaluated")})
        metrics["users_skipped_one_class"] = ua.n_skipped
    table = pd.DataFrame(rows).set_index("method")
    if "method" in per_user:
        for name, ua in per_user.items():
            if name == "method":
                continue
            c = paired_user_comparison(per_user["method"], ua)  # the difference and Wilcoxon's p
            # its interval: the same user-and-album replicates for both methods, differenced
            lo, hi = percentile_interval(replicates["method"] - replicates[name])
            table.loc[name, ["diff_user_auc", "diff_lo", "diff_hi", "wilcoxon_p"]] = [c.diff, lo, hi, c.p_wilcoxon]
            metrics.update({f"diff_user_auc_{name}": c.diff, f"diff_user_auc_lo_{name}": lo,
                            f"diff_user_auc_hi_{name}": hi, f"wilcoxon_p_{name}": c.p_wilcoxon})
    if genre_of_item is not None:
        g = pd.Series(np.asarray(genre_of_item)[scores["item"].to_numpy()]).astype(str).to_numpy()
        for genre in sorted(set(g)):
            m = g == genre
            for name in method_names(scores):
                ua = user_auc(users[m], y[m], scores[f"score_{name}"].to_numpy()[m])
                table.loc[name, f"user_auc[{genre}]"] = ua.mean
                if name == "method":
                    metrics[f"genre_user_auc/{genre}"] = ua.mean
                    metrics[f"genre_thumbs_auc/{genre}"] = thumbs_auc(y[m], scores["score_method"].to_numpy()[m])
    return metrics, table


def generous_baseline_flag(metrics: dict[str, float]) -> bool:
    """True when knowing only each user's up-rate beats the method on global AUC: judge by user_auc then."""
    return metrics.get("thumbs_auc_user_mean", -1.0) > metrics.get("thumbs_auc", 2.0)
