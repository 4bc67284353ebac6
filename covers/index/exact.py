"""Brute-force neighbours: the reference every approximate index is checked against."""
from __future__ import annotations

import time

import numpy as np

from covers.index.base import Index, Neighbours, to_similarity
from covers.utils import release_rows


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


class ExactIndex(Index):
    """Exact k nearest neighbours by blocked brute force (no approximation). Nothing to build
    but a float32 copy of the matrix, so it keeps no file and is never cached (``file_suffix``)."""

    build_params = ("metric",)

    def __init__(self, metric: str = "angular", block: int = 1024) -> None:
        self.metric = metric
        self.block = block

    def check(self) -> None:
        super().check()
        self._require_int("block")

    def build(self, X: np.ndarray, path=None) -> "ExactIndex":
        self.check()
        self.X_ = np.asarray(X, dtype=np.float32)
        self.n_items_, self.dim_ = self.X_.shape
        self.size_bytes_ = int(self.X_.nbytes)
        return self

    def query_rows(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, distances) of the k nearest *other* items of each row, closest first; ties by id."""
        rows = np.asarray(rows)
        n = len(self.X_)
        kk = min(k, n - 1)
        ids_out = np.full((len(rows), k), -1, dtype=np.int64)
        d_out = np.zeros((len(rows), k), dtype=np.float64)
        for s in range(0, len(rows), self.block):
            r = rows[s:s + self.block]
            d = pairwise_distance(self.X_[r], self.X_, self.metric)
            d[np.arange(len(r)), r] = np.inf
            order = np.lexsort((np.broadcast_to(np.arange(n), d.shape), d), axis=1)[:, :kk]
            ids_out[s:s + len(r), :kk] = order
            d_out[s:s + len(r), :kk] = np.take_along_axis(d, order, axis=1)
        return ids_out, d_out

    def neighbours(self, k: int) -> Neighbours:
        t0 = time.perf_counter()
        ids, d = self.query_rows(np.arange(len(self.X_)), k)
        sims = np.where(ids >= 0, to_similarity(-d if self.metric == "dot" else d, self.metric), 0.0)
        return Neighbours(ids, sims, time.perf_counter() - t0)


def exact_neighbours(X: np.ndarray, rows: np.ndarray, k: int, metric: str, block_bytes: int = 128 << 20) -> np.ndarray:
    """Exact k nearest other items of ``rows`` by brute force over blocks of the catalogue:
    O(len(rows) x n) time, memory bounded by ``block_bytes`` whatever n (X may be memory-mapped).
    Same distances and order (closest first, ties by id) as :meth:`ExactIndex.query_rows`: the
    ground truth every index's recall is measured against."""
    n, d = X.shape
    rows = np.asarray(rows)
    block = max(256, int(block_bytes // (8 * max(len(rows), d, 1))))
    Q = np.asarray(X[np.sort(rows)], dtype=np.float32)[np.argsort(np.argsort(rows))]
    cand_d, cand_i = [], []
    for a in range(0, n, block):
        b = min(a + block, n)
        dist = pairwise_distance(Q, np.asarray(X[a:b], dtype=np.float32), metric)
        release_rows(X, a, b)
        own = (rows >= a) & (rows < b)
        dist[np.flatnonzero(own), rows[own] - a] = np.inf
        kk = min(k, b - a)
        part = np.argpartition(dist, kk - 1, axis=1)[:, :kk] if kk < b - a else np.tile(np.arange(b - a), (len(rows), 1))
        cand_d.append(np.take_along_axis(dist, part, 1))
        cand_i.append(part + a)
    cd, ci = np.concatenate(cand_d, 1), np.concatenate(cand_i, 1)
    order = np.lexsort((ci, cd), axis=1)[:, :k]
    return np.take_along_axis(ci, order, 1)
