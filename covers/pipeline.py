"""One run of the harness, from catalogue to metrics: orchestration only. Never imports MLflow.

load dataset -> decode covers + features (streamed, cached) -> normalisation -> index (cached
by its build parameters) -> neighbours -> split thumbs -> fit the cover scorer and every
baseline on train -> score test -> metrics + artifacts written to ``out_dir``.
:mod:`covers.app.task` instantiates the parts from the config and hands the result to
:mod:`covers.tracking.write`. Every stage's work is in its own package; this module only
decides what runs in which order and what is cached under which key.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from covers.cache import Cache, key_of
from covers.data.base import Catalogue, Dataset, drop_items
from covers.data.images import decoder_params
from covers.evaluation import evaluate, ranking, tuning
from covers.evaluation.metrics import genre_precision_at_k, recall_at_k, same_artist_at_k
from covers.features.base import FeatureExtractor
from covers.features.engines.base import Engine
from covers.index.base import Index
from covers.index.exact import exact_search
from covers.norm import Normaliser, fit_transform_rows, normaliser_key
from covers.scorers.base import Context, Scorer
from covers.split import Splitter, with_artists

log = logging.getLogger(__name__)


@dataclass
class Parts:
    """The instantiated swappable parts of one run: one per config group."""

    dataset: Dataset
    features: FeatureExtractor
    norm: Normaliser
    index: Index
    split: Splitter
    scorer: Scorer  # the cover method under test (conf/scorer)
    baselines: dict[str, Scorer]  # conf/baselines: scored on the same split, reported beside it
    engine: Engine  # where extraction runs (conf/engine)


@dataclass
class Settings:
    """``conf/eval`` and the run's seed and cache: what is measured, not which parts."""

    cache_dir: str | None = None
    recall_k: int = 10
    recall_queries: int = 500
    n_bootstrap: int = 1000
    grid_queries: int = 8
    grid_neighbours: int = 8
    tune: bool = False
    tune_grids: dict = field(default_factory=dict)
    ranking: bool = False
    ranking_n: tuple[int, ...] = (10, 50, 100)
    ranking_query: str = "centroid"
    ranking_block: int = 2_000_000
    seed: int = 0


@dataclass
class Result:
    metrics: dict[str, float]
    info: dict[str, Any]  # dataset fingerprint, cache hits, skipped summary (logged as tags)
    artifacts: list[Path] = field(default_factory=list)
    scores: pd.DataFrame | None = None


def feature_matrix(ds: Catalogue, ex: FeatureExtractor, engine: Engine, cache: Cache,
                   info: dict) -> tuple[Catalogue, np.ndarray]:
    """Decode and featurise every cover, through the cache; undecodable covers are dropped and reported.

    Streaming (:mod:`covers.features.extract`): chunks of covers on the engine's workers written
    into an on-disk float32 matrix, resumed after a crash, and returned memory-mapped, so memory
    does not grow with the catalogue.
    """
    from covers.features.extract import extract, extract_array

    # the decoder's version and settings shape the pixels of file covers, so they are in the key
    key = key_of(ds.fingerprint, ex.result_params(), ds.on_error, decoder_params())
    kw = dict(on_error=ds.on_error, engine=engine)
    t0 = time.perf_counter()
    failed = None
    if cache.enabled:
        fail_path = cache.entry("failed", key_of("failed", key), ".csv")

        def build(path: Path) -> None:  # publishes itself: its .partial matrix is what resumes
            nonlocal failed
            failed = extract(ds.covers, ex, path, failed_path=fail_path, **kw).failed

        path, hit = cache.get_or_build("features", key, build, ".npy", publishes=True)
        X = np.load(path, allow_pickle=False, mmap_mode="r")
        if failed is None:
            fr = pd.read_csv(fail_path) if fail_path.exists() and fail_path.stat().st_size > 0 else None
            failed = [] if fr is None else list(zip(fr["index"].astype(int), fr["message"].astype(str)))
    else:
        X, failed = extract_array(ds.covers, ex, **kw)
        hit = False
    info["features_cache"] = "hit" if hit else "built"
    info["features_seconds"] = time.perf_counter() - t0
    if failed:
        for i, msg in failed:
            ds.skipped.add("undecodable_cover", ds.covers.describe(i), msg)
        bad = np.array([i for i, _ in failed])
        keep = np.ones(len(X), bool)
        keep[bad] = False
        ds, X = drop_items(ds, bad), X[keep]
    return ds, X


def build_index(index: Index, Xn: np.ndarray, cache: Cache, key: str, info: dict) -> float:
    """Build the index, or open it from the cache when it keeps a file (``file_suffix``); the
    entry is built once under its lock and published by rename. Returns the seconds it took."""
    t0 = time.perf_counter()
    if index.file_suffix is not None and cache.enabled:
        path, hit = cache.get_or_build("index", key, lambda tmp: index.build(Xn, tmp), index.file_suffix)
        index.load(path, Xn)  # the published entry (a fresh build was opened under its temporary name)
    else:
        index.build(Xn)
        hit = False
    info["index_cache"] = "hit" if hit else "built"
    return time.perf_counter() - t0


def index_metrics(index: Index, X: np.ndarray, s: Settings) -> dict[str, float]:
    """What every index reports, on a seeded sample of query items (ann-benchmarks' numbers):
    recall@k of ``query_rows`` (what the scorer reads) against exact search, and queries per
    second by vector, one query at a time on one thread and as one batch on the index's query
    threads. ``index_query_ms_per_item``: ``query_rows`` time per item."""
    n = len(X)
    k = min(s.recall_k, n - 1)
    rng = np.random.default_rng(s.seed)
    rows = np.sort(rng.choice(n, size=min(s.recall_queries, n), replace=False))
    Q = np.asarray(X[rows], dtype=np.float32)
    e_ids, _ = exact_search(X, Q, k, index.metric, exclude=rows)
    t0 = time.perf_counter()
    a_ids, _ = index.query_rows(rows, k)
    q_sec = time.perf_counter() - t0
    t0 = time.perf_counter()
    for q in Q:
        index.search(q[None], k, n_threads=1)
    single = time.perf_counter() - t0
    t0 = time.perf_counter()
    index.search(Q, k)
    batched = time.perf_counter() - t0
    return {f"index_recall_at_{k}": recall_at_k(a_ids, e_ids), "index_query_ms_per_item": 1000.0 * q_sec / len(rows),
            "index_qps_single": len(rows) / max(single, 1e-9), "index_qps_batched": len(rows) / max(batched, 1e-9)}


class TreeMemory:
    """Peak memory of this process and its descendants (worker pools, forkservers) while the
    block runs: the sum of their proportional set sizes (PSS: shared pages such as a mapped index
    file counted once over the tree), sampled every ``interval`` seconds from /proc. Where /proc
    is missing, this process's own peak RSS (``getrusage``)."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peak_bytes = 0.0

    @staticmethod
    def _pss(pid: int) -> float:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return float(line.split()[1]) * 1024
        return 0.0

    def sample(self) -> None:
        me = os.getpid()
        parents: dict[int, int] = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        parents[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
        tree, frontier = {me}, [me]
        while frontier:
            p = frontier.pop()
            kids = [c for c, pp in parents.items() if pp == p and c not in tree]
            tree.update(kids)
            frontier += kids
        total = 0.0
        for pid in tree:
            try:
                total += self._pss(pid)
            except OSError:  # ended between listing and reading
                continue
        self.peak_bytes = max(self.peak_bytes, total)

    def __enter__(self) -> "TreeMemory":
        self._stop = threading.Event()
        self._proc = os.path.exists(f"/proc/{os.getpid()}/smaps_rollup")
        if self._proc:
            self.sample()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._proc:
            self._thread.join()
            self.sample()
        else:
            import resource

            self.peak_bytes = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux: KiB


def tuning_grids(methods: dict[str, Scorer], s: Settings) -> dict[str, dict[str, list]]:
    """Per method with something to tune, its grid (``eval.tune``; empty when tuning is off)."""
    if not s.tune:
        if s.tune_grids:
            raise ValueError("eval.tune_grids is set but eval.tune is false: set eval.tune=true to use it")
        return {}
    unknown = set(s.tune_grids) - set(methods)
    if unknown:
        raise ValueError(f"eval.tune_grids names {sorted(unknown)}, not methods of this run ({sorted(methods)})")
    grids = {name: tuning.grid_of(m, s.tune_grids.get(name)) for name, m in methods.items()}
    return {name: g for name, g in grids.items() if g}


def tune_methods(methods: dict[str, Scorer], grids: dict[str, dict[str, list]], splitter: Splitter, split,
                 ctx: Context, info: dict) -> tuple[dict[str, Scorer], pd.DataFrame]:
    """Each method with a grid replaced by its clone tuned on a validation split of the train
    thumbs (the test thumbs are never passed); the chosen values go to ``info['tuned']``."""
    val = tuning.validation_split(splitter, split.train)
    log.info("tuning %d methods on a validation split of train: %d + %d thumbs", len(grids), len(val.train),
             len(val.test))
    out, tables, chosen = dict(methods), [], {}
    for name, grid in grids.items():
        t = tuning.tune(name, methods[name], grid, val, ctx)
        out[name] = t.scorer
        tables.append(t.table)
        chosen.update({f"{name}.{p}": v for p, v in t.chosen.items()})
    info["tuned"] = chosen
    return out, pd.concat(tables, ignore_index=True)


def run(parts: Parts, settings: Settings, out_dir: str | Path) -> Result:
    from covers.evaluation import plots

    s = settings
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = Cache(s.cache_dir)
    info: dict[str, Any] = {}
    t_start = time.perf_counter()

    ds = parts.dataset.load(s.cache_dir)
    info.update(dataset_name=ds.name, dataset_fingerprint=ds.fingerprint, dataset_root=str(ds.root))
    log.info("dataset %s: %s", ds.name, ds.stats())

    ds, X = feature_matrix(ds, parts.features, parts.engine, cache, info)
    Xn = fit_transform_rows(parts.norm, X, ds.covers.describe, out_dir=cache.root / "tmp" if cache.enabled else None)

    index_key = key_of(ds.fingerprint, parts.features.result_params(), normaliser_key(parts.norm),
                       parts.index.build_key(), ds.on_error, decoder_params())
    methods = {evaluate.UNDER_TEST: parts.scorer, **parts.baselines}
    grids = tuning_grids(methods, s)
    # the most any method (or any point of its tuning grid) reads, and what the figure and
    # genre precision@k show
    k_needed = max([c.neighbours_needed() for name, m in methods.items()
                    for c in ([m] + tuning.candidates(m, grids[name]) if name in grids else [m])]
                   + [s.grid_neighbours, s.recall_k])
    with TreeMemory() as index_memory:
        build_seconds = build_index(parts.index, Xn, cache, index_key, info)
        nb = parts.index.neighbours(k_needed)
    info["index_family"] = parts.index.family()

    artists = ds.artists()
    split = parts.split.split(with_artists(ds.thumbs, artists))  # split=cold_artists reads them
    ctx = Context(n_users=ds.n_users, n_items=ds.n_items, neighbours=nb, features=Xn, items=ds.items)
    skipped_methods: dict[str, str] = {}
    t0 = time.perf_counter()
    if grids:
        methods, tuned_table = tune_methods(methods, grids, parts.split, split, ctx, info)
        tuning_seconds = time.perf_counter() - t0
        tuned_table.to_csv(out / "tuning.csv", index=False)
    scores = evaluate.score_methods(methods[evaluate.UNDER_TEST],
                                    {k: v for k, v in methods.items() if k != evaluate.UNDER_TEST},
                                    split, ctx, skipped_methods)
    genres = ds.genres()
    metrics, table = evaluate.summarise(scores, genres, s.n_bootstrap, s.seed)
    metrics["evaluation_seconds"] = time.perf_counter() - t0
    if grids:
        metrics["tuning_seconds"] = tuning_seconds
    for name, why in skipped_methods.items():
        log.warning("baseline %s not computed: %s", name, why)
        info[f"baseline_skipped_{name}"] = why

    if s.ranking:  # recommendations through the index, and from each baseline's own scores
        t0 = time.perf_counter()
        baselines = {k: v for k, v in methods.items() if k != evaluate.UNDER_TEST}  # as tuned
        rk = ranking.evaluate_ranking(parts.index, Xn, split, ctx, baselines, s.ranking_n, s.ranking_query,
                                      s.ranking_block, s.n_bootstrap, s.seed)
        metrics.update(rk.metrics, ranking_seconds=time.perf_counter() - t0)
        info.update({f"ranking_skipped_{name}": why for name, why in rk.not_applicable.items()})
        rk.table.to_csv(out / "ranking.csv")
    metrics.update({f"split_{k}": v for k, v in split.stats().items()})
    metrics.update({f"data_{k}": v for k, v in ds.stats().items()})
    metrics.update(
        feature_dim=float(X.shape[1]),
        index_build_seconds=build_seconds,
        index_size_bytes=float(parts.index.size_bytes_),
        index_neighbours_seconds=nb.query_seconds,
        index_peak_memory_bytes=index_memory.peak_bytes,
        features_seconds=info["features_seconds"],
    )
    metrics.update(index_metrics(parts.index, Xn, s))
    k = min(s.recall_k, nb.ids.shape[1])
    if genres is not None:
        metrics[f"genre_precision_at_{k}"], metrics["genre_precision_items"] = genre_precision_at_k(nb.ids, genres, k)
    if artists is not None:  # how often a cover's neighbours are its own artist's albums (the artist confound)
        metrics[f"same_artist_at_{k}"], metrics["same_artist_items"] = same_artist_at_k(nb.ids, artists, k)
    metrics["run_seconds"] = time.perf_counter() - t_start
    info["skipped"] = ds.skipped.summary()

    artifacts = plots.write_all(out, ds, nb, metrics, scores, evaluate.method_names(scores), s)
    scores_path = out / "scores.parquet"
    scores.to_parquet(scores_path, index=False)
    table.to_csv(out / "results.csv")
    (out / "results.md").write_text(evaluate.results_markdown(table))
    artifacts += [scores_path, out / "results.csv", out / "results.md"] + ([out / "ranking.csv"] if s.ranking else [])
    if grids:
        artifacts.append(out / "tuning.csv")
    if ds.skipped.total:
        sk = out / "skipped.csv"
        ds.skipped.frame().to_csv(sk, index=False)
        artifacts.append(sk)
    return Result(metrics=metrics, info=info, artifacts=artifacts, scores=scores)
