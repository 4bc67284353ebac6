"""Content -> CF mapping, the 2014 post's announced next step.

Learn a ridge regression from cover features to the item factors of a CF model (``cf``: the
ALS baseline's own settings, by interpolation in ``conf/baseline/content_to_cf.yaml``) on the
items that have train thumbs, then score any item as user_factors[u] . W x_i.

**Cross-fitted** (as in double machine learning): the items with train thumbs are cut into
``folds`` seeded folds, and each one's predicted factors come from a ridge fitted on the other
folds only — so no item's score ever reads its own CF factor. Fitted on all items, a ridge
with hundreds of feature dimensions and a few thousand items reproduces each item's factor,
and the "content" method partly *is* CF on warm items (0.65 per-user AUC on real posters where
the cover kNN is at chance). Items without train thumbs (``split=cold_items``) have no factor to
leak and get the ridge fitted on every warm item, as before.
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge

from covers.scorers.base import Context, Scorer, Scores
from covers.scorers.cf import ALSScorer, _FactorScorer


class ContentToCF(Scorer):
    tune_grid = {"alpha": (1.0, 10.0, 100.0, 1e3, 1e4, 1e5)}

    def __init__(self, alpha: float = 1e4, folds: int = 5, seed: int = 0, cf: _FactorScorer | None = None) -> None:
        self.alpha = alpha
        self.folds = folds
        self.seed = seed
        self.cf = cf

    def check(self) -> None:
        if not self.alpha > 0:
            raise ValueError(f"ContentToCF: alpha (ridge penalty) must be > 0, got {self.alpha!r}")
        self._require_int("folds", minimum=2, why=" (cross-fitting needs at least two folds of items)")
        if self.cf is not None and not isinstance(self.cf, _FactorScorer):
            raise ValueError(f"ContentToCF: cf must be a factor model (ALSScorer, BPRScorer), got {self.cf!r}")

    def fit(self, train: pd.DataFrame, ctx: Context) -> "ContentToCF":
        self.check()
        if ctx.features is None:
            raise ValueError("ContentToCF needs the feature matrix in the context")
        als = copy.deepcopy(self.cf if self.cf is not None else ALSScorer()).fit(train, ctx)
        warm = np.flatnonzero(als.item_seen_)
        if warm.size < self.folds:
            raise ValueError(f"ContentToCF needs at least folds={self.folds} items with train thumbs, got {warm.size}")
        X = np.asarray(ctx.features, dtype=np.float64)
        F = als.item_factors_
        pred = Ridge(alpha=self.alpha).fit(X[warm], F[warm]).predict(X)  # the cold items' answer
        fold = np.random.default_rng(self.seed).permutation(warm.size) % self.folds
        for f in range(self.folds):
            out, fit_on = warm[fold == f], warm[fold != f]
            pred[out] = Ridge(alpha=self.alpha).fit(X[fit_on], F[fit_on]).predict(X[out])
        self.item_factors_ = pred
        self.user_factors_ = als.user_factors_
        self.user_seen_ = als.user_seen_
        return self

    def score(self, test: pd.DataFrame) -> Scores:
        u = test["user"].to_numpy()
        it = test["item"].to_numpy()
        covered = self.user_seen_[u]
        s = (self.user_factors_[u] * self.item_factors_[it]).sum(1)
        return Scores(np.where(covered, s, 0.0), covered)
