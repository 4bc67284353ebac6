"""Brute-force neighbours: the reference every approximate index is checked against.

:func:`exact_search` is the one exact search of the package: :class:`ExactIndex` answers with
it, and the recall ground truth of every index (``pipeline.index_metrics``) comes from it.
"""
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


def smallest_k(dist: np.ndarray, k: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(ids, values) of the ``k`` smallest entries of each row, ascending, ties by id (column +
    ``offset``): O(n) per row by partition, exact on ties (a row whose k-th value is tied is
    sorted whole, so which of the tied ids survives never depends on the partition)."""
    m, n = dist.shape
    k = min(k, n)
    if k == 0:
        return np.zeros((m, 0), np.int64), np.zeros((m, 0), dist.dtype)
    if k < n:
        part = np.argpartition(dist, k - 1, axis=1)[:, :k]
        kth = np.take_along_axis(dist, part, 1).max(1)
        tied = (dist <= kth[:, None]).sum(1) > k  # more candidates than slots: ids decide
    else:
        part, tied = np.tile(np.arange(n), (m, 1)), np.zeros(m, bool)
    vals = np.take_along_axis(dist, part, 1)
    order = np.lexsort((part, vals), axis=1)
    ids, vals = np.take_along_axis(part, order, 1), np.take_along_axis(vals, order, 1)
    for r in np.flatnonzero(tied):
        full = np.lexsort((np.arange(n), dist[r]))[:k]
        ids[r], vals[r] = full, dist[r, full]
    return ids.astype(np.int64) + offset, vals


def exact_search(X: np.ndarray, Q: np.ndarray, k: int, metric: str, exclude: np.ndarray | None = None,
                 block_bytes: int = 128 << 20) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest rows of X to each query vector, closest first, ties by id.

    Blocked over the catalogue, so memory is bounded by ``block_bytes`` whatever n (X may be
    memory-mapped): O(len(Q) x n x d) time. ``exclude``: one row id per query left out of its
    answer (the query item itself, for neighbours of catalogue items; -1 = none). Returns
    (len(Q), k) int64 ids, -1 where fewer than k rows remain, and float64 distances in Annoy's
    conventions (:func:`pairwise_distance`; dot: -q.x), 0 there.
    """
    n = len(X)
    Q = np.asarray(Q, dtype=np.float32)
    m = len(Q)
    exclude = np.full(m, -1, np.int64) if exclude is None else np.asarray(exclude, np.int64)
    block = max(256, int(block_bytes // (8 * max(m, X.shape[1], 1))))
    cand_i, cand_d = [], []
    for a in range(0, n, block):
        b = min(a + block, n)
        dist = pairwise_distance(Q, np.asarray(X[a:b], dtype=np.float32), metric)
        release_rows(X, a, b)
        own = (exclude >= a) & (exclude < b)
        dist[np.flatnonzero(own), exclude[own] - a] = np.inf  # sorted last, then dropped below
        i, d = smallest_k(dist, k, offset=a)
        cand_i.append(i)
        cand_d.append(d)
    ids, dist = smallest_k(np.concatenate(cand_d, 1), k) if cand_d else (np.zeros((m, 0), np.int64), None)
    if cand_d:  # candidate positions -> row ids; the ordering ties by position = by id (blocks ascend)
        ids = np.take_along_axis(np.concatenate(cand_i, 1), ids, 1)
    out_i = np.full((m, k), -1, np.int64)
    out_d = np.zeros((m, k), np.float64)
    if ids.shape[1]:
        ok = np.isfinite(dist)
        out_i[:, :ids.shape[1]] = np.where(ok, ids, -1)
        out_d[:, :ids.shape[1]] = np.where(ok, dist, 0.0)
    return out_i, out_d


class ExactIndex(Index):
    """Exact k nearest neighbours by blocked brute force (no approximation). Nothing to build
    but a float32 copy of the matrix, so it keeps no file and is never cached (``file_suffix``).
    numpy's BLAS threads (the run's ``n_jobs``, set by the task) do the work."""

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

    def _blocks(self, Q: np.ndarray, k: int, exclude: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        parts = [exact_search(self.X_, Q[s:s + self.block], k, self.metric,
                              None if exclude is None else exclude[s:s + self.block])
                 for s in range(0, len(Q), self.block)]
        if not parts:
            return np.zeros((0, k), np.int64), np.zeros((0, k), np.float64)
        ids, d = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        return ids, (-d if self.metric == "dot" else d)  # Annoy's convention for dot: the product itself

    def query_rows(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, distances) of the k nearest *other* items of each row, closest first; ties by id."""
        rows = np.asarray(rows, np.int64)
        return self._blocks(self.X_[rows], k, rows)

    def search(self, Q: np.ndarray, k: int, n_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Nearest rows of each query vector; ``n_threads`` caps numpy's BLAS pool (None: as set)."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(n_threads):
            return self._blocks(np.asarray(Q, np.float32), k, None)

    def neighbours(self, k: int) -> Neighbours:
        t0 = time.perf_counter()
        ids, d = self.query_rows(np.arange(len(self.X_)), k)
        sims = np.where(ids >= 0, to_similarity(d, self.metric), 0.0)
        return Neighbours(ids, sims, time.perf_counter() - t0)
