"""Baselines that every run reports beside the cover method, on the same split."""
from __future__ import annotations

import numpy as np
import pandas as pd

from covers.scorers.base import Context, NotApplicable, Scorer, Scores


class RandomScorer(Scorer):
    """Uniform random scores from an explicit seed: the 0.5 line, measured."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, train: pd.DataFrame, ctx: Context) -> "RandomScorer":
        self.check()
        return self

    def score(self, test: pd.DataFrame) -> Scores:
        rng = np.random.default_rng(self.seed)
        return Scores(rng.random(len(test)), np.ones(len(test), dtype=bool))


def _smoothed_rate(codes: np.ndarray, thumbs: np.ndarray, n: int, prior: float, strength: float):
    ups = np.bincount(codes, weights=thumbs, minlength=n)
    cnt = np.bincount(codes, minlength=n).astype(np.float64)
    seen = cnt > 0
    # unseen users/items get the prior, also when strength == 0
    rate = np.divide(ups + strength * prior, cnt + strength, out=np.full(n, prior), where=seen | (strength > 0))
    return rate, seen


class _Smoothed(Scorer):
    def __init__(self, smoothing: float = 5.0) -> None:
        self.smoothing = smoothing

    def check(self) -> None:
        if not self.smoothing >= 0:
            raise ValueError(f"{type(self).__name__}: smoothing must be >= 0, got {self.smoothing!r}")


class PopularityScorer(_Smoothed):
    """Item up-rate on train, smoothed toward the global up-rate: (ups + a*p) / (n + a)."""

    tune_grid = {"smoothing": (0.0, 1.0, 5.0, 20.0, 100.0, 500.0, 2000.0, 10000.0)}

    def fit(self, train: pd.DataFrame, ctx: Context) -> "PopularityScorer":
        self.check()
        t = train["thumb"].to_numpy(np.float64)
        prior = float(t.mean()) if t.size else 0.5
        self.rate_, self.seen_ = _smoothed_rate(train["item"].to_numpy(), t, ctx.n_items, prior, self.smoothing)
        return self

    def score(self, test: pd.DataFrame) -> Scores:
        it = test["item"].to_numpy()
        return Scores(self.rate_[it], self.seen_[it])


class UserMeanScorer(_Smoothed):
    """The user's own train up-rate, smoothed: knows who is generous, nothing about covers."""

    def fit(self, train: pd.DataFrame, ctx: Context) -> "UserMeanScorer":
        self.check()
        t = train["thumb"].to_numpy(np.float64)
        prior = float(t.mean()) if t.size else 0.5
        self.rate_, self.seen_ = _smoothed_rate(train["user"].to_numpy(), t, ctx.n_users, prior, self.smoothing)
        return self

    def score(self, test: pd.DataFrame) -> Scores:
        u = test["user"].to_numpy()
        return Scores(self.rate_[u], self.seen_[u])


class OracleScorer(Scorer):
    """The simulator's true preference logit: an upper bound no method can beat on average."""

    def fit(self, train: pd.DataFrame, ctx: Context) -> "OracleScorer":
        return self

    def score(self, test: pd.DataFrame) -> Scores:
        if "true_score" not in test:
            raise NotApplicable("oracle baseline needs a 'true_score' column in the thumbs (only simulated worlds have one)")
        return Scores(test["true_score"].to_numpy(np.float64), np.ones(len(test), dtype=bool))
