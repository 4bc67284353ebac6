"""Shared pieces of the neighbour indexes.

Every index answers one question for the evaluation: for each catalogue item,
its ``k`` nearest other items and a similarity for each (larger = closer),
as dense (n_items, k) arrays so scoring is vectorised. Build-time parameters
(``n_trees``) and query-time ones (``search_k``, ``k``) are kept apart.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METRICS = ("angular", "euclidean", "manhattan", "dot")


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    return metric


def to_similarity(dist: np.ndarray, metric: str) -> np.ndarray:
    """Annoy's distances -> similarity in a comparable direction.

    angular: Annoy returns sqrt(2 - 2 cos), so cos = 1 - d^2/2; euclidean and
    manhattan: 1 / (1 + d); dot: Annoy returns the dot product itself.
    """
    d = np.asarray(dist, dtype=np.float64)
    if metric == "angular":
        return 1.0 - d * d / 2.0
    if metric in ("euclidean", "manhattan"):
        return 1.0 / (1.0 + d)
    return d


@dataclass
class Neighbours:
    ids: np.ndarray  # (n, k) int64, -1 where fewer than k were found
    sims: np.ndarray  # (n, k) float64, 0 where ids == -1
    query_seconds: float


def drop_self(row_ids: list[int], row_d: list[float], i: int, k: int) -> tuple[list[int], list[float]]:
    """Remove the query item from its own result (wherever duplicates put it) and cut to k."""
    if i in row_ids:
        j = row_ids.index(i)
        row_ids = row_ids[:j] + row_ids[j + 1:]
        row_d = row_d[:j] + row_d[j + 1:]
    return row_ids[:k], row_d[:k]


def pack(rows: list[tuple[list[int], list[float]]], k: int, metric: str, seconds: float) -> Neighbours:
    n = len(rows)
    ids = np.full((n, k), -1, dtype=np.int64)
    sims = np.zeros((n, k), dtype=np.float64)
    for i, (r_ids, r_d) in enumerate(rows):
        m = len(r_ids)
        ids[i, :m] = r_ids
        sims[i, :m] = to_similarity(np.asarray(r_d), metric)
    return Neighbours(ids, sims, seconds)
