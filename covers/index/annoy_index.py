"""Annoy, the index of the 2014 seed experiment.

``n_trees`` (and ``metric``, ``seed``) shape the built index and are part of
its cache key; ``search_k`` only shapes queries, so a sweep over it reuses one
built index.

At scale (a million covers):

* **Build** streams the rows of X (which may be a read-only memory map) into Annoy one
  at a time, so X is never copied. The index itself is built in memory, or, when its
  estimated size (:func:`estimated_bytes`) exceeds ``on_disk_bytes`` (1 GiB by default;
  ``on_disk_build=true/false`` forces it), straight into its file with Annoy's
  ``on_disk_build``, so its nodes are file-backed pages the kernel can write back and drop
  instead of anonymous memory. ``n_jobs`` threads build the trees (Annoy releases the GIL):
  the file's tree order then depends on thread timing, so bytes differ between builds
  but every query answer is the same (each thread's trees come from a fixed seed). The
  number of threads does change the trees (one seed per thread), so it is part of
  :meth:`params` (the cache key) when it is not 1.
* **All-items neighbours** (:meth:`neighbours`, what the scorer reads) are queried in
  ``query_jobs`` processes (default: all cores; never changes an answer, so not in the
  key), each mapping the saved index file (the pages are shared, not
  copied). Processes, not threads: Annoy 1.17's ``get_nns_by_item`` holds the GIL
  (measured: two threads are no faster than one). The answer does not depend on the
  number of processes. Every built index has a file for this: the cache entry, or a
  private temporary file when there is no cache.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
import weakref
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from annoy import AnnoyIndex as _Annoy

from covers.extract import release_rows
from covers.index.base import Neighbours, check_metric, drop_self, to_similarity

ON_DISK_BYTES = 1 << 30  #: default size above which on_disk_build="auto" builds into the file
PARALLEL_MIN_ITEMS = 20_000  #: below this, neighbours() queries in-process (start-up costs more than it saves)


def estimated_bytes(n: int, dim: int, metric: str, n_trees: int = 10) -> int:
    """Annoy's file size, roughly: one node of (header + dim floats) per item, plus per tree
    about 2.5 n / (dim + 2) split and leaf nodes (a leaf holds up to dim + 2 item ids)."""
    header = {"angular": 12, "euclidean": 16, "manhattan": 16, "dot": 16}[metric]
    return int(n * (header + 4 * dim) * (1.0 + n_trees * 2.5 / (dim + 2)))


def _resolve_jobs(n_jobs: int | None) -> int:
    if n_jobs in (-1, None):
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, int(n_jobs))


class AnnoyIndex:
    def __init__(self, metric: str = "angular", n_trees: int = 10, search_k: int = -1,
                 seed: int = 0, n_jobs: int = -1, on_disk_build: bool | str = "auto",
                 on_disk_bytes: int = ON_DISK_BYTES, query_jobs: int = -1, query_chunk: int = 8192) -> None:
        self.metric = check_metric(metric)
        if not isinstance(n_trees, int) or n_trees < 1:
            raise ValueError(f"n_trees must be a positive int, got {n_trees!r}")
        if not isinstance(search_k, int) or (search_k < 1 and search_k != -1):
            raise ValueError(f"search_k must be -1 (Annoy's default: n_trees * k) or a positive int, got {search_k!r}")
        if on_disk_build not in ("auto", True, False):
            raise ValueError(f"on_disk_build must be 'auto', true or false, got {on_disk_build!r}")
        self.n_trees = n_trees
        self.search_k = search_k
        self.seed = seed
        self.n_jobs = n_jobs
        self.on_disk_build = on_disk_build
        self.on_disk_bytes = int(on_disk_bytes)
        self.query_jobs = query_jobs
        self.query_chunk = int(query_chunk)

    def params(self) -> dict:
        """Build-time parameters only: what the built index depends on. Annoy seeds each build
        thread separately, so the thread count shapes the trees too (equally good, different)."""
        return {"class": type(self).__name__, "metric": self.metric, "n_trees": self.n_trees, "seed": self.seed,
                "n_jobs": self.n_jobs}

    def build(self, X: np.ndarray, cache_path: str | Path | None = None) -> "AnnoyIndex":
        """Build (or load from ``cache_path`` if that file exists) the index over the rows of X."""
        self.n_items_, self.dim_ = X.shape
        self.cache_hit_ = False
        if cache_path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="covers-annoy-")
            weakref.finalize(self, shutil.rmtree, self._tmpdir, True)
            cache_path = Path(self._tmpdir) / "index.ann"
        path = Path(cache_path)
        t0 = time.perf_counter()
        if path.exists():
            self.cache_hit_ = True
            self.on_disk_ = False
        else:
            self.on_disk_ = (self.on_disk_build is True or (
                self.on_disk_build == "auto" and estimated_bytes(self.n_items_, self.dim_, self.metric, self.n_trees) > self.on_disk_bytes))
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written under a temporary name, then renamed: a killed build never leaves a
            # truncated index under the real key.
            tmp = f"{path}.tmp-{os.getpid()}"
            index = _Annoy(self.dim_, self.metric)
            index.set_seed(self.seed)
            if self.on_disk_:
                index.on_disk_build(tmp)
            for a in range(0, self.n_items_, 65536):  # a row at a time: X (maybe a memmap) is never copied
                for i in range(a, min(a + 65536, self.n_items_)):
                    index.add_item(i, X[i].tolist())
                release_rows(X, a, a + 65536)  # a memory-mapped X: only the current rows stay resident
            index.build(self.n_trees, n_jobs=self.n_jobs)
            if not self.on_disk_:
                index.save(tmp)
            index.unload()
            del index
            os.replace(tmp, path)
        self.index_ = _Annoy(self.dim_, self.metric)
        self.index_.load(str(path))  # mmap'd: shared with the query processes
        self.path_ = str(path)
        self.build_seconds_ = time.perf_counter() - t0
        self.size_bytes_ = int(path.stat().st_size)
        return self

    def query_rows(self, rows: np.ndarray, k: int) -> tuple[list[list[int]], list[list[float]]]:
        ids, ds = [], []
        for i in rows:
            r_ids, r_d = self.index_.get_nns_by_item(int(i), k + 1, search_k=self.search_k, include_distances=True)
            r_ids, r_d = drop_self(r_ids, r_d, int(i), k)
            ids.append(r_ids)
            ds.append(r_d)
        return ids, ds

    def neighbours(self, k: int) -> Neighbours:
        """Dense (n, k) neighbours of every item (-1 / 0 where Annoy found fewer), queried in
        ``query_jobs`` processes over the index file; the same answer for any ``query_jobs``."""
        t0 = time.perf_counter()
        n = self.n_items_
        ids = np.full((n, k), -1, dtype=np.int64)
        dist = np.zeros((n, k), dtype=np.float32)
        spans = [(a, min(a + self.query_chunk, n)) for a in range(0, n, self.query_chunk)]
        w = min(_resolve_jobs(self.query_jobs), len(spans))
        args = (self.path_, self.dim_, self.metric, k, self.search_k)
        if w <= 1 or n < PARALLEL_MIN_ITEMS:
            for a, b in spans:
                _, ids[a:b], dist[a:b] = _query_span(self.index_, a, b, k, self.search_k)
        else:
            from covers.engines.local import mp_context

            with ProcessPoolExecutor(w, mp_context=mp_context(), initializer=_init_query, initargs=args) as pool:
                for a, r_ids, r_d in pool.map(_query_worker, spans):
                    ids[a:a + len(r_ids)] = r_ids
                    dist[a:a + len(r_d)] = r_d
        # Annoy computes distances in float32, so keeping them as float32 loses nothing;
        # similarities in blocks, so no (n, k) float64 temporaries pile up
        sims = np.empty((n, k), dtype=np.float64)
        for a in range(0, n, 65536):
            blk = ids[a:a + 65536] >= 0
            sims[a:a + 65536] = np.where(blk, to_similarity(dist[a:a + 65536], self.metric), 0.0)
        return Neighbours(ids, sims, time.perf_counter() - t0)


def _query_span(index: _Annoy, a: int, b: int, k: int, search_k: int) -> tuple[int, np.ndarray, np.ndarray]:
    ids = np.full((b - a, k), -1, dtype=np.int64)
    dist = np.zeros((b - a, k), dtype=np.float32)
    for r, i in enumerate(range(a, b)):
        r_ids, r_d = index.get_nns_by_item(i, k + 1, search_k=search_k, include_distances=True)
        r_ids, r_d = drop_self(r_ids, r_d, i, k)
        ids[r, :len(r_ids)] = r_ids
        dist[r, :len(r_d)] = r_d
    return a, ids, dist


_Q: dict = {}


def _init_query(path: str, dim: int, metric: str, k: int, search_k: int) -> None:
    index = _Annoy(dim, metric)
    index.load(path)
    _Q.update(index=index, k=k, search_k=search_k)


def _query_worker(span: tuple[int, int]) -> tuple[int, np.ndarray, np.ndarray]:
    a, ids, dist = _query_span(_Q["index"], span[0], span[1], _Q["k"], _Q["search_k"])
    return a, ids.astype(np.int32), dist
