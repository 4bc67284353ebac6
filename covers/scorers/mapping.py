"""Content -> CF mapping, the 2014 post's announced next step.

Learn a ridge regression from cover features to the item factors of a CF model (``cf``: the
ALS baseline's own settings, by interpolation in ``conf/baseline/content_to_cf.yaml``) on the
items that have train thumbs, then score any item (cold ones included) as user_factors[u] . W x_i.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge

from covers.scorers.base import Context, Scorer, Scores
from covers.scorers.cf import ALSScorer, _FactorScorer


class ContentToCF(Scorer):
    def __init__(self, alpha: float = 10.0, cf: _FactorScorer | None = None) -> None:
        self.alpha = alpha
        self.cf = cf

    def check(self) -> None:
        if not self.alpha > 0:
            raise ValueError(f"ContentToCF: alpha (ridge penalty) must be > 0, got {self.alpha!r}")
        if self.cf is not None and not isinstance(self.cf, _FactorScorer):
            raise ValueError(f"ContentToCF: cf must be a factor model (ALSScorer, BPRScorer), got {self.cf!r}")

    def fit(self, train: pd.DataFrame, ctx: Context) -> "ContentToCF":
        import copy

        self.check()
        if ctx.features is None:
            raise ValueError("ContentToCF needs the feature matrix in the context")
        als = copy.deepcopy(self.cf if self.cf is not None else ALSScorer()).fit(train, ctx)
        warm = als.item_seen_
        if warm.sum() < 2:
            raise ValueError(f"ContentToCF needs at least 2 items with train thumbs, got {int(warm.sum())}")
        X = np.asarray(ctx.features, dtype=np.float64)
        self.ridge_ = Ridge(alpha=self.alpha).fit(X[warm], als.item_factors_[warm])
        self.item_factors_ = self.ridge_.predict(X)  # every item, thumbed or not
        self.user_factors_ = als.user_factors_
        self.user_seen_ = als.user_seen_
        return self

    def score(self, test: pd.DataFrame) -> Scores:
        u = test["user"].to_numpy()
        it = test["item"].to_numpy()
        covered = self.user_seen_[u]
        s = (self.user_factors_[u] * self.item_factors_[it]).sum(1)
        return Scores(np.where(covered, s, 0.0), covered)
