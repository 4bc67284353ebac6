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
from covers.index.exact import ExactIndex
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
    seed: int = 0


@dataclass
class Result:
    metrics: dict[str, float]
    info: dict[str, Any]  # dataset fingerprint, cache hits, skipped summary (logged as tags)
    artifacts: list[Path] = field(default_factory=list)
    scores: pd.DataFrame | None = None


def _feature_matrix(ds: Dataset, ex, cache: ArrayCache, s: Settings, info: dict) -> tuple[Dataset, np.ndarray]:
    """Decode and featurise every cover, through the cache; undecodable covers are dropped and reported."""
    from tqdm.auto import tqdm

    key = key_of(ds.fingerprint, ex.params(), s.on_error)
    failed_key = key_of("failed", key)
    fail_path = cache.path("failed", failed_key).with_suffix(".csv") if cache.enabled else None

    def compute() -> np.ndarray:
        out = np.empty((ds.n_items, ex.n_features()), dtype=np.float32)
        failed: list[tuple[int, str]] = []
        bar = tqdm(total=ds.n_items, desc=f"features {type(ex).__name__} {ex.size}px {ex.mode}", unit="cover",
                   disable=None, mininterval=1.0)
        for a in range(0, ds.n_items, s.batch_size):
            pix, bad = ds.covers.decode(range(a, min(a + s.batch_size, ds.n_items)), ex.size, ex.mode, s.n_jobs, s.on_error)
            out[a:a + len(pix)] = ex.transform(pix)
            failed += [(a + i, m) for i, m in bad]
            bar.update(len(pix))
        bar.close()
        if fail_path is not None:
            from covers.cache import atomic_write_bytes

            frame = pd.DataFrame(failed, columns=["index", "message"])
            atomic_write_bytes(fail_path, lambda f: f.write(frame.to_csv(index=False).encode()))
        info["_failed"] = failed
        return out

    t0 = time.perf_counter()
    X, hit = cache.get_or_compute("features", key, compute)
    info["features_cache"] = "hit" if hit else "built"
    info["features_seconds"] = time.perf_counter() - t0
    failed = info.pop("_failed", None)
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


def _index_metrics(index, X: np.ndarray, metric: str, s: Settings) -> dict[str, float]:
    """Recall@k of the index against brute force on a seeded sample of query items."""
    n = len(X)
    k = min(s.recall_k, n - 1)
    rng = np.random.default_rng(s.seed)
    rows = rng.choice(n, size=min(s.recall_queries, n), replace=False)
    exact = ExactIndex(metric).build(X)
    e_ids, _ = exact.query_rows(rows, k)
    t0 = time.perf_counter()
    a_ids, _ = index.query_rows(rows, k)
    q_sec = time.perf_counter() - t0
    a = np.full((len(rows), k), -1)
    for r, ids in enumerate(a_ids):
        a[r, : len(ids)] = ids
    return {f"index_recall_at_{k}": recall_at_k(a, e_ids), "index_query_ms_per_item": 1000.0 * q_sec / len(rows)}


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
    Xn = np.asarray(parts.norm.fit_transform(X), dtype=np.float32)
    if not np.isfinite(Xn).all():
        bad = np.flatnonzero(~np.isfinite(Xn).all(1))
        raise FloatingPointError(f"normalisation produced non-finite values for {len(bad)} covers, e.g. {ds.covers.describe(int(bad[0]))}")

    index_key = key_of(ds.fingerprint, parts.features.params(), _norm_params(parts.norm), parts.index.params(), s.on_error)
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


def default_n_jobs() -> int:
    return os.cpu_count() or 1
