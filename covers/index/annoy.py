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
  number of threads does change the trees (one seed per thread), so it is a build
  parameter (``build_threads``, part of the cache key), not a speed setting like ``n_jobs``.
* **All-items neighbours** (:meth:`neighbours`, what the scorer reads) are queried in
  ``query_jobs`` processes (``conf/index/annoy.yaml``: the run's ``n_jobs``; never changes
  an answer, so not in the key), each mapping the saved index file (the pages are shared, not
  copied). Processes, not threads: Annoy 1.17's ``get_nns_by_item`` holds the GIL
  (measured: two threads are no faster than one). The answer does not depend on the
  number of processes. Every built index has a file for this: the cache entry, or a
  private temporary file when there is no cache.
"""
from __future__ import annotations

import shutil
import tempfile
import time
import weakref
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from annoy import AnnoyIndex as _Annoy

from covers.utils import mp_context, release_rows, resolve_n_jobs
from covers.index.base import Index, Neighbours, drop_self, pad_rows, to_similarity

ON_DISK_BYTES = 1 << 30  #: default size above which on_disk_build="auto" builds into the file
PARALLEL_MIN_ITEMS = 20_000  #: below this, neighbours() queries in-process (start-up costs more than it saves)


def estimated_bytes(n: int, dim: int, metric: str, n_trees: int = 10) -> int:
    """Annoy's file size, roughly: one node of (header + dim floats) per item, plus per tree
    about 2.5 n / (dim + 2) split and leaf nodes (a leaf holds up to dim + 2 item ids)."""
    header = {"angular": 12, "euclidean": 16, "manhattan": 16, "dot": 16}[metric]
    return int(n * (header + 4 * dim) * (1.0 + n_trees * 2.5 / (dim + 2)))


class AnnoyIndex(Index):
    build_params = ("metric", "n_trees", "seed", "build_threads")
    query_params = ("search_k",)
    file_suffix = ".ann"

    def __init__(self, metric: str = "angular", n_trees: int = 10, search_k: int = -1,
                 seed: int = 0, build_threads: int = 1, on_disk_build: bool | str = "auto",
                 on_disk_bytes: int = ON_DISK_BYTES, query_jobs: int = -1, query_chunk: int = 8192) -> None:
        self.metric = metric
        self.n_trees = n_trees
        self.search_k = search_k
        self.seed = seed
        self.build_threads = build_threads
        self.on_disk_build = on_disk_build
        self.on_disk_bytes = on_disk_bytes
        self.query_jobs = query_jobs
        self.query_chunk = query_chunk

    def check(self) -> None:
        super().check()
        self._require_int("n_trees", "query_chunk")
        self._require_int("search_k", also=(-1,), why=" (-1: Annoy's default, n_trees * k)")
        self._require_int("build_threads", also=(-1,), why=" (-1: Annoy uses every core)")
        if self.on_disk_build not in ("auto", True, False):
            raise ValueError(f"AnnoyIndex: on_disk_build must be 'auto', true or false, got {self.on_disk_build!r}")
        self._require_n_jobs("query_jobs")

    def build(self, X: np.ndarray, path: str | Path | None = None) -> "AnnoyIndex":
        """Build the index over the rows of X into ``path`` (a private temporary file if None), then open it."""
        self.check()
        n, dim = X.shape
        if path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="covers-annoy-")
            weakref.finalize(self, shutil.rmtree, self._tmpdir, True)
            path = Path(self._tmpdir) / "index.ann"
        path = Path(path)
        self.on_disk_ = (self.on_disk_build is True or (
            self.on_disk_build == "auto" and estimated_bytes(n, dim, self.metric, self.n_trees) > int(self.on_disk_bytes)))
        path.parent.mkdir(parents=True, exist_ok=True)
        index = _Annoy(dim, self.metric)
        index.set_seed(self.seed)
        if self.on_disk_:
            index.on_disk_build(str(path))
        for a in range(0, n, 65536):  # a row at a time: X (maybe a memmap) is never copied
            for i in range(a, min(a + 65536, n)):
                index.add_item(i, X[i].tolist())
            release_rows(X, a, a + 65536)  # a memory-mapped X: only the current rows stay resident
        index.build(self.n_trees, n_jobs=self.build_threads)
        if not self.on_disk_:
            index.save(str(path))
        index.unload()
        del index
        return self.load(path, X)

    def load(self, path: str | Path, X: np.ndarray) -> "AnnoyIndex":
        self.check()
        self.n_items_, self.dim_ = X.shape
        self.index_ = _Annoy(self.dim_, self.metric)
        self.index_.load(str(path))  # mmap'd: shared with the query processes
        self.path_ = str(path)
        self.size_bytes_ = int(Path(path).stat().st_size)
        return self

    def query_rows(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        out = []
        for i in rows:
            r_ids, r_d = self.index_.get_nns_by_item(int(i), k + 1, search_k=self.search_k, include_distances=True)
            out.append(drop_self(r_ids, r_d, int(i), k))
        return pad_rows(out, k)

    def search(self, Q: np.ndarray, k: int, n_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Nearest items of each query vector, one query at a time: Annoy 1.17 holds the GIL per
        query, so threads would not help and ``n_threads`` changes nothing (a batch is a loop)."""
        out = [tuple(self.index_.get_nns_by_vector(np.asarray(q, np.float32).tolist(), k, search_k=self.search_k,
                                                   include_distances=True)) for q in Q]
        return pad_rows(out, k)

    def neighbours(self, k: int) -> Neighbours:
        """Dense (n, k) neighbours of every item (-1 / 0 where Annoy found fewer), queried in
        ``query_jobs`` processes over the index file; the same answer for any ``query_jobs``."""
        t0 = time.perf_counter()
        n = self.n_items_
        ids = np.full((n, k), -1, dtype=np.int64)
        dist = np.zeros((n, k), dtype=np.float32)
        chunk = int(self.query_chunk)
        spans = [(a, min(a + chunk, n)) for a in range(0, n, chunk)]
        w = min(resolve_n_jobs(self.query_jobs), len(spans))
        args = (self.path_, self.dim_, self.metric, k, self.search_k)
        if w <= 1 or n < PARALLEL_MIN_ITEMS:
            for a, b in spans:
                _, ids[a:b], dist[a:b] = _query_span(self.index_, a, b, k, self.search_k)
        else:
            with ProcessPoolExecutor(w, mp_context=mp_context(("covers.index.annoy",)), initializer=_init_query, initargs=args) as pool:
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
