"""Voyager (Spotify's HNSW, the successor of Annoy there), under the index contract.

Build parameters (the cache key): ``metric``, ``M`` (links per node), ``ef_construction``,
``storage`` (float32, float8, e4m3: bytes per dimension), ``seed`` and ``build_threads``. The
query parameter is ``ef`` (candidates searched per query; at least k is used), so a sweep
over ``ef`` reuses one built graph. ``query_jobs`` (the run's ``n_jobs``) and ``query_chunk``
only change speed.

Determinism: with ``build_threads=1`` the vectors are inserted one after another and the graph
is byte-identical for a seed (Voyager's own promise, tests/test_index_voyager.py checks it).
With several build threads the insertion order depends on thread timing, so the graph (and a
few answers) differ from build to build: faster, not reproducible. That is why the thread count
is a build parameter (keyed, like Annoy's): a single-threaded request is never served a
concurrent build from the cache. Queries are read-only: the same answers for any ``query_jobs``.

Metrics: angular (Voyager's Cosine), euclidean, dot (InnerProduct); manhattan is refused.
Voyager keeps the whole index in memory (no memory map): about n x (d x storage bytes + 2 M x 4).
"""
from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np

from covers.index.base import VectorSearchIndex, refuse_metric
from covers.utils import release_rows, resolve_n_jobs

SPACES = {"angular": "Cosine", "euclidean": "Euclidean", "dot": "InnerProduct"}
STORAGE = {"float32": "Float32", "float8": "Float8", "e4m3": "E4M3"}


def to_annoy_distance(d: np.ndarray, metric: str) -> np.ndarray:
    """Voyager's distances -> Annoy's conventions: Cosine gives 1 - cos (angular = sqrt(2 - 2 cos)),
    Euclidean the squared L2, InnerProduct 1 - x.q (dot: the product itself)."""
    d = np.asarray(d, np.float64)
    if metric == "angular":
        return np.sqrt(np.maximum(2.0 * d, 0.0))
    if metric == "euclidean":
        return np.sqrt(np.maximum(d, 0.0))
    return 1.0 - d


class VoyagerIndex(VectorSearchIndex):
    build_params = ("metric", "M", "ef_construction", "storage", "seed", "build_threads")
    query_params = ("ef",)
    file_suffix = ".voy"

    def __init__(self, metric: str = "angular", M: int = 12, ef_construction: int = 200, ef: int = 64,
                 storage: str = "float32", seed: int = 0, build_threads: int = 1, query_jobs: int = -1,
                 query_chunk: int = 8192) -> None:
        self.metric = metric
        self.M = M
        self.ef_construction = ef_construction
        self.ef = ef
        self.storage = storage
        self.seed = seed
        self.build_threads = build_threads
        self.query_jobs = query_jobs
        self.query_chunk = query_chunk

    def check(self) -> None:
        super().check()
        refuse_metric("VoyagerIndex", self.metric, tuple(SPACES), "Voyager has no L1 space")
        self._require_int("M", minimum=2)
        self._require_int("ef_construction", "ef", "query_chunk")
        self._require_int("seed", minimum=0)
        if self.storage not in STORAGE:
            raise ValueError(f"VoyagerIndex: storage must be one of {tuple(STORAGE)}, got {self.storage!r}")
        self._require_n_jobs("build_threads", "query_jobs")

    def build(self, X: np.ndarray, path: str | Path | None = None) -> "VoyagerIndex":
        import voyager

        self.check()
        n, dim = X.shape
        if path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="covers-voyager-")
            weakref.finalize(self, shutil.rmtree, self._tmpdir, True)
            path = Path(self._tmpdir) / "index.voy"
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        index = voyager.Index(getattr(voyager.Space, SPACES[self.metric]), num_dimensions=dim, M=int(self.M),
                              ef_construction=int(self.ef_construction), random_seed=int(self.seed),
                              max_elements=max(n, 1),
                              storage_data_type=getattr(voyager.StorageDataType, STORAGE[self.storage]))
        threads = resolve_n_jobs(self.build_threads)
        for a in range(0, n, 65536):  # in blocks: X (maybe a memmap) is never copied whole
            b = min(a + 65536, n)
            index.add_items(np.ascontiguousarray(X[a:b], dtype=np.float32), ids=list(range(a, b)), num_threads=threads)
            release_rows(X, a, b)
        index.save(str(path))
        del index
        return self.load(path, X)

    def load(self, path: str | Path, X: np.ndarray) -> "VoyagerIndex":
        import voyager

        self.check()
        self.n_items_, self.dim_ = X.shape
        self.X_ = X  # query_rows asks with the items' own vectors
        self.index_ = voyager.Index.load(str(path))
        self.path_ = str(path)
        self.size_bytes_ = int(Path(path).stat().st_size)
        return self

    def search(self, Q: np.ndarray, k: int, n_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        Q = np.ascontiguousarray(Q, dtype=np.float32)
        kk = min(k, self.n_items_)
        ids = np.full((len(Q), k), -1, np.int64)
        dist = np.zeros((len(Q), k), np.float64)
        if kk == 0 or len(Q) == 0:
            return ids, dist
        threads = resolve_n_jobs(self.query_jobs if n_threads is None else n_threads)
        # HNSW needs at least k candidates to return k; a smaller ef is raised to k, as FAISS does
        r_ids, r_d = self.index_.query(Q, k=kk, num_threads=threads, query_ef=max(int(self.ef), kk))
        ids[:, :kk] = np.asarray(r_ids, np.int64).reshape(len(Q), kk)
        dist[:, :kk] = to_annoy_distance(np.asarray(r_d).reshape(len(Q), kk), self.metric)
        return ids, dist
