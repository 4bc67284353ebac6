"""One run of the harness, from catalogue to metrics. Never imports MLflow.

load dataset -> decode covers (size, colour mode) -> features -> normalisation
-> index -> neighbours -> split thumbs -> fit scorers on train -> score test ->
metrics + artifacts written to ``out_dir``. ``run.py`` instantiates the parts
from the config and hands the result to ``covers.tracking``.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from covers.cache import ArrayCache, key_of
from covers.data.base import Dataset, drop_items
from covers import evaluation
from covers.metrics import genre_precision_at_k, recall_at_k
from covers.scorers.base import Context, Scorer

log = logging.getLogger(__name__)


@dataclass
class Parts:
    """The instantiated swappable parts of one run."""

    dataset: Any  # has .load(cache_dir) -> Dataset and .params()
    features: Any  # covers.features.base.FeatureExtractor
    norm: Any  # sklearn-style transformer
    index: Any  # covers.index.* (build, neighbours, query_rows, params)
    split: Any  # covers.split.*
    scorer: Scorer  # the cover method
    baselines: dict[str, Scorer]


@dataclass
class Settings:
    cache_dir: str | None = None
    n_jobs: int = -1
    on_error: str = "skip"
    recall_k: int = 10
    recall_queries: int = 500
    n_bootstrap: int = 1000
    grid_queries: int = 8
    grid_neighbours: int = 8
    batch_size: int = 2048
    engine: Any = None  # an instantiated covers.engines.* (conf/engine); None = local worker processes
    seed: int = 0


@dataclass
class Result:
    metrics: dict[str, float]
    info: dict[str, Any]  # dataset fingerprint, cache hits, skipped summary (logged as tags)
    artifacts: list[Path] = field(default_factory=list)
    scores: pd.DataFrame | None = None


def _feature_matrix(ds: Dataset, ex, cache: ArrayCache, s: Settings, info: dict) -> tuple[Dataset, np.ndarray]:
    """Decode and featurise every cover, through the cache; undecodable covers are dropped and reported.

    Streaming (:mod:`covers.extract`): chunks of ``batch_size`` covers on worker processes (or the
    configured engine) written into an on-disk float32 matrix, resumed after a crash, and returned
    memory-mapped, so memory does not grow with the catalogue.
    """
    from covers.extract import extract, extract_array

    from covers.data.images import decoder_params

    # the decoder's version and settings shape the pixels of file covers, so they are in the key
    key = key_of(ds.fingerprint, ex.params(), s.on_error, decoder_params())
    failed_key = key_of("failed", key)
    fail_path = cache.path("failed", failed_key).with_suffix(".csv") if cache.enabled else None
    engine = s.engine
    kw = dict(chunk_size=s.batch_size, n_jobs=s.n_jobs, on_error=s.on_error, engine=engine)

    t0 = time.perf_counter()
    failed = None
    if cache.enabled:
        def build(path: Path) -> None:
            nonlocal failed
            failed = extract(ds.covers, ex, path, failed_path=fail_path, **kw).failed

        X, hit = cache.get_or_build("features", key, build, mmap_mode="r")
    else:
        X, failed = extract_array(ds.covers, ex, **kw)
        hit = False
    info["features_cache"] = "hit" if hit else "built"
    info["features_seconds"] = time.perf_counter() - t0
    if failed is None:
        failed = []
        if fail_path is not None and fail_path.exists() and fail_path.stat().st_size > 0:
            fr = pd.read_csv(fail_path)
            failed = list(zip(fr["index"].astype(int), fr["message"].astype(str)))
    if failed:
        for i, msg in failed:
            ds.skipped.add("undecodable_cover", ds.covers.describe(i), msg)
        bad = np.array([i for i, _ in failed])
        keep = np.ones(len(X), bool)
        keep[bad] = False
        ds, X = drop_items(ds, bad), X[keep]
    return ds, X


def _release(X: np.ndarray, start: int = 0, stop: int | None = None) -> None:
    """Drop rows of a memory-mapped matrix from this process (see covers.extract.release_rows)."""
    from covers.extract import release_rows

    release_rows(X, start, stop)


def _normalise(norm, X: np.ndarray, ds: Dataset, rows: int = 65536, out_dir: str | Path | None = None) -> np.ndarray:
    """``norm.fit_transform(X)`` as float32, without full-size temporaries when that is exact.

    Transformers whose ``fit_transform`` is scikit-learn's default ``fit(X).transform(X)``
    (RowZScore, Normalizer, StandardScaler, FunctionTransformer) are fitted on X, then
    transform ``rows`` rows at a time into the output: the same numbers (every transform here
    is row by row) without the 2-3 matrix-sized temporaries of one big call. The output is a
    memory map of an unlinked temporary file in ``out_dir`` (the cache dir) when X is itself
    memory-mapped, so neither matrix has to stay resident. Others (PCA's own fit_transform) get
    the one big call, as before. Raises FloatingPointError on non-finite output.
    """
    from sklearn.base import TransformerMixin

    n = len(X)
    if getattr(type(norm), "fit_transform", None) is TransformerMixin.fit_transform and n > rows:
        norm.fit(X)
        first_part = np.asarray(norm.transform(X[:rows]), dtype=np.float32)
        shape = (n, first_part.shape[1])
        if isinstance(X, np.memmap) or getattr(X, "_mmap", None) is not None:
            import tempfile

            d = Path(out_dir) if out_dir is not None else None
            if d is not None:
                d.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=d, prefix="normalised-", suffix=".npy")
            os.close(fd)
            try:
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
            finally:
                os.unlink(tmp)  # the mapping keeps the data; the disk space goes with it
        else:
            out = np.empty(shape, dtype=np.float32)
        first = None
        for a in range(0, n, rows):
            part = first_part if a == 0 else np.asarray(norm.transform(X[a:a + rows]), dtype=np.float32)
            out[a:a + len(part)] = part
            if first is None and not np.isfinite(part).all():
                first = a + int(np.flatnonzero(~np.isfinite(part).all(1))[0])
            _release(X, a, a + rows)  # a pass over mapped matrices: keep only the current rows resident
            _release(out, a, a + rows)
        Xn = out
    else:
        Xn = np.asarray(norm.fit_transform(X), dtype=np.float32)
        first = None if np.isfinite(Xn).all() else int(np.flatnonzero(~np.isfinite(Xn).all(1))[0])
    if first is not None:
        n_bad = sum(int((~np.isfinite(Xn[a:a + rows])).any(1).sum()) for a in range(0, n, rows))
        raise FloatingPointError(f"normalisation produced non-finite values for {n_bad} covers, e.g. {ds.covers.describe(first)}")
    return Xn


def _index_metrics(index, X: np.ndarray, metric: str, s: Settings) -> dict[str, float]:
    """Recall@k of the index against brute force on a seeded sample of query items."""
    n = len(X)
    k = min(s.recall_k, n - 1)
    rng = np.random.default_rng(s.seed)
    rows = rng.choice(n, size=min(s.recall_queries, n), replace=False)
    e_ids = _exact_sample(X, rows, k, metric)
    t0 = time.perf_counter()
    a_ids, _ = index.query_rows(rows, k)
    q_sec = time.perf_counter() - t0
    a = np.full((len(rows), k), -1)
    for r, ids in enumerate(a_ids):
        a[r, : len(ids)] = ids
    return {f"index_recall_at_{k}": recall_at_k(a, e_ids), "index_query_ms_per_item": 1000.0 * q_sec / len(rows)}


def _exact_sample(X: np.ndarray, rows: np.ndarray, k: int, metric: str, block_bytes: int = 128 << 20) -> np.ndarray:
    """Exact k nearest other items of ``rows`` by brute force over blocks of the catalogue:
    O(len(rows) x n) time, memory bounded by ``block_bytes`` whatever n (X may be memory-mapped).
    Same distances and order (closest first, ties by id) as ``ExactIndex.query_rows``."""
    from covers.index.exact import pairwise_distance

    n, d = X.shape
    rows = np.asarray(rows)
    block = max(256, int(block_bytes // (8 * max(len(rows), d, 1))))
    Q = np.asarray(X[np.sort(rows)], dtype=np.float32)[np.argsort(np.argsort(rows))]
    cand_d, cand_i = [], []
    for a in range(0, n, block):
        b = min(a + block, n)
        dist = pairwise_distance(Q, np.asarray(X[a:b], dtype=np.float32), metric)
        _release(X, a, b)
        own = (rows >= a) & (rows < b)
        dist[np.flatnonzero(own), rows[own] - a] = np.inf
        kk = min(k, b - a)
        part = np.argpartition(dist, kk - 1, axis=1)[:, :kk] if kk < b - a else np.tile(np.arange(b - a), (len(rows), 1))
        cand_d.append(np.take_along_axis(dist, part, 1))
        cand_i.append(part + a)
    cd, ci = np.concatenate(cand_d, 1), np.concatenate(cand_i, 1)
    order = np.lexsort((ci, cd), axis=1)[:, :k]
    return np.take_along_axis(ci, order, 1)


def run(parts: Parts, settings: Settings, out_dir: str | Path) -> Result:
    from covers import plots

    s = settings
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = ArrayCache(s.cache_dir, enabled=s.cache_dir is not None)
    info: dict[str, Any] = {}
    t_start = time.perf_counter()

    ds = parts.dataset.load(s.cache_dir)
    info.update(dataset_name=ds.name, dataset_fingerprint=ds.fingerprint, dataset_root=str(ds.root))
    log.info("dataset %s: %s", ds.name, ds.stats())

    ds, X = _feature_matrix(ds, parts.features, cache, s, info)
    Xn = _normalise(parts.norm, X, ds, rows=max(1, s.batch_size) * 32,
                    out_dir=Path(s.cache_dir) / "tmp" if s.cache_dir else None)

    from covers.data.images import decoder_params

    index_key = key_of(ds.fingerprint, parts.features.params(), _norm_params(parts.norm), parts.index.params(),
                       s.on_error, decoder_params())
    index_path = Path(s.cache_dir) / "index" / f"{index_key}.ann" if s.cache_dir and hasattr(parts.index, "n_trees") else None
    parts.index.build(Xn, cache_path=index_path)
    info["index_cache"] = "hit" if parts.index.cache_hit_ else "built"
    k_needed = max(getattr(parts.scorer, "k", 10), s.grid_neighbours)
    nb = parts.index.neighbours(k_needed)

    split = parts.split.split(ds.thumbs)
    ctx = Context(n_users=ds.n_users, n_items=ds.n_items, neighbours=nb, features=Xn, items=ds.items)
    methods: dict[str, Scorer] = {"method": parts.scorer, **parts.baselines}
    skipped_methods: dict[str, str] = {}
    t0 = time.perf_counter()
    scores = evaluation.score_methods(methods, split, ctx, skipped_methods)
    metrics, table = evaluation.summarise(scores, ds.genres(), s.n_bootstrap, s.seed)
    metrics["evaluation_seconds"] = time.perf_counter() - t0
    for name, why in skipped_methods.items():
        log.warning("baseline %s not computed: %s", name, why)
        info[f"baseline_skipped_{name}"] = why
        methods.pop(name)

    metrics.update({f"split_{k}": v for k, v in split.stats().items()})
    metrics.update({f"data_{k}": v for k, v in ds.stats().items()})
    metrics.update(
        feature_dim=float(X.shape[1]),
        index_build_seconds=parts.index.build_seconds_,
        index_size_bytes=float(parts.index.size_bytes_),
        index_neighbours_seconds=nb.query_seconds,
        features_seconds=info["features_seconds"],
    )
    metrics.update(_index_metrics(parts.index, Xn, parts.index.metric, s))
    labels = _genre_sets(ds.items)
    if labels is not None:
        k = min(s.recall_k, nb.ids.shape[1])
        metrics[f"genre_precision_at_{k}"], metrics["genre_precision_items"] = genre_precision_at_k(nb.ids, labels, k)
    metrics["run_seconds"] = time.perf_counter() - t_start
    info["skipped"] = ds.skipped.summary()

    artifacts = plots.write_all(out, ds, nb, metrics, scores, list(methods), s)
    scores_path = out / "scores.parquet"
    scores.to_parquet(scores_path, index=False)
    table.to_csv(out / "results.csv")
    (out / "results.md").write_text(table.to_markdown(floatfmt=".4f") + "\n")
    artifacts += [scores_path, out / "results.csv", out / "results.md"]
    if ds.skipped.total:
        sk = out / "skipped.csv"
        ds.skipped.frame().to_csv(sk, index=False)
        artifacts.append(sk)
    return Result(metrics=metrics, info=info, artifacts=artifacts, scores=scores)


def _genre_sets(items: pd.DataFrame) -> list[frozenset] | None:
    """Each item's genres: the pipe-separated ``genres`` column if present, else ``genre``."""
    if "genres" in items:
        return [frozenset(x for x in str(v).split("|") if x) if v == v else frozenset() for v in items["genres"]]
    if "genre" in items:
        return [frozenset([str(v)]) if v == v and v != "" else frozenset() for v in items["genre"]]
    return None


def _norm_params(norm) -> dict:
    p = norm.get_params() if hasattr(norm, "get_params") else {}
    return {"class": type(norm).__name__, **{k: repr(v) for k, v in p.items()}}
