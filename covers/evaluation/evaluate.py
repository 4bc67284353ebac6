"""Score every method on one split and summarise: pure functions, no I/O, no MLflow.

The cover scorer under test is the one passed as ``scorer`` (``conf/scorer``); its columns and
rows are labelled :data:`UNDER_TEST` (``method``), and every baseline by its config name.
Metric names: ``<metric>`` for the method, ``<metric>_<baseline>`` for the others.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from covers.evaluation.intervals import ThumbsAUCFrame, UserAUCFrame, holm, normal_interval, p_value, replicates
from covers.evaluation.metrics import paired_user_comparison, thumbs_auc, user_auc
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


#: per-genre user_auc needs at least this many evaluable users, else the genre says so (NaN + count)
MIN_GENRE_USERS = 20


def summarise(scores: pd.DataFrame, genres: list[frozenset] | None = None, n_boot: int = 1000,
              seed: int = 0, min_genre_users: int = MIN_GENRE_USERS) -> tuple[dict[str, float], pd.DataFrame]:
    """Metrics dict + one results row per method.

    user_auc and thumbs_auc with calibrated 95% intervals (:mod:`covers.evaluation.intervals`:
    users, albums and thumb noise each counted once), coverage, user_auc_covered (per-user AUC on
    the thumbs the method had evidence for), and the paired per-user difference of the method to
    each baseline: its interval and a normal p-value from the same replicates (``p_<name>``),
    Holm-adjusted across the run's baselines (``p_holm_<name>``), and Wilcoxon's signed-rank
    p-value over users (``wilcoxon_p_<name>``: users only, the albums held fixed, so it can look
    surer than the interval). Per genre (cover method): user_auc with its interval and the number
    of users behind it; below ``min_genre_users`` users the value is NaN and the count says why.
    """
    y = scores["thumb"].to_numpy()
    users = scores["user"].to_numpy()
    items = scores["item"].to_numpy()
    metrics: dict[str, float] = {}
    rows, per_user, reps = [], {}, {}
    for name in method_names(scores):
        s = scores[f"score_{name}"].to_numpy()
        sfx = "" if name == UNDER_TEST else f"_{name}"
        ua = per_user[name] = user_auc(users, y, s)
        reps[name] = r = replicates(UserAUCFrame, users, items, y, s, n_boot, seed)
        u_lo, u_hi = normal_interval(ua.mean, r.sd())
        g = thumbs_auc(y, s)
        g_lo, g_hi = normal_interval(g, replicates(ThumbsAUCFrame, users, items, y, s, n_boot, seed).sd())
        row = {"method": name, "user_auc": ua.mean, "user_auc_lo": u_lo, "user_auc_hi": u_hi,
               "thumbs_auc": g, "thumbs_auc_lo": g_lo, "thumbs_auc_hi": g_hi,
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
        p_norm = {}
        for name, ua in per_user.items():
            if name == UNDER_TEST:
                continue
            c = paired_user_comparison(per_user[UNDER_TEST], ua)  # the difference and Wilcoxon's p
            sd = (reps[UNDER_TEST] - reps[name]).sd()  # the same draws for both methods, differenced
            lo, hi = normal_interval(c.diff, sd)
            p_norm[name] = p_value(c.diff, sd)
            table.loc[name, ["diff_user_auc", "diff_lo", "diff_hi", "p", "wilcoxon_p"]] = [
                c.diff, lo, hi, p_norm[name], c.p_wilcoxon]
            metrics.update({f"diff_user_auc_{name}": c.diff, f"diff_user_auc_lo_{name}": lo,
                            f"diff_user_auc_hi_{name}": hi, f"p_{name}": p_norm[name],
                            f"wilcoxon_p_{name}": c.p_wilcoxon})
        for name, p in holm(p_norm).items():
            table.loc[name, "p_holm"] = p
            metrics[f"p_holm_{name}"] = p
    if genres is not None:
        _per_genre(scores, genres, n_boot, seed, min_genre_users, metrics, table)
    return metrics, table


def _per_genre(scores: pd.DataFrame, genres, n_boot: int, seed: int, min_users: int, metrics: dict,
               table: pd.DataFrame) -> None:
    """user_auc per genre for every method (table) and, for the cover method, its interval and the
    number of users behind it (metrics). A thumb counts in every genre of its album (covers can be
    in two); albums without one in none."""
    y, users, items = scores["thumb"].to_numpy(), scores["user"].to_numpy(), scores["item"].to_numpy()
    for genre in sorted(set().union(*genres)):
        m = np.array([genre in g for g in genres])[items]
        for name in method_names(scores):
            s = scores[f"score_{name}"].to_numpy()[m]
            ua = user_auc(users[m], y[m], s)
            n = int(ua.users.size)
            table.loc[name, f"user_auc[{genre}]"] = ua.mean if n >= min_users else np.nan
            if name != UNDER_TEST:
                continue
            metrics[f"genre_users/{genre}"] = n
            if n < min_users:  # too few users to say anything: the count is logged, no number
                continue
            lo, hi = normal_interval(ua.mean, replicates(UserAUCFrame, users[m], items[m], y[m], s, n_boot, seed).sd())
            metrics.update({f"genre_user_auc/{genre}": ua.mean, f"genre_user_auc_lo/{genre}": lo,
                            f"genre_user_auc_hi/{genre}": hi})


def results_markdown(table: pd.DataFrame) -> str:
    """results.md: user_auc and the paired differences first, thumbs_auc last and explained."""
    lead = [c for c in ("user_auc", "user_auc_lo", "user_auc_hi", "diff_user_auc", "diff_lo", "diff_hi", "p_holm",
                        "p", "wilcoxon_p", "coverage", "user_auc_covered", "users_evaluated") if c in table]
    last = [c for c in ("thumbs_auc", "thumbs_auc_lo", "thumbs_auc_hi") if c in table]
    rest = [c for c in table.columns if c not in lead and c not in last]
    text = table[lead + rest + last].to_markdown(floatfmt=".4f") + "\n"
    if "thumbs_auc" in table and "user_mean" in table.index and UNDER_TEST in table.index:
        text += (f"\nthumbs_auc pools every user's thumbs, so it rewards knowing who is generous: user_mean, which "
                 f"sees no cover, scores {table.loc['user_mean', 'thumbs_auc']:.4f} against the covers' "
                 f"{table.loc[UNDER_TEST, 'thumbs_auc']:.4f}. Judge by user_auc.\n")
    return text


def paired_runs(a: pd.DataFrame, b: pd.DataFrame, column: str = f"score_{UNDER_TEST}", n_boot: int = 1000,
                seed: int = 0, items: np.ndarray | None = None) -> dict[str, float]:
    """The cover method of run ``a`` minus that of run ``b`` on the same test thumbs (two runs'
    scores.parquet, e.g. features=gist vs features=pixel on one world and split): the paired
    per-user user_auc difference with its calibrated interval and p-value, the two runs' own
    user_auc, and the users behind it. ``items`` (optional item codes) restricts to those albums,
    e.g. one genre's. Runs whose test thumbs differ are refused: a paired difference needs the
    same thumbs."""
    key = ["user_id", "item_id", "thumb"]
    for name, f in (("first", a), ("second", b)):
        if missing := [c for c in key + ["user", "item", column] if c not in f]:
            raise ValueError(f"the {name} run's scores lack {missing}")
    a, b = a.sort_values(key[:2], kind="stable"), b.sort_values(key[:2], kind="stable")
    if len(a) != len(b) or not all(np.array_equal(a[c].to_numpy(), b[c].to_numpy()) for c in key):
        raise ValueError(f"the two runs scored different test thumbs ({len(a)} and {len(b)}): use one dataset, "
                         "split and seed for both")
    if items is not None:
        keep = np.isin(a["item"].to_numpy(), items)
        a, b = a.loc[keep], b.loc[keep]
    users, it, y = a["user"].to_numpy(), a["item"].to_numpy(), a["thumb"].to_numpy()
    sa, sb = a[column].to_numpy(), b[column].to_numpy()
    ua, ub = user_auc(users, y, sa), user_auc(users, y, sb)
    c = paired_user_comparison(ua, ub)
    sd = (replicates(UserAUCFrame, users, it, y, sa, n_boot, seed) - replicates(UserAUCFrame, users, it, y, sb, n_boot, seed)).sd()
    lo, hi = normal_interval(c.diff, sd)
    return {"user_auc_first": ua.mean, "user_auc_second": ub.mean, "diff_user_auc": c.diff, "diff_lo": lo,
            "diff_hi": hi, "p": p_value(c.diff, sd), "wilcoxon_p": c.p_wilcoxon, "users": c.n_users}
