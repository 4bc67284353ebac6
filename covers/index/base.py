"""The index contract, and what every neighbour index shares.

Every index answers one question for the evaluation: for each catalogue item, its ``k``
nearest other items and a similarity for each (larger = closer), as dense (n_items, k) arrays
so scoring is vectorised. As in ann-benchmarks (``args`` / ``query_args``), an index declares
which of its parameters shape the built index (``build_params``: its cache key) and which only
shape answers (``query_params``: a sweep over them reuses one build); every other parameter is
a speed parameter (threads, chunk sizes) and changes no answer.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from covers.utils import Part, release_rows

METRICS = ("angular", "euclidean", "manhattan", "dot")


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    return metric


def refuse_metric(part: str, metric: str, supported: tuple[str, ...], why: str) -> None:
    """The one error for a metric of :data:`METRICS` an index cannot serve: names the part, the
    metric, what it does support and why."""
    check_metric(metric)
    if metric not in supported:
        raise ValueError(f"{part}: metric {metric!r} is not supported ({why}); use one of {supported}")


def to_similarity(dist: np.ndarray, metric: str) -> np.ndarray:
    """Distances in Annoy's conventions (every index returns these) -> similarity, larger = closer.

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
    * ``search(Q, k, n_threads=None)``: the same for arbitrary query vectors (a user's taste, a
      benchmark's queries), nothing excluded; ``n_threads`` caps the threads of this call (None:
      the index's own query threads), so one-query-at-a-time speed can be measured on one thread.
    * Distances follow Annoy's conventions whatever the library (angular: sqrt(2 - 2 cos);
      euclidean: L2; manhattan: L1; dot: the product itself), so :func:`to_similarity` reads all.
    * ``family()``: the name a sweep's plots draw one line for (ann-benchmarks' algorithm).
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
    def search(self, Q: np.ndarray, k: int, n_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, distances) of the k nearest items to each row of Q, (len(Q), k) each, -1 padded."""

    @abstractmethod
    def neighbours(self, k: int) -> Neighbours:
        """Dense (n, k) neighbours of every item, similarities 0 where ids are -1."""

    def family(self) -> str:
        """One line per family in the sweep's recall/QPS plot: by default the module's name
        (annoy, voyager, exact); an index whose build parameters change the algorithm says so."""
        return type(self).__module__.rsplit(".", 1)[-1]


def drop_self_block(ids: np.ndarray, dist: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`drop_self` for a block of answers to ``rows``' own vectors, each asked
    for one more than it needs: drop the row's own id where the index returned it (wherever
    duplicates put it), else the last column; pad or cut to k (ids -1 / distances 0 padded)."""
    m, w = ids.shape
    out_i = np.full((m, k), -1, np.int64)
    out_d = np.zeros((m, k), np.float64)
    if w == 0:
        return out_i, out_d
    own = ids == np.asarray(rows)[:, None]
    drop = own.copy()
    drop[~own.any(1), -1] = True  # exactly one column dropped per row
    keep_i = ids[~drop].reshape(m, w - 1)[:, :k]
    keep_d = dist[~drop].reshape(m, w - 1)[:, :k]
    out_i[:, :keep_i.shape[1]] = keep_i
    out_d[:, :keep_d.shape[1]] = np.where(keep_i >= 0, keep_d, 0.0)
    return out_i, out_d


def pad_rows(rows: list[tuple[list[int], list[float]]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Ragged per-row (ids, distances) -> dense (n, k) int64 ids (-1 padded) and float64 distances."""
    ids = np.full((len(rows), k), -1, dtype=np.int64)
    dist = np.zeros((len(rows), k), dtype=np.float64)
    for r, (r_ids, r_d) in enumerate(rows):
        ids[r, :len(r_ids)] = r_ids
        dist[r, :len(r_d)] = r_d
    return ids, dist


class VectorSearchIndex(Index):
    """An index whose library answers queries by vector (:meth:`Index.search`): item queries are
    its own rows (``X_``) searched for k + 1 and the item itself dropped; all-items neighbours go
    in chunks of ``query_chunk`` rows, each released from memory once answered."""

    def query_rows(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        rows = np.asarray(rows, np.int64)
        ids, dist = self.search(np.asarray(self.X_[np.sort(rows)])[np.argsort(np.argsort(rows))], k + 1)
        return drop_self_block(ids, dist, rows, k)

    def neighbours(self, k: int) -> Neighbours:
        """Every item's k nearest others, in chunks of ``query_chunk`` items on ``query_jobs`` threads."""
        t0 = time.perf_counter()
        n = self.n_items_
        ids = np.full((n, k), -1, np.int64)
        sims = np.zeros((n, k), np.float64)
        for a in range(0, n, int(self.query_chunk)):
            b = min(a + int(self.query_chunk), n)
            r_ids, r_d = self.query_rows(np.arange(a, b), k)
            release_rows(self.X_, a, b)
            ids[a:b] = r_ids
            sims[a:b] = np.where(r_ids >= 0, to_similarity(r_d, self.metric), 0.0)
        return Neighbours(ids, sims, time.perf_counter() - t0)
