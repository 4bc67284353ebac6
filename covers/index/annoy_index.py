"""Annoy, the index of the 2014 seed experiment.

``n_trees`` (and ``metric``, ``seed``) shape the built index and are part of
its cache key; ``search_k`` only shapes queries, so a sweep over it reuses one
built index.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from annoy import AnnoyIndex as _Annoy

from covers.index.base import Neighbours, check_metric, drop_self, pack


class AnnoyIndex:
    def __init__(self, metric: str = "angular", n_trees: int = 10, search_k: int = -1,
                 seed: int = 0, n_jobs: int = -1) -> None:
        self.metric = check_metric(metric)
        if not isinstance(n_trees, int) or n_trees < 1:
            raise ValueError(f"n_trees must be a positive int, got {n_trees!r}")
        if not isinstance(search_k, int) or (search_k < 1 and search_k != -1):
            raise ValueError(f"search_k must be -1 (Annoy's default: n_trees * k) or a positive int, got {search_k!r}")
        self.n_trees = n_trees
        self.search_k = search_k
        self.seed = seed
        self.n_jobs = n_jobs

    def params(self) -> dict:
        """Build-time parameters only: what the built index depends on."""
        return {"class": type(self).__name__, "metric": self.metric, "n_trees": self.n_trees, "seed": self.seed}

    def build(self, X: np.ndarray, cache_path: str | Path | None = None) -> "AnnoyIndex":
        """Build (or load from ``cache_path`` if that file exists) the index over the rows of X."""
        X = np.asarray(X, dtype=np.float32)
        self.n_items_, self.dim_ = X.shape
        self.index_ = _Annoy(self.dim_, self.metric)
        self.cache_hit_ = False
        if cache_path is not None and Path(cache_path).exists():
            t0 = time.perf_counter()
            self.index_.load(str(cache_path))
            self.cache_hit_ = True
            self.build_seconds_ = time.perf_counter() - t0
        else:
            t0 = time.perf_counter()
            self.index_.set_seed(self.seed)
            for i, row in enumerate(X):
                self.index_.add_item(i, row)
            self.index_.build(self.n_trees, n_jobs=self.n_jobs)
            self.build_seconds_ = time.perf_counter() - t0
            if cache_path is not None:
                # Annoy writes the file itself; write a temp name then rename so
                # a killed build never leaves a truncated index under the real key.
                tmp = f"{cache_path}.tmp-{os.getpid()}"
                Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
                self.index_.save(tmp)
                os.replace(tmp, cache_path)
                self.index_.unload()
                self.index_ = _Annoy(self.dim_, self.metric)
                self.index_.load(str(cache_path))
        self.size_bytes_ = int(Path(cache_path).stat().st_size) if cache_path is not None else int(
            # without a file, estimate from Annoy's node layout is unreliable; save once to measure
            _measure_size(self.index_)
        )
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
        t0 = time.perf_counter()
        ids, ds = self.query_rows(np.arange(self.n_items_), k)
        return pack(list(zip(ids, ds)), k, self.metric, time.perf_counter() - t0)


def _measure_size(index: _Annoy) -> int:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "i.ann"
        index.save(str(p))
        size = p.stat().st_size
        index.unload()
        index.load(str(p))  # mmap'd; fine to delete the name on POSIX
        return size
