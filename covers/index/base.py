"""The index contract, and what every neighbour index shares.

Every index answers one question for the evaluation: for each catalogue item, its ``k``
nearest other items and a similarity for each (larger = closer), as dense (n_items, k) arrays
so scoring is vectorised. As in ann-benchmarks (``args`` / ``query_args``), an index declares
which of its parameters shape the built index (``build_params``: its cache key) and which only
shape answers (``query_params``: a sweep over them reuses one build); every other parameter is
a speed parameter (threads, chunk sizes) and changes no answer.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from covers.utils import Part

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


class Index(Part, ABC):
    """An index over the rows of a feature matrix.

    * ``build(X, path=None)``: build over the rows of X. An index that lives in one file
      (``file_suffix`` set) writes it to ``path`` when given (the cache's temporary name, renamed
      into place when complete), else to a private temporary file; :meth:`load` opens a saved
      one. Indexes without a file (``file_suffix = None``) are rebuilt every run.
    * ``query_rows(rows, k)``: (ids, distances) of the ``k`` nearest *other* items of each row,
      closest first, as (len(rows), k) arrays: int64 ids padded with -1 where fewer were found,
      float64 distances (0 there). ``neighbours(k)``: the same for every item, as similarities.
    * After ``build``/``load``: ``n_items_``, ``dim_``, ``size_bytes_``.
    """

    build_params: tuple[str, ...] = ()
    query_params: tuple[str, ...] = ()
    file_suffix: str | None = None
    metric: str

    @classmethod
    def speed_param_names(cls) -> tuple[str, ...]:
        """Every parameter that is neither a build nor a query parameter."""
        return tuple(p for p in cls.param_names() if p not in cls.build_params + cls.query_params)

    def build_key(self) -> dict[str, Any]:
        """The built index depends on these, and on nothing else (with the matrix): its cache key."""
        return {"class": type(self).__name__, **{k: getattr(self, k) for k in self.build_params}}

    def check(self) -> None:
        check_metric(self.metric)

    @abstractmethod
    def build(self, X: np.ndarray, path: str | Path | None = None) -> "Index":
        """Build over the rows of X (calls :meth:`check` first)."""

    def load(self, path: str | Path, X: np.ndarray) -> "Index":
        """Open an index this class saved at ``path`` over the rows of X (``file_suffix`` indexes)."""
        raise TypeError(f"{type(self).__name__} keeps no index file (file_suffix is None): build it instead")

    @abstractmethod
    def query_rows(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, distances), (len(rows), k) each; ids -1 where fewer than k were found."""

    @abstractmethod
    def neighbours(self, k: int) -> Neighbours:
        """Dense (n, k) neighbours of every item, similarities 0 where ids are -1."""


def pad_rows(rows: list[tuple[list[int], list[float]]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Ragged per-row (ids, distances) -> dense (n, k) int64 ids (-1 padded) and float64 distances."""
    ids = np.full((len(rows), k), -1, dtype=np.int64)
    dist = np.zeros((len(rows), k), dtype=np.float64)
    for r, (r_ids, r_d) in enumerate(rows):
        ids[r, :len(r_ids)] = r_ids
        dist[r, :len(r_d)] = r_d
    return ids, dist
