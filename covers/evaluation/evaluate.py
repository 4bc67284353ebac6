"""Score every method on one split and summarise: pure functions, no I/O, no MLflow.

The cover scorer under test is the one passed as ``scorer`` (``conf/scorer``); its columns and
rows are labelled :data:`UNDER_TEST` (``method``), and every baseline by its config name.
Metric names: ``<metric>`` for the method, ``<metric>_<baseline>`` for the others.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from covers.evaluation.metrics import (paired_user_comparison, percentile_interval, pigeonhole_replicates, thumbs_auc,
                                       thumbs_auc_replicates, user_auc)
from covers.scorers.base import Context, NotApplicable, Scorer


#: the label of the cover method under test in scores.parquet, results.csv and the charts
UNDER_TEST = "method"


def score_methods(scorer: Scorer, baselines: dict[str, Scorer], split, ctx: Context,
                  not_applicable: dict[str, str]) -> pd.DataFrame:
    """Per-test-thumb scores of the method and every baseline (columns score_<name>, covered_<name>).

    A baseline that needs an input the dataset lacks (the oracle off the simulator) is
    recorded in ``not_applicable`` with the reason instead of failing the run; the method
    under test raises.
    """
    if UNDER_TEST in baselines:
        raise ValueError(f"a baseline may not be named {UNDER_TEST!r}: that label is the cover method's")
    test = split.test
    out = pd.DataFrame({"user_id": test["user_id"].to_numpy(), "item_id": test["item_id"].to_numpy(),
                        "user": test["user"].to_numpy(), "item": test["item"].to_numpy(),
                        "thumb": test["thumb"].to_numpy()})
    out = _add_scores(out, UNDER_TEST, scorer.fit(split.train, ctx).score(test))
    for name, m in baselines.items():
        try:
            res = m.fit(split.train, ctx).score(test)
        except NotApplicable as exc:
            not_applicable[name] = str(exc)
            continue
        out = _add_scores(out, name, res)
    return out


def _add_scores(out: pd.DataFrame, name: str, res) -> pd.DataFrame:
    if len(res.scores) != len(out) or len(res.covered) != len(out):
        raise ValueError(f"scorer {name!r} returned {len(res.scores)} scores for {len(out)} test thumbs")
    out[f"score_{name}"] = res.scores
    out[f"covered_{name}"] = res.covered
    return out


def method_names(scores: pd.DataFrame) -> list[str]:
    return [c[len("score_"):] for c in scores.columns if c.startswith("score_")]


def summarise(scores: pd.DataFrame, genres: list[frozenset] | None = None, n_boot: int = 1000,
              seed: int = 0) -> tuple[dict[str, float], pd.DataFrame]:
    """Metrics dict + one results row per method: user_auc and thumbs_auc with 95% intervals
    resampling users and albums, coverage, user_auc_covered (per-user AUC on the thumbs the method
    had evidence for), and the paired per-user difference
    of the method to it (interval from the same user-and-album replicates; Wilcoxon p-value)."""
    y = scores["thumb"].to_numpy()
    users = scores["user"].to_numpy()
    items = scores["item"].to_numpy()
    metrics: dict[str, float] = {}
    rows, per_user, replicates = [], {}, {}
    for name in method_names(scores):
        s = scores[f"score_{name}"].to_numpy()
        sfx = "" if name == UNDER_TEST else f"_{name}"
        ua = per_user[name] = user_auc(users, y, s)
        # users and albums both resampled: the albums are a sample too (see pigeonhole_replicates)
        replicates[name] = pigeonhole_replicates(users, items, y, s, n_boot, seed)
        u_lo, u_hi = percentile_interval(replicates[name])
        g_lo, g_hi = percentile_interval(thumbs_auc_replicates(users, items, y, s, n_boot, seed))
        row = {"method": name, "user_auc": ua.mean, "user_auc_lo": u_lo, "user_auc_hi": u_hi,
               "thumbs_auc": thumbs_auc(y, s), "thumbs_auc_lo": g_lo, "thumbs_auc_hi": g_hi,
               "coverage": float(scores[f"covered_{name}"].mean()), "users_evaluated": int(ua.users.size)}
        # how good where it had evidence, apart from how often it had any (coverage): the
        # uncovered thumbs all carry the same neutral score, which pulls user_auc to 0.5
        cov = scores[f"covered_{name}"].to_numpy(bool)
        row["user_auc_covered"] = user_auc(users[cov], y[cov], s[cov]).mean
        rows.append(row)
        metrics.update({f"{k}{sfx}": v for k, v in row.items() if k not in ("method", "users_evaluated")})
        metrics["users_skipped_one_class"] = ua.n_skipped
    table = pd.DataFrame(rows).set_index("method")
    if UNDER_TEST in per_user:
        for name, ua in per_user.items():
            if name == UNDER_TEST:
                continue
            c = paired_user_comparison(per_user[UNDER_TEST], ua)  # the difference and Wilcoxon's p
            # its interval: the same user-and-album replicates for both methods, differenced
            lo, hi = percentile_interval(replicates[UNDER_TEST] - replicates[name])
            table.loc[name, ["diff_user_auc", "diff_lo", "diff_hi", "wilcoxon_p"]] = [c.diff, lo, hi, c.p_wilcoxon]
            metrics.update({f"diff_user_auc_{name}": c.diff, f"diff_user_auc_lo_{name}": lo,
                            f"diff_user_auc_hi_{name}": hi, f"wilcoxon_p_{name}": c.p_wilcoxon})
    if genres is not None:
        # a thumb counts in every genre of its album (covers can be in two); albums without one in none
        item_genres = [genres[i] for i in range(len(genres))]
        for genre in sorted(set().union(*item_genres)):
            in_genre = np.array([genre in g for g in item_genres])
            m = in_genre[items]
            for name in method_names(scores):
                ua = user_auc(users[m], y[m], scores[f"score_{name}"].to_numpy()[m])
                table.loc[name, f"user_auc[{genre}]"] = ua.mean
                if name == UNDER_TEST:
                    metrics[f"genre_user_auc/{genre}"] = ua.mean
                    metrics[f"genre_thumbs_auc/{genre}"] = thumbs_auc(y[m], scores[f"score_{UNDER_TEST}"].to_numpy()[m])
    return metrics, table
