"""Brute-force neighbours: the reference every approximate index is checked against."""
from __future__ import annotations

import time

import numpy as np

from covers.index.base import Neighbours, check_metric, to_similarity


def pairwise_distance(Q: np.ndarray, X: np.ndarray, metric: str) -> np.ndarray:
    """Distances in Annoy's conventions (angular: sqrt(2 - 2 cos); dot: -q.x so smaller = closer)."""
    Q = Q.astype(np.float64)
    X = X.astype(np.float64)
    if metric == "angular":
        qn = Q / np.maximum(np.linalg.norm(Q, axis=1, keepdims=True), 1e-300)
        xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-300)
        return np.sqrt(np.maximum(2.0 - 2.0 * qn @ xn.T, 0.0))
    if metric == "euclidean":
        d2 = (Q * Q).sum(1)[:, None] + (X * X).sum(1)[None, :] - 2.0 * Q @ X.T
        return np.sqrt(np.maximum(d2, 0.0))
    if metric == "manhattan":
        return np.abs(Q[:, None, :] - X[None, :, :]).sum(-1)
    return -(Q @ X.T)


class ExactIndex:
    """Exact k nearest neighbours by blocked brute force (no approximation)."""

    def __init__(self, metric: str = "angular", block: int = 1024) -> None:
        self.metric = check_metric(metric)
        self.block = block

    def params(self) -> dict:
        return {"class": type(self).__name__, "metric": self.metric}

    def build(self, X: np.ndarray, cache_path=None) -> "ExactIndex":
        self.X_ = np.asarray(X, dtype=np.float32)
        self.build_seconds_ = 0.0
        self.size_bytes_ = int(self.X_.nbytes)
        self.cache_hit_ = False
        return self

    def query_rows(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, distances) of the k nearest *other* items of each row, closest first; ties by id."""
        rows = np.asarray(rows)
        n = len(self.X_)
        kk = min(k, n - 1)
        ids_out = np.empty((len(rows), kk), dtype=np.int64)
        d_out = np.empty((len(rows), kk), dtype=np.float64)
        for s in range(0, len(rows), self.block):
            r = rows[s:s + self.block]
            d = pairwise_distance(self.X_[r], self.X_, self.metric)
            d[np.arange(len(r)), r] = np.inf
            order = np.lexsort((np.broadcast_to(np.arange(n), d.shape), d), axis=1)[:, :kk]
            ids_out[s:s + len(r)] = order
            d_out[s:s + len(r)] = np.take_along_axis(d, order, axis=1)
        return ids_out, d_out

    def neighbours(self, k: int) -> Neighbours:
        t0 = time.perf_counter()
        ids, d = self.query_rows(np.arange(len(self.X_)), k)
        sims = to_similarity(-d if self.metric == "dot" else d, self.metric)
        out_ids = np.full((len(ids), k), -1, dtype=np.int64)
        out_sims = np.zeros((len(ids), k))
        out_ids[:, : ids.shape[1]] = ids
        out_sims[:, : ids.shape[1]] = sims
        return Neighbours(out_ids, out_sims, time.perf_counter() - t0)
