"""Collaborative-filtering baselines on the train thumbs (what the 2014 chart compared covers to).

They see who thumbed what, never what a cover looks like. On items nobody thumbed in train
(``split=cold_items``) they have no evidence at all: scores 0, not covered.

The factor models are trained on the *up* thumbs as positive implicit feedback: ALS from the
``implicit`` library (Hu, Koren & Volinsky 2008), BPR from Cornac (Rendle et al. 2009, with
uniformly drawn negatives: see :class:`BPRScorer`).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from covers.scorers.base import Context, Scorer, Scores
from covers.scorers.history import history_vote
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

    tune_grid = {"factors": (4, 8, 32), "regularization": (0.05, 1.0, 10.0, 100.0), "alpha": (1.0, 10.0, 40.0)}

    def __init__(self, factors: int = 8, regularization: float = 10.0, alpha: float = 10.0,
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
    """Bayesian personalised ranking (Rendle et al. 2009) with an item bias, from Cornac.

    Cornac's BPR draws the negative item *uniformly* over the catalogue, so its item bias learns
    popularity — the main signal of thumbs data. ``implicit``'s BPR draws negatives from the
    liked-items array, i.e. in proportion to popularity, and so cannot learn it (it scored 0.567
    per-user AUC on the default world where this one and a peer framework score ~0.6).
    Single-threaded (Cornac's BPR is Hogwild! SGD: more threads make results run-dependent).
    score(u, i) = b_i + p_u . q_i."""

    tune_grid = {"factors": (10, 32), "regularization": (0.001, 0.01, 0.1), "iterations": (100, 300)}

    def __init__(self, factors: int = 32, learning_rate: float = 0.05, regularization: float = 0.1,
                 iterations: int = 300, seed: int = 0) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.seed = seed

    def fit(self, train: pd.DataFrame, ctx: Context) -> "BPRScorer":
        from cornac.models import BPR

        self.check()
        m = ups_matrix(train, ctx.n_users, ctx.n_items)
        model = BPR(k=self.factors, max_iter=self.iterations, learning_rate=self.learning_rate,
                    lambda_reg=self.regularization, use_bias=True, num_threads=1, seed=self.seed, verbose=False)
        if m.nnz:
            model.fit(cornac_dataset(m))
            self.item_bias_ = np.asarray(model.i_biases, dtype=np.float64)
            self.user_factors_ = np.asarray(model.u_factors, dtype=np.float64)
            self.item_factors_ = np.asarray(model.i_factors, dtype=np.float64)
        else:  # Cornac refuses an empty matrix; nothing is covered anyway
            self.item_bias_ = np.zeros(ctx.n_items)
            self.user_factors_ = np.zeros((ctx.n_users, self.factors))
            self.item_factors_ = np.zeros((ctx.n_items, self.factors))
        self.user_seen_ = np.diff(m.indptr) > 0
        self.item_seen_ = np.bincount(train["item"].to_numpy(), minlength=ctx.n_items) > 0
        return self

    def score(self, test: pd.DataFrame) -> Scores:
        res = super().score(test)
        it = test["item"].to_numpy()
        return Scores(np.where(res.covered, res.scores + self.item_bias_[it], 0.0), res.covered)


def cornac_dataset(m: sp.csr_matrix):
    """A Cornac train set over the whole catalogue (codes are their own ids), so negatives are
    drawn from every item, not only the ones with an up."""
    from collections import OrderedDict

    from cornac.data import Dataset

    coo = m.tocoo()
    return Dataset(num_users=m.shape[0], num_items=m.shape[1],
                   uid_map=OrderedDict((u, u) for u in range(m.shape[0])),
                   iid_map=OrderedDict((i, i) for i in range(m.shape[1])),
                   uir_tuple=(coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data.astype(np.float64)),
                   seed=0)


class ItemKNNCF(Scorer):
    """Item-kNN collaborative filtering as the field defines it (Sarwar et al. 2001): for (u, i),
    the ``k`` items *u rated* most similar to i vote (:func:`~covers.scorers.history.history_vote`).

    Item similarity = cosine between items' columns of the train matrix, clipped at 0:
    ``similarity: ups`` the binary matrix of up thumbs (implicit feedback, as the field's peers
    use it; chosen on the default world's validation split), ``signed`` +1 up / -1 down. (The earlier definition — i's k global neighbours, of which the user had rated
    few — covered 44% of test thumbs on the default world and scored 0.516.)
    """

    speed_params = ("pair_chunk",)
    tune_grid = {"k": (10, 20, 50), "shrinkage": (0.0, 10.0, 200.0), "similarity": ("ups", "signed")}

    def __init__(self, k: int = 50, shrinkage: float = 10.0, similarity: str = "ups",
                 pair_chunk: int = 1_000_000) -> None:
        self.k = k
        self.shrinkage = shrinkage
        self.similarity = similarity
        self.pair_chunk = pair_chunk

    def check(self) -> None:
        self._require_int("k", "pair_chunk")
        if not self.shrinkage >= 0:
            raise ValueError(f"ItemKNNCF: shrinkage must be >= 0, got {self.shrinkage!r}")
        if self.similarity not in ("ups", "signed"):
            raise ValueError(f"ItemKNNCF: similarity must be 'ups' or 'signed', got {self.similarity!r}")

    def fit(self, train: pd.DataFrame, ctx: Context) -> "ItemKNNCF":
        self.check()
        self.train_ = train[["user", "item", "thumb"]]
        self.sim_ = ColumnCosinePairs(train, ctx.n_users, ctx.n_items, ups_only=self.similarity == "ups")
        return self

    def score(self, test: pd.DataFrame) -> Scores:
        return history_vote(self.train_, test, self.sim_, self.k, self.shrinkage, self.pair_chunk)


class ColumnCosinePairs:
    """Cosine of items' columns of the train matrix (ups only as 1, or signed +1/-1), for (i, j)
    pairs: the row-wise sum of two sparse row selections' product, so the cost follows the
    co-thumbs of the pairs."""

    def __init__(self, train: pd.DataFrame, n_users: int, n_items: int, ups_only: bool = True) -> None:
        up = train["thumb"].to_numpy() > 0
        keep = up if ups_only else np.ones(len(train), bool)
        val = np.where(up, 1.0, -1.0)[keep]
        R = sp.csc_matrix((val, (train["user"].to_numpy()[keep], train["item"].to_numpy()[keep])),
                          shape=(n_users, n_items))
        norms = np.sqrt(np.asarray(R.multiply(R).sum(0)).ravel())
        self.RnT = (R @ sp.diags(1.0 / np.maximum(norms, 1e-12))).T.tocsr()

    def __call__(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return np.asarray(self.RnT[i].multiply(self.RnT[j]).sum(1)).ravel()
