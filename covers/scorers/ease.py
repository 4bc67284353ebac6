"""EASE (Steck 2019): a closed-form item-item linear model, from Cornac.

B = argmin ||X - XB||^2 + lambda ||B||^2 with diag(B) = 0, on the up thumbs; score(u, i) =
X[u] . B[:, i]. One dense n_items x n_items inverse: quadratic memory, so it refuses catalogues
above ``max_items`` (20,000 items = 3.2 GB) with a message instead of swapping the machine.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from covers.scorers.base import Context, Scorer, Scores
from covers.scorers.cf import cornac_dataset, ups_matrix


class EASEScorer(Scorer):
    speed_params = ("max_items", "user_block")
    tune_grid = {"lamb": (10.0, 50.0, 200.0, 500.0, 2000.0, 5000.0, 20000.0)}

    def __init__(self, lamb: float = 5000.0, positive_only: bool = True, max_items: int = 20_000,
                 user_block: int = 1024) -> None:
        self.lamb = lamb
        self.positive_only = positive_only
        self.max_items = max_items
        self.user_block = user_block

    def check(self) -> None:
        if not self.lamb > 0:
            raise ValueError(f"EASEScorer: lamb (L2 penalty) must be > 0, got {self.lamb!r}")
        if not isinstance(self.positive_only, bool):
            raise ValueError(f"EASEScorer: positive_only must be true or false, got {self.positive_only!r}")
        self._require_int("max_items", "user_block")

    def fit(self, train: pd.DataFrame, ctx: Context) -> "EASEScorer":
        from cornac.models import EASE

        self.check()
        if ctx.n_items > self.max_items:
            raise ValueError(f"EASEScorer: {ctx.n_items} items need a dense {ctx.n_items}^2 matrix "
                             f"({8 * ctx.n_items ** 2 / 1e9:.1f} GB); raise baseline max_items (now {self.max_items}) "
                             "if the machine has the memory, or leave EASE out of the baselines")
        self.X_ = ups_matrix(train, ctx.n_users, ctx.n_items)
        if self.X_.nnz:
            model = EASE(lamb=self.lamb, posB=self.positive_only, verbose=False, seed=0).fit(cornac_dataset(self.X_))
            self.B_ = np.asarray(model.B, dtype=np.float64)
        else:
            self.B_ = np.zeros((ctx.n_items, ctx.n_items))
        self.user_seen_ = np.diff(self.X_.indptr) > 0
        self.item_seen_ = np.bincount(train["item"].to_numpy(), minlength=ctx.n_items) > 0
        return self

    def score(self, test: pd.DataFrame) -> Scores:
        u = test["user"].to_numpy()
        it = test["item"].to_numpy()
        s = np.zeros(len(test))
        # X[u] . B[:, i] per test thumb: one sparse-dense product per block of distinct users
        users, inv = np.unique(u, return_inverse=True)
        for a in range(0, len(users), self.user_block):
            sel = (inv >= a) & (inv < a + self.user_block)
            XB = self.X_[users[a:a + self.user_block]] @ self.B_
            s[sel] = XB[inv[sel] - a, it[sel]]
        covered = self.user_seen_[u] & self.item_seen_[it]
        return Scores(np.where(covered, s, 0.0), covered)
