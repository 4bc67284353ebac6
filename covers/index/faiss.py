"""FAISS, from a factory string ("Flat", "HNSW32", "IVF256,PQ16", ...), under the index contract.

Build parameters (the cache key): ``metric``, ``factory``, ``train_size`` and ``seed`` (the
seeded sample of rows an IVF or PQ index is trained on; FAISS's own k-means seeds are fixed) and
``build_threads``. Query parameters: ``nprobe`` (IVF: inverted lists visited), ``ef_search``
(HNSW: candidates searched) and ``k_factor`` (a refined factory such as "IVF1024,PQ64,RFlat":
k_factor x k candidates from the compressed codes are re-ranked by exact distance, which is how
an IVF-PQ index gets past the recall its codes cap); null keeps FAISS's default, and a value the
factory has no use for (``nprobe`` on "HNSW32") is refused rather than ignored. ``query_jobs`` (the run's ``n_jobs``)
and ``query_chunk`` only change speed.

Determinism: training and IVF/PQ encoding give the same bytes for any thread count; HNSW inserts
vectors concurrently with more than one thread, so its graph may then depend on thread timing.
Single-threaded builds (``build_threads=1``, the default) are byte-identical for every factory;
the thread count is keyed (a build parameter), so such a request is never served a concurrent
build. Queries are read-only: the same answers for any ``query_jobs``.

Metrics: euclidean (METRIC_L2), dot (METRIC_INNER_PRODUCT), angular (inner product of
L2-normalised vectors: the index stores normalised copies); manhattan is refused (FAISS's L1 is
brute force only). FAISS's thread pool is OpenMP's, one per process, so every call sets it.
"""
from __future__ import annotations

import re
import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np

from covers.index.base import VectorSearchIndex, refuse_metric
from covers.utils import release_rows, resolve_n_jobs

SUPPORTED = ("angular", "euclidean", "dot")


def _rows(X: np.ndarray, a: int, b: int, normalise: bool) -> np.ndarray:
    x = np.ascontiguousarray(X[a:b], dtype=np.float32)
    if normalise:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
    return x


class FaissIndex(VectorSearchIndex):
    build_params = ("metric", "factory", "train_size", "seed", "build_threads")
    query_params = ("nprobe", "ef_search", "k_factor")
    file_suffix = ".faiss"

    def __init__(self, metric: str = "angular", factory: str = "HNSW32", nprobe: int | None = None,
                 ef_search: int | None = None, k_factor: int | None = None, train_size: int = 100_000, seed: int = 0, build_threads: int = 1,
                 query_jobs: int = -1, query_chunk: int = 8192) -> None:
        self.metric = metric
        self.factory = factory
        self.nprobe = nprobe
        self.ef_search = ef_search
        self.k_factor = k_factor
        self.train_size = train_size
        self.seed = seed
        self.build_threads = build_threads
        self.query_jobs = query_jobs
        self.query_chunk = query_chunk

    def check(self) -> None:
        super().check()
        refuse_metric("FaissIndex", self.metric, SUPPORTED, "FAISS's L1 metric works for brute force only")
        if not isinstance(self.factory, str) or not self.factory.strip():
            raise ValueError(f"FaissIndex: factory must be a FAISS index_factory string like 'HNSW32', got {self.factory!r}")
        for name in ("nprobe", "ef_search", "k_factor"):
            if getattr(self, name) is not None:
                self._require_int(name)
        self._require_int("train_size", "query_chunk")
        self._require_int("seed", minimum=0)
        self._require_n_jobs("build_threads", "query_jobs")

    def family(self) -> str:
        """"faiss-HNSW", "faiss-IVF-PQ", ...: the factory without its sizes, one plot line each."""
        return "faiss-" + re.sub(r"\d+", "", self.factory).replace(",", "-")

    def _set_query_params(self, index) -> None:
        import faiss

        ps = faiss.ParameterSpace()
        for name, faiss_name, v in (("nprobe", "nprobe", self.nprobe), ("ef_search", "efSearch", self.ef_search),
                                    ("k_factor", "k_factor_rf", self.k_factor)):
            if v is None:
                continue
            try:
                ps.set_index_parameter(index, faiss_name, int(v))
            except RuntimeError:
                raise ValueError(f"FaissIndex: {name}={v} has no meaning for factory {self.factory!r} "
                                 f"(nprobe is for IVF, ef_search for HNSW, k_factor for a refined ...,RFlat factory); "
                                 f"set it to null") from None

    def build(self, X: np.ndarray, path: str | Path | None = None) -> "FaissIndex":
        import faiss

        self.check()
        n, dim = X.shape
        metric = faiss.METRIC_L2 if self.metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
        try:
            index = faiss.index_factory(dim, self.factory, metric)
        except RuntimeError as exc:
            raise ValueError(f"FaissIndex: factory {self.factory!r} is not one FAISS can build for {dim}-d "
                             f"vectors: {str(exc).splitlines()[-1]}") from None
        self._set_query_params(index)  # a misplaced query parameter fails before any training
        for part in (faiss.downcast_index(index), faiss.try_extract_index_ivf(index)):
            # polysemous training (FAISS's default for PQ codes) only serves Hamming-threshold
            # search, which is never switched on here; it took 20 s of a 0.3 s IVF16,PQ8 build
            part = faiss.downcast_index(part) if part is not None else None
            if part is not None and hasattr(part, "do_polysemous_training"):
                part.do_polysemous_training = False
        faiss.omp_set_num_threads(resolve_n_jobs(self.build_threads))
        norm = self.metric == "angular"
        if not index.is_trained:
            rng = np.random.default_rng(self.seed)
            rows = np.sort(rng.choice(n, size=min(n, int(self.train_size)), replace=False))
            sample = np.asarray(X[rows], dtype=np.float32)
            if norm:
                sample = sample / np.maximum(np.linalg.norm(sample, axis=1, keepdims=True), 1e-30)
            try:
                index.train(np.ascontiguousarray(sample))
            except RuntimeError as exc:
                raise ValueError(f"FaissIndex: factory {self.factory!r} could not be trained on {len(rows)} rows "
                                 f"(an IVF needs at least as many rows as lists): "
                                 f"{str(exc).splitlines()[-1]}") from None
        for a in range(0, n, 65536):  # in blocks: X (maybe a memmap) is never copied whole
            index.add(_rows(X, a, min(a + 65536, n), norm))
            release_rows(X, a, a + 65536)
        if path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="covers-faiss-")
            weakref.finalize(self, shutil.rmtree, self._tmpdir, True)
            path = Path(self._tmpdir) / "index.faiss"
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        faiss.write_index(index, str(path))
        del index
        return self.load(path, X)

    def load(self, path: str | Path, X: np.ndarray) -> "FaissIndex":
        import faiss

        self.check()
        self.n_items_, self.dim_ = X.shape
        self.X_ = X  # query_rows asks with the items' own vectors
        self.index_ = faiss.read_index(str(path))
        self._set_query_params(self.index_)
        self.path_ = str(path)
        self.size_bytes_ = int(Path(path).stat().st_size)
        return self

    def search(self, Q: np.ndarray, k: int, n_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        Q = _rows(np.asarray(Q), 0, len(Q), self.metric == "angular")
        kk = min(k, self.n_items_)
        ids = np.full((len(Q), k), -1, np.int64)
        dist = np.zeros((len(Q), k), np.float64)
        if kk == 0 or len(Q) == 0:
            return ids, dist
        faiss.omp_set_num_threads(resolve_n_jobs(self.query_jobs if n_threads is None else n_threads))
        d, i = self.index_.search(Q, kk)
        d = np.asarray(d, np.float64)
        # FAISS -> Annoy's conventions: L2 is squared; inner products of unit vectors are cosines
        if self.metric == "euclidean":
            d = np.sqrt(np.maximum(d, 0.0))
        elif self.metric == "angular":
            d = np.sqrt(np.maximum(2.0 - 2.0 * d, 0.0))
        ids[:, :kk] = i
        dist[:, :kk] = np.where(i >= 0, d, 0.0)  # an IVF probing few lists may find fewer than k
        return ids, dist
