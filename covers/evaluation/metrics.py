"""Metrics as pure functions: arrays in, numbers out, skipped cases counted.

Direction is in the name: every ``*_auc`` is higher-is-better, 0.5 is chance.
Ties in scores count as half (the ROC trapezoid), so a method that gives every
thumb the same score gets exactly 0.5, never an accidental advantage.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata


def thumbs_auc(y: np.ndarray, scores: np.ndarray) -> float:
    """Global ROC AUC over all test thumbs, thumbs up = positive (Mann-Whitney form)."""
    y = np.asarray(y).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape:
        raise ValueError(f"y and scores must have the same shape, got {y.shape} and {s.shape}")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = rankdata(s)  # average ranks: ties count half
    return float((r[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


@dataclass
class UserAUC:
    mean: float
    per_user: np.ndarray  # AUC of each evaluated user (order of ``users``)
    users: np.ndarray  # user codes evaluated
    n_skipped: int  # users with only ups or only downs in test


def user_auc(users: np.ndarray, y: np.ndarray, scores: np.ndarray) -> UserAUC:
    """Mean over users of each user's own ROC AUC; one-class users are counted, not used.

    Vectorised: ranks are computed within each user by sorting on (user, score).
    """
    users = np.asarray(users)
    y = np.asarray(y).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    if users.size == 0:  # e.g. the covered thumbs of a method that covers none
        return UserAUC(float("nan"), np.zeros(0), users, 0)
    order = np.lexsort((s, users))
    u, yy, ss = users[order], y[order], s[order]
    # average rank of each score within its user (ties get their mean rank)
    new_group = np.r_[True, (u[1:] != u[:-1]) | (ss[1:] != ss[:-1])]
    tie_id = np.cumsum(new_group) - 1
    pos_in_all = np.arange(len(u), dtype=np.float64)
    tie_first = np.flatnonzero(new_group)
    tie_last = np.r_[tie_first[1:], len(u)] - 1
    avg_pos = ((pos_in_all[tie_first] + pos_in_all[tie_last]) / 2.0)[tie_id]
    ustart_flags = np.r_[True, u[1:] != u[:-1]]
    ustart = np.flatnonzero(ustart_flags)
    uid = np.cumsum(ustart_flags) - 1
    rank = avg_pos - ustart[uid] + 1.0  # 1-based rank within the user
    n_pos = np.bincount(uid, weights=yy)
    n_all = np.bincount(uid)
    n_neg = n_all - n_pos
    rank_sum_pos = np.bincount(uid, weights=rank * yy)
    ok = (n_pos > 0) & (n_neg > 0)
    auc = (rank_sum_pos[ok] - n_pos[ok] * (n_pos[ok] + 1) / 2.0) / (n_pos[ok] * n_neg[ok])
    return UserAUC(
        mean=float(auc.mean()) if auc.size else float("nan"),
        per_user=auc,
        users=u[ustart][ok],
        n_skipped=int((~ok).sum()),
    )


def recall_at_k(approx_ids: np.ndarray, exact_ids: np.ndarray) -> float:
    """Mean share of the exact k neighbours that the approximate index also returned."""
    approx_ids = np.asarray(approx_ids)
    exact_ids = np.asarray(exact_ids)
    k = exact_ids.shape[1]
    hits = [len(set(a[a >= 0]) & set(e)) for a, e in zip(approx_ids, exact_ids)]
    return float(np.mean(hits) / k)


def _pigeonhole_draws(n_users: int, n_items: int, n_boot: int, seed: int):
    """Per replicate, a multiplicity for every user and every album (drawn with replacement),
    from one seeded stream: the one source of replicates behind every interval."""
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        wu = np.bincount(rng.integers(0, n_users, n_users), minlength=n_users).astype(np.float64)
        wi = np.bincount(rng.integers(0, n_items, n_items), minlength=n_items).astype(np.float64)
        yield wu, wi


@dataclass
class PairedComparison:
    diff: float  # mean over common users of (method AUC - other AUC)
    p_wilcoxon: float  # two-sided Wilcoxon signed-rank over per-user differences
    n_users: int


def paired_user_comparison(a: UserAUC, b: UserAUC) -> PairedComparison:
    """Per-user AUC of ``a`` minus ``b`` on the users both could evaluate, and a Wilcoxon
    signed-rank p-value (scipy) over users. Its calibrated interval is the difference of the two
    methods' :func:`covers.evaluation.intervals.replicates` (see evaluation.summarise)."""
    from scipy.stats import wilcoxon

    common, ia, ib = np.intersect1d(a.users, b.users, return_indices=True)
    d = a.per_user[ia] - b.per_user[ib]
    if d.size == 0:
        return PairedComparison(float("nan"), float("nan"), 0)
    p = float(wilcoxon(d).pvalue) if np.any(d != 0) else 1.0
    return PairedComparison(float(d.mean()), p, int(common.size))


def genre_precision_at_k(nb_ids: np.ndarray, genres: list[frozenset] | np.ndarray, k: int) -> tuple[float, int]:
    """Mean share of each item's k index neighbours that share a genre with it (label sanity check).

    ``genres`` holds one label or one set of labels per item (covers can be in two genres: a
    neighbour counts if the sets intersect). Items without a label, and neighbour slots the
    index left empty (-1), are skipped; returns (precision, number of items evaluated).
    """
    sets = [g if isinstance(g, frozenset) else (frozenset() if g is None or g != g or g == "" else frozenset([g]))
            for g in genres]
    hits, n = 0.0, 0
    for i, row in enumerate(np.asarray(nb_ids)[:, :k]):
        if not sets[i]:
            continue
        row = row[row >= 0]
        if row.size == 0:
            continue
        hits += sum(1 for j in row if sets[i] & sets[j]) / row.size
        n += 1
    return (hits / n if n else float("nan")), n


def same_artist_at_k(nb_ids: np.ndarray, artists: np.ndarray, k: int) -> tuple[float, int]:
    """Mean share of each item's k index neighbours by its own artist (the artist confound's size).

    A cover kNN can look good by finding an album's siblings by the same artist - they share a
    look and their fans - rather than anything about taste; this says how often it can.
    ``artists`` holds one integer code per item, -1 for unknown (``Catalogue.artists()``). Items of
    unknown artist, and neighbour slots the index left empty (-1), are skipped; a neighbour of
    unknown artist counts as another artist. Returns (share, number of items evaluated).
    """
    artists = np.asarray(artists, dtype=np.int64)
    ids = np.asarray(nb_ids)[:, :k]
    if len(artists) != len(ids):
        raise ValueError(f"same_artist_at_k: {len(artists)} artists for {len(ids)} items' neighbours")
    filled = ids >= 0
    nb_art = np.where(filled, artists[np.maximum(ids, 0)], -1)
    same = (filled & (nb_art == artists[:, None])).sum(1)
    n_nb = filled.sum(1)
    ok = (artists >= 0) & (n_nb > 0)
    n = int(ok.sum())
    return (float((same[ok] / n_nb[ok]).mean()) if n else float("nan")), n


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates (replicates with no evaluable user are NaN, ignored)."""
    if replicates.size == 0 or np.isnan(replicates).all():
        return float("nan"), float("nan")
    a = (1.0 - level) / 2.0
    return float(np.nanquantile(replicates, a)), float(np.nanquantile(replicates, 1.0 - a))


# The pigeonhole bootstrap is no longer the harness's interval (covers.evaluation.intervals is: this
# one counts each thumb's noise twice); it is kept as the reference bench_calibration measures against.
def pigeonhole_replicates(users: np.ndarray, items: np.ndarray, y: np.ndarray, scores: np.ndarray,
                          n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """The mean per-user AUC in each of ``n_boot`` replicates resampling users *and* items.

    Thumbs are crossed: the same albums appear for many users (and as each other's neighbours),
    so resampling users alone treats the album sample as fixed and gives intervals that are too
    narrow for a new draw of albums. Each replicate draws a multiplicity for every user and every
    item; a thumb's weight is its item's multiplicity inside its user's weighted Mann-Whitney AUC,
    and users are averaged with their own multiplicities. Ranks never change, so a replicate is
    one pass over the (once) sorted thumbs.

    The draws depend only on ``seed`` and the sets of users and items, so two methods scored on
    the same thumbs get the same replicates: their difference, replicate by replicate, is the
    paired comparison's bootstrap.
    """
    users = np.asarray(users)
    y = np.asarray(y).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.size == 0:
        return np.full(n_boot, np.nan)
    uniq_u, uidx = np.unique(users, return_inverse=True)
    uniq_i, iidx = np.unique(np.asarray(items), return_inverse=True)
    order = np.lexsort((s, uidx))
    uo, io, yo, so = uidx[order], iidx[order], y[order], s[order]
    group = np.cumsum(np.r_[True, (uo[1:] != uo[:-1]) | (so[1:] != so[:-1])]) - 1  # (user, score) tie groups
    n_groups = group[-1] + 1
    g_user = uo[np.r_[0, np.flatnonzero(np.diff(group)) + 1]]  # user of each tie group
    g_first_of_user = np.r_[True, g_user[1:] != g_user[:-1]]
    out = np.empty(n_boot)
    for b, (wu, wi) in enumerate(_pigeonhole_draws(uniq_u.size, uniq_i.size, n_boot, seed)):
        w = wi[io]
        P = np.bincount(group, weights=w * yo, minlength=n_groups)
        N = np.bincount(group, weights=w * ~yo, minlength=n_groups)
        cumN = np.cumsum(N)
        start = np.maximum.accumulate(np.where(g_first_of_user, np.arange(n_groups), 0))
        below = cumN - N - (cumN[start] - N[start])  # negatives of the same user ranked strictly lower
        num = np.bincount(g_user, weights=P * (below + 0.5 * N), minlength=uniq_u.size)
        tp = np.bincount(g_user, weights=P, minlength=uniq_u.size)
        tn = np.bincount(g_user, weights=N, minlength=uniq_u.size)
        ok = (tp > 0) & (tn > 0) & (wu > 0)
        out[b] = np.sum(wu[ok] * num[ok] / (tp[ok] * tn[ok])) / wu[ok].sum() if ok.any() else np.nan
    return out
