"""Cover-centroid scorer: how much more an album looks like what the user liked than what they disliked."""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from covers.scorers.base import Context, Scorer, Scores


class CentroidScorer(Scorer):
    """score(u, i) = cos(x_i, mean of x over u's train ups) - cos(x_i, mean over u's train downs).

    A missing side (no ups, or no downs) contributes 0. Works for any item, thumbed or not
    (cold items included), as long as the user has train thumbs; otherwise the score is 0
    and the thumb counts as not covered. Reads the (normalised) feature matrix, not the index.
    """

    speed_params = ("chunk",)

    def __init__(self, chunk: int = 100_000) -> None:
        self.chunk = chunk

    def check(self) -> None:
        self._require_int("chunk")

    def fit(self, train: pd.DataFrame, ctx: Context) -> "CentroidScorer":
        self.check()
        if ctx.features is None:
            raise ValueError("CentroidScorer needs the feature matrix in the context")
        X = np.asarray(ctx.features, dtype=np.float64)
        self.X_ = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        u = train["user"].to_numpy()
        it = train["item"].to_numpy()
        up = train["thumb"].to_numpy() > 0
        self.up_ = self._unit_centroids(u[up], it[up], ctx.n_users)
        self.down_ = self._unit_centroids(u[~up], it[~up], ctx.n_users)
        self.has_ = np.bincount(u, minlength=ctx.n_users) > 0
        return self

    def _unit_centroids(self, users: np.ndarray, items: np.ndarray, n_users: int) -> np.ndarray:
        m = sp.csr_matrix((np.ones(len(users)), (users, items)), shape=(n_users, len(self.X_)))
        c = np.asarray(m @ self.X_)  # sum, direction only matters for the cosine
        return c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)

    def score(self, test: pd.DataFrame) -> Scores:
        u = test["user"].to_numpy()
        it = test["item"].to_numpy()
        out = np.empty(len(test))
        for s in range(0, len(test), self.chunk):
            x = self.X_[it[s:s + self.chunk]]
            uu = u[s:s + self.chunk]
            out[s:s + self.chunk] = (x * self.up_[uu]).sum(1) - (x * self.down_[uu]).sum(1)
        return Scores(out, self.has_[u])
