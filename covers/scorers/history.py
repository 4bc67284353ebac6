"""Neighbours among the user's own history: the standard item-kNN (Sarwar et al. 2001).

For a test thumb (u, i), the candidates are the items u thumbed in train — not i's k global
neighbours in the catalogue, which at a few dozen thumbs per user and thousands of albums
rarely include any of them (the index-neighbour ``knn`` covers ~60% of test thumbs on the
default world, 0.5% at a million covers). The k candidates most similar to i vote::

    score(u, i) = sum_j s_ij t_uj / (sum_j s_ij + shrinkage),   j in top-k of u's train items by s_ij

with t_uj = +1 / -1 and similarities clipped at 0 (as in :class:`~covers.scorers.knn.KNNScorer`).
Every thumb of a user with train thumbs is a candidate, whatever the catalogue size; a thumb is
covered when at least one of its top-k has a positive similarity.

Written here because no library scores given (user, item) pairs this way: Cornac and LensKit
rank whole catalogues per user, which is n_items work per user instead of len(history).

The pairs (test thumb, train thumb of the same user) are enumerated in chunks so memory stays
bounded by ``pair_chunk`` whatever the number of users; a similarity function turns a chunk of
(item i, item j) pairs into one similarity each.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from covers.scorers.base import Context, Scorer, Scores


def history_vote(train: pd.DataFrame, test: pd.DataFrame, sim: Callable[[np.ndarray, np.ndarray], np.ndarray],
                 k: int, shrinkage: float, pair_chunk: int) -> Scores:
    """The vote above for every test thumb, ``sim(items_i, items_j)`` giving pairwise similarities."""
    tr_u = train["user"].to_numpy(np.int64)
    order = np.argsort(tr_u, kind="stable")
    tr_u = tr_u[order]
    tr_item = train["item"].to_numpy(np.int64)[order]
    tr_t = np.where(train["thumb"].to_numpy()[order] > 0, 1.0, -1.0)
    n_users = int(max(tr_u.max(initial=-1), test["user"].max() if len(test) else -1)) + 1
    start = np.searchsorted(tr_u, np.arange(n_users))
    count = np.searchsorted(tr_u, np.arange(n_users), side="right") - start

    te_u = test["user"].to_numpy(np.int64)
    te_item = test["item"].to_numpy(np.int64)
    n_pairs = count[te_u]
    scores = np.zeros(len(test))
    covered = np.zeros(len(test), dtype=bool)
    # chunks of whole test thumbs with at most ~pair_chunk pairs each
    ends = np.cumsum(n_pairs)
    cuts = np.searchsorted(ends, np.arange(pair_chunk, ends[-1] if len(ends) else 0, pair_chunk), side="right")
    bounds = np.unique(np.concatenate([[0], cuts, [len(test)]]))
    for a, b in zip(bounds[:-1], bounds[1:]):
        c = n_pairs[a:b]
        if c.sum() == 0:
            continue
        group = np.repeat(np.arange(a, b), c)  # the test thumb of each pair
        within = np.arange(c.sum()) - np.repeat(np.cumsum(c) - c, c)
        j = np.repeat(start[te_u[a:b]], c) + within  # position in the sorted train thumbs
        s = np.asarray(sim(te_item[group], tr_item[j]), dtype=np.float64)
        # top-k per test thumb by similarity, ties by item id: a deterministic choice. Rounded,
        # so similarities equal in exact arithmetic tie whatever path computed them
        o = np.lexsort((tr_item[j], -np.round(s, 12), group))
        group, j, s = group[o], j[o], s[o]
        rank = np.arange(group.size) - np.searchsorted(group, group, side="left")
        top = rank < k
        group, w, t = group[top], np.clip(s[top], 0.0, None), tr_t[j[top]]
        num = np.bincount(group - a, weights=w * t, minlength=b - a)
        den = np.bincount(group - a, weights=w, minlength=b - a)
        scores[a:b] = num / (den + shrinkage) if shrinkage > 0 else np.divide(num, den, out=np.zeros_like(num),
                                                                              where=den > 0)
        covered[a:b] = den > 0
    return Scores(scores, covered)


class CosinePairs:
    """Exact cosine similarity of row pairs of X (X may be memory-mapped), in blocks of pairs.
    A class, not a closure, so a fitted scorer still pickles."""

    def __init__(self, X: np.ndarray, block_bytes: int = 64 << 20) -> None:
        self.X = X
        self.norms = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64)) if len(X) else np.zeros(0)
        self.step = max(1, int(block_bytes // (8 * max(X.shape[1], 1))))

    def __call__(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        out = np.empty(len(i))
        for s in range(0, len(i), self.step):
            a, b = i[s:s + self.step], j[s:s + self.step]
            dot = np.einsum("ij,ij->i", np.asarray(self.X[a], np.float64), np.asarray(self.X[b], np.float64))
            out[s:s + self.step] = dot / np.maximum(self.norms[a] * self.norms[b], 1e-300)
        return out


class HistoryKNN(Scorer):
    """Cover kNN over the user's own history: for (u, i), the ``k`` items u thumbed in train whose
    covers are most similar to i's (exact cosine of the normalised features) vote, as above.
    Beside the index-neighbour ``knn`` (the 2014 way, where the index's parameters matter), this
    one needs no index and covers every thumb of a user with train thumbs."""

    speed_params = ("pair_chunk",)
    tune_grid = {"k": (5, 10, 20, 50), "shrinkage": (0.0, 1.0, 10.0, 50.0)}

    def __init__(self, k: int = 20, shrinkage: float = 10.0, pair_chunk: int = 1_000_000) -> None:
        self.k = k
        self.shrinkage = shrinkage
        self.pair_chunk = pair_chunk

    def check(self) -> None:
        self._require_int("k", "pair_chunk")
        if not self.shrinkage >= 0:
            raise ValueError(f"HistoryKNN: shrinkage must be >= 0, got {self.shrinkage!r}")

    def fit(self, train: pd.DataFrame, ctx: Context) -> "HistoryKNN":
        self.check()
        if ctx.features is None:
            raise ValueError("HistoryKNN needs the feature matrix in the context")
        self.train_ = train[["user", "item", "thumb"]]
        self.sim_ = CosinePairs(ctx.features)
        return self

    def score(self, test: pd.DataFrame) -> Scores:
        return history_vote(self.train_, test, self.sim_, self.k, self.shrinkage, self.pair_chunk)
