"""Recommendations: rank the whole catalogue for each test user, score the lists against the
held-out thumbs. Pure functions (no I/O, no MLflow), streamed per block of users.

* **Through the index** (the cover method as a recommender): each test user's query is built from
  their train thumbs, either ``centroid`` (the mean of the liked covers minus the mean of the
  disliked, unit vectors first under the angular metric) searched for in the index, or
  ``neighbours`` (the union of the liked covers' index neighbours, ranked by summed similarity).
* **Baselines** rank every item of the catalogue by their own scores (no sampled negatives:
  sampled ranking metrics can disagree with full ones, Krichene & Rendle 2020), a frame of
  ``block`` user x item pairs at a time through ``Scorer.score``.

Items the user thumbed in train are never recommended (dropped before the cut to N; an index is
asked for N plus the user's train count). Ties are broken by item id, so lists are deterministic.

Per user, over the held-out thumbs: ``recall@N`` = share of held-out ups in the top N;
``ndcg@N`` = DCG of the held-out ups in the list over the ideal DCG of min(#ups, N) ups;
``down@N`` = share of held-out downs in the top N (lower is better: a list that surfaces what the
user rejected is worse than one that surfaces unknowns). Users without a held-out up (down) are
left out of recall and ndcg (down) and counted. Intervals are calibrated as user_auc's
(:mod:`covers.evaluation.intervals`: users, albums and thumbs each resampled alone, the parts
combined so the thumb noise counts once): each per-user value is a ratio of sums over held-out
thumbs, a thumb weighted by its album's (or its own) multiplicity.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from covers.evaluation.intervals import SCHEMES, Replicates, _draws, normal_interval
from covers.index.base import Index, to_similarity
from covers.index.exact import smallest_k
from covers.scorers.base import Context, NotApplicable, Scorer

QUERIES = ("centroid", "neighbours")
INDEX_BLOCK_USERS = 1024  #: users whose queries go to the index as one batch


def check_settings(ns, query: str, block: int) -> tuple[int, ...]:
    """The list lengths as sorted ints; a value that is not implemented fails here, loudly."""
    if query not in QUERIES:
        raise ValueError(f"eval.ranking_query must be one of {QUERIES}, got {query!r}")
    ns = tuple(ns) if isinstance(ns, (list, tuple)) else (ns,)
    if not ns or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in ns):
        raise ValueError(f"eval.ranking_n must be a list of ints >= 1, got {ns!r}")
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"eval.ranking_block must be an int >= 1 (user x item scores held at once), got {block!r}")
    return tuple(sorted({int(n) for n in ns}))


def _keys(frame: pd.DataFrame, n_items: int) -> np.ndarray:
    return np.sort(frame["user"].to_numpy(np.int64) * n_items + frame["item"].to_numpy(np.int64))


def _member(keys_sorted: np.ndarray, query: np.ndarray) -> np.ndarray:
    if keys_sorted.size == 0:
        return np.zeros(query.shape, bool)
    pos = np.minimum(np.searchsorted(keys_sorted, query), keys_sorted.size - 1)
    return keys_sorted[pos] == query


def drop_train(ids: np.ndarray, users: np.ndarray, train_keys: np.ndarray, n_items: int, n: int) -> np.ndarray:
    """Each row's ids without the user's train items (and -1 slots), order kept, cut/padded to n."""
    keep = (ids >= 0) & ~_member(train_keys, users[:, None] * n_items + np.maximum(ids, 0))
    order = np.argsort(~keep, axis=1, kind="stable")  # kept first, in their order
    ids = np.take_along_axis(np.where(keep, ids, -1), order, 1)[:, :n]
    out = np.full((len(ids), n), -1, np.int64)
    out[:, :ids.shape[1]] = ids
    return out


def centroid_queries(X: np.ndarray, users: np.ndarray, train: pd.DataFrame, angular: bool) -> np.ndarray:
    """(len(users), d): mean of the user's liked rows minus mean of the disliked (0 for a missing side)."""
    t = train[train["user"].isin(users)]
    pos = pd.Index(users).get_indexer(t["user"].to_numpy())
    items = t["item"].to_numpy()
    rows = np.asarray(X[np.unique(items)], np.float64)
    if angular:
        rows = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    local = np.searchsorted(np.unique(items), items)
    Q = np.zeros((len(users), X.shape[1]))
    for sign, m in ((1.0, t["thumb"].to_numpy() > 0), (-1.0, t["thumb"].to_numpy() <= 0)):
        M = sp.csr_matrix((np.ones(m.sum()), (pos[m], local[m])), shape=(len(users), len(rows)))
        cnt = np.asarray(M.sum(1)).ravel()
        Q += sign * np.asarray(M @ rows) / np.maximum(cnt, 1)[:, None]
    return Q.astype(np.float32)


def index_lists(index: Index, X: np.ndarray, users: np.ndarray, train: pd.DataFrame, train_keys: np.ndarray,
                n_items: int, n: int, query: str) -> np.ndarray:
    """(len(users), n) recommended item ids through the index (-1 where fewer were found)."""
    counts = np.bincount(pd.Index(users).get_indexer(train.loc[train["user"].isin(users), "user"]),
                         minlength=len(users))
    if query == "centroid":
        Q = centroid_queries(X, users, train, index.metric == "angular")
        ok = np.linalg.norm(Q, axis=1) > 0  # no train thumbs (or a perfectly balanced taste): nothing to ask
        ids = np.full((len(users), n), -1, np.int64)
        if ok.any():
            k = min(n + int(counts[ok].max()), n_items)
            got, _ = index.search(Q[ok], k)
            ids[ok] = drop_train(got, users[ok], train_keys, n_items, n)
        return ids
    liked = train[train["user"].isin(users) & (train["thumb"] > 0)]
    items = np.unique(liked["item"].to_numpy())
    if items.size == 0:  # nobody in the block liked anything: no neighbours to recommend
        return np.full((len(users), n), -1, np.int64)
    nb_ids, nb_d = index.query_rows(items, min(n + int(counts.max(initial=0)), n_items - 1))
    sims = np.where(nb_ids >= 0, to_similarity(nb_d, index.metric), 0.0)
    at = np.searchsorted(items, liked["item"].to_numpy())
    u = np.repeat(pd.Index(users).get_indexer(liked["user"].to_numpy()), nb_ids.shape[1])
    cand, w = nb_ids[at].ravel(), sims[at].ravel()
    m = cand >= 0
    score = pd.Series(w[m]).groupby([u[m], cand[m]]).sum()  # summed similarity over the liked covers
    su, si = score.index.get_level_values(0).to_numpy(), score.index.get_level_values(1).to_numpy()
    order = np.lexsort((si, -score.to_numpy(), su))  # per user: best first, ties by id
    su, si = su[order], si[order]
    keep = ~_member(train_keys, users[su] * n_items + si)
    su, si = su[keep], si[keep]
    rank = np.arange(len(su)) - np.searchsorted(su, su)  # position within its user
    ids = np.full((len(users), n), -1, np.int64)
    top = rank < n
    ids[su[top], rank[top]] = si[top]
    return ids


def scorer_lists(scorer: Scorer, users: np.ndarray, train_keys: np.ndarray, n_items: int, n: int) -> np.ndarray:
    """(len(users), n) the scorer's top-n items over the whole catalogue, train items excluded."""
    frame = pd.DataFrame({"user": np.repeat(users, n_items), "item": np.tile(np.arange(n_items), len(users))})
    s = np.asarray(scorer.score(frame).scores, np.float64).reshape(len(users), n_items)
    key = users[:, None] * n_items + np.arange(n_items)[None, :]
    neg = np.where(_member(train_keys, key), np.inf, -s)  # smallest first = best first; train items last
    ids, vals = smallest_k(neg, n)
    out = np.full((len(users), n), -1, np.int64)
    out[:, :ids.shape[1]] = np.where(np.isfinite(vals), ids, -1)
    return out


def held_out_ranks(lists: np.ndarray, users: np.ndarray, test: pd.DataFrame, n_items: int) -> np.ndarray:
    """0-based position of each test thumb's item in its user's list (rows of ``lists`` follow
    ``users``), -1 if absent."""
    row = pd.Index(users).get_indexer(test["user"].to_numpy())
    key = lists + (users[:, None] * n_items)
    flat = np.where(lists >= 0, key, -1).ravel()
    order = np.argsort(flat, kind="stable")
    want = users[row] * n_items + test["item"].to_numpy(np.int64)
    pos = np.minimum(np.searchsorted(flat[order], want), flat.size - 1)
    hit = flat[order][pos] == want
    return np.where(hit, order[pos] % lists.shape[1], -1)


def per_thumb_terms(users: np.ndarray, up: np.ndarray, rank: np.ndarray, ns: tuple[int, ...]) -> dict:
    """For every metric@N, the per-thumb numerator a and denominator b (a user's value is
    sum(a) / sum(b) over the thumbs of its class): recall/down a = hit, b = 1; ndcg a = hit /
    log2(rank + 2), b = IDCG(min(#ups, N)) / #ups."""
    out = {}
    n_up = pd.Series(up.astype(float)).groupby(users).transform("sum").to_numpy()
    for n in ns:
        hit = (rank >= 0) & (rank < n)
        gain = np.where(hit, 1.0 / np.log2(np.maximum(rank, 0) + 2.0), 0.0)
        disc = np.cumsum(1.0 / np.log2(np.arange(n) + 2.0))
        idcg = disc[np.minimum(n_up, n).astype(int) - 1] if n_up.size else n_up
        out[f"recall_at_{n}"] = (up, hit.astype(float), np.ones(len(up)))
        out[f"ndcg_at_{n}"] = (up, gain, np.where(up, idcg / np.maximum(n_up, 1), 0.0))
        out[f"down_at_{n}"] = (~up, hit.astype(float), np.ones(len(up)))
    return out


def ratio_means(users, items, A: np.ndarray, B: np.ndarray, n_boot: int, seed: int):
    """Mean over users of sum(A)/sum(B) per column, and its replicates under each one-way scheme
    of :mod:`covers.evaluation.intervals` (a list of :class:`Replicates`, one per column): user
    multiplicities weight the mean, album or thumb multiplicities weight the thumbs."""
    uniq_u, uidx = np.unique(users, return_inverse=True)
    uniq_i, iidx = np.unique(items, return_inverse=True)
    U = sp.csr_matrix((np.ones(len(users)), (uidx, np.arange(len(users)))), shape=(len(uniq_u), len(users)))

    def mean(wu, wt):
        num, den = U @ (wt[:, None] * A), U @ (wt[:, None] * B)
        ok = (den > 0) & (wu[:, None] > 0)
        val = np.divide(num, den, out=np.zeros_like(num), where=ok)
        tot = (wu[:, None] * ok).sum(0)
        return np.divide((wu[:, None] * val).sum(0), tot, out=np.full(A.shape[1], np.nan), where=tot > 0)

    ones_u, ones_t = np.ones(len(uniq_u)), np.ones(len(users))
    point = mean(ones_u, ones_t)
    reps: dict[str, list] = {k: [] for k in SCHEMES}
    for scheme, m in _draws(len(uniq_u), len(uniq_i), len(users), n_boot, seed):
        reps[scheme].append(mean(m, ones_t) if scheme == "users" else
                            mean(ones_u, m[iidx] if scheme == "albums" else m))
    R = {k: np.array(v).reshape(n_boot, A.shape[1]) for k, v in reps.items()}
    return point, [Replicates(R["users"][:, j], R["albums"][:, j], R["thumbs"][:, j]) for j in range(A.shape[1])]


@dataclass
class Ranking:
    metrics: dict[str, float]
    table: pd.DataFrame  # one row per method: every metric@N with its interval
    not_applicable: dict[str, str] = field(default_factory=dict)


def evaluate_ranking(index: Index, X: np.ndarray, split, ctx: Context, baselines: dict[str, Scorer],
                     ns, query: str = "centroid", block: int = 2_000_000, n_boot: int = 1000,
                     seed: int = 0) -> Ranking:
    """Recommendation metrics for the index (unsuffixed: ``recall_at_10``) and each baseline
    (``recall_at_10_<name>``), with 95% intervals (``_lo`` / ``_hi`` before the suffix, as for
    user_auc). Baselines are fitted again on the train thumbs (they are deterministic for a seed),
    so this needs nothing from the thumb scoring; one that lacks an input is reported, not fatal."""
    ns = check_settings(ns, query, block)
    n_max, n_items = ns[-1], ctx.n_items
    train, test = split.train, split.test
    train_keys = _keys(train, n_items)
    users = np.unique(test["user"].to_numpy())
    test = test.sort_values(["user", "item"], kind="stable")
    ranks: dict[str, np.ndarray] = {}
    not_applicable: dict[str, str] = {}

    def run(lists_of, step: int) -> np.ndarray:
        out = np.empty(len(test), np.int64)
        t_users = test["user"].to_numpy()
        for a in range(0, len(users), step):
            bu = users[a:a + step]
            lo, hi = np.searchsorted(t_users, [bu[0], bu[-1] + 1])
            out[lo:hi] = held_out_ranks(lists_of(bu), bu, test.iloc[lo:hi], n_items)
        return out

    ranks["index"] = run(lambda bu: index_lists(index, X, bu, train, train_keys, n_items, n_max, query),
                         INDEX_BLOCK_USERS)
    for name, scorer in baselines.items():
        try:
            scorer.fit(train, ctx)
            ranks[name] = run(lambda bu: scorer_lists(scorer, bu, train_keys, n_items, n_max),
                              max(1, block // max(n_items, 1)))
        except NotApplicable as exc:
            not_applicable[name] = str(exc)
    t_users, t_items = test["user"].to_numpy(), test["item"].to_numpy()
    up = test["thumb"].to_numpy() > 0
    metrics: dict[str, float] = {"ranking_users_with_up": float(np.unique(t_users[up]).size),
                                 "ranking_users_with_down": float(np.unique(t_users[~up]).size)}
    rows = []
    for name, rank in ranks.items():
        sfx = "" if name == "index" else f"_{name}"
        row = {"method": name}
        terms = per_thumb_terms(t_users, up, rank, ns)
        for cls in (True, False):  # one bootstrap per class of thumbs: ups (recall, ndcg), downs
            names = [k for k, (m, _, _) in terms.items() if (k.startswith("down")) != cls]
            m = up if cls else ~up
            if not m.any():
                nan = np.full(n_boot, np.nan)
                point, reps = np.full(len(names), np.nan), [Replicates(nan, nan, nan)] * len(names)
            else:
                A = np.column_stack([terms[k][1][m] for k in names])
                B = np.column_stack([terms[k][2][m] for k in names])
                point, reps = ratio_means(t_users[m], t_items[m], A, B, n_boot, seed)
            for j, k in enumerate(names):
                lo, hi = normal_interval(point[j], reps[j].sd())
                row.update({k: point[j], f"{k}_lo": lo, f"{k}_hi": hi})
        rows.append(row)
        metrics.update({f"{k}{sfx}": float(v) for k, v in row.items() if k != "method"})
    return Ranking(metrics, pd.DataFrame(rows).set_index("method"), not_applicable)
