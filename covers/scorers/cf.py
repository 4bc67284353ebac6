"""Collaborative-filtering baselines on the train thumbs (what the 2014 chart compared covers to).

They see who thumbed what, never what a cover looks like. On items nobody thumbed in train
(``split=cold_items``) they have no evidence at all: scores 0, not covered.

The factor models come from the ``implicit`` library (Hu, Koren & Volinsky 2008 ALS;
Rendle et al. 2009 BPR), trained on the *up* thumbs as positive implicit feedback.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from covers.index.base import Neighbours
from covers.scorers.base import Context, Scorer, Scores
from covers.scorers.knn import KNNScorer
from covers.utils import resolve_n_jobs


def ups_matrix(train: pd.DataFrame, n_users: int, n_items: int) -> sp.csr_matrix:
    up = train["thumb"].to_numpy() > 0
    return sp.csr_matrix((np.ones(int(up.sum()), dtype=np.float32),
                          (train["user"].to_numpy()[up], train["item"].to_numpy()[up])), shape=(n_users, n_items))


class _FactorScorer(Scorer):
    """score(u, i) = user_factors[u] . item_factors[i]; covered when both were trained on something."""

    def _make(self):
        raise NotImplementedError

    def check(self) -> None:
        self._require_int("factors", "iterations")

    def fit(self, train: pd.DataFrame, ctx: Context) -> "_FactorScorer":
        self.check()
        m = ups_matrix(train, ctx.n_users, ctx.n_items)
        # implicit parallelises itself; a second BLAS thread pool underneath only slows it down.
        # Its model constructor warns about that pool (checked once), so it is made inside too.
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="OpenBLAS is configured", category=RuntimeWarning)
            model = self._make()
            model.fit(m, show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float64)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float64)
        self.user_seen_ = np.diff(m.indptr) > 0
        self.item_seen_ = np.bincount(train["item"].to_numpy(), minlength=ctx.n_items) > 0
        return self

    def score(self, test: pd.DataFrame) -> Scores:
        u = test["user"].to_numpy()
        it = test["item"].to_numpy()
        covered = self.user_seen_[u] & self.item_seen_[it]
        s = (self.user_factors_[u] * self.item_factors_[it]).sum(1)
        return Scores(np.where(covered, s, 0.0), covered)


class ALSScorer(_FactorScorer):
    """Implicit ALS (Hu, Koren, Volinsky 2008) — "koren" in the 2014 chart.

    ``n_jobs`` threads (implicit's ``num_threads``): each thread solves whole rows, so the
    factors do not depend on the thread count (tests/test_scorers_cf.py checks it)."""

    speed_params = ("n_jobs",)

    def __init__(self, factors: int = 32, regularization: float = 0.05, alpha: float = 10.0,
                 iterations: int = 15, seed: int = 0, n_jobs: int = -1) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed
        self.n_jobs = n_jobs

    def check(self) -> None:
        super().check()
        self._require_n_jobs("n_jobs")

    def _make(self):
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares(factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                                       iterations=self.iterations, random_state=self.seed,
                                       num_threads=resolve_n_jobs(self.n_jobs))


class BPRScorer(_FactorScorer):
    """Bayesian personalised ranking (Rendle et al. 2009), single-threaded so it is deterministic."""

    def __init__(self, factors: int = 32, learning_rate: float = 0.05, regularization: float = 0.01,
                 iterations: int = 100, seed: int = 0) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.seed = seed

    def _make(self):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        # implicit's BPR is Hogwild! SGD: more than one thread makes results run-dependent
        return BayesianPersonalizedRanking(factors=self.factors, learning_rate=self.learning_rate,
                                           regularization=self.regularization, iterations=self.iterations,
                                           random_state=self.seed, num_threads=1)


class ItemKNNCF(Scorer):
    """Item-kNN collaborative filtering: the cover kNN vote, with neighbours by co-thumbs instead of looks.

    Item similarity = cosine between items' columns of the signed train matrix (+1 up, -1 down);
    an item's neighbours are its ``k`` most similar others with similarity > 0, ties broken by id.
    """

    speed_params = ("block",)

    def __init__(self, k: int = 50, shrinkage: float = 1.0, block: int = 2048) -> None:
        self.k = k
        self.shrinkage = shrinkage
        self.block = block

    def check(self) -> None:
        KNNScorer(self.k, self.shrinkage).check()
        self._require_int("block")

    def fit(self, train: pd.DataFrame, ctx: Context) -> "ItemKNNCF":
        self.check()
        sign = np.where(train["thumb"].to_numpy() > 0, 1.0, -1.0)
        R = sp.csc_matrix((sign, (train["user"].to_numpy(), train["item"].to_numpy())), shape=(ctx.n_users, ctx.n_items))
        norms = np.sqrt(np.asarray(R.multiply(R).sum(0)).ravel())
        Rn = (R @ sp.diags(1.0 / np.maximum(norms, 1e-12))).tocsr()
        RnT = Rn.T.tocsr()
        ids = np.full((ctx.n_items, self.k), -1, dtype=np.int64)
        sims = np.zeros((ctx.n_items, self.k))
        for s in range(0, ctx.n_items, self.block):
            # a block of rows of the item-item matrix, kept sparse: only co-thumbed pairs exist,
            # so memory follows the co-thumbs, not block x n_items (16 GB at a million items)
            S = (RnT[s:s + self.block] @ Rn).tocoo()
            r, c, v = S.row, S.col, S.data
            keep = (v > 0) & (c != r + s)  # positive similarity, never its own neighbour
            r, c, v = r[keep], c[keep], v[keep]
            # per row: by similarity, then id; rounded, so pairs equal in exact arithmetic tie
            # whatever order the sparse product summed them in
            o = np.lexsort((c, -np.round(v, 12), r))
            r, c, v = r[o], c[o], v[o]
            rank = np.arange(r.size) - np.searchsorted(r, r, side="left")
            top = rank < self.k
            ids[s + r[top], rank[top]] = c[top]
            sims[s + r[top], rank[top]] = v[top]
        self.knn_ = KNNScorer(self.k, self.shrinkage).fit(train, Context(ctx.n_users, ctx.n_items, Neighbours(ids, sims, 0.0)))
        return self

    def score(self, test: pd.DataFrame) -> Scores:
        return self.knn_.score(test)
