"""The million-cover code paths, exercised on small n: Annoy from a memory map, on-disk builds,
parallel all-items queries, cheap chunked recall, fast vectorised thumbs at scale, procedural
worlds with cheap fingerprints and loaders, and the whole pipeline on a procedural world."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from covers.index import annoy_index as ai
from covers.index.annoy import AnnoyIndex, estimated_bytes
from covers.index.exact import ExactIndex


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return np.random.default_rng(7).normal(size=(3000, 24)).astype(np.float32)


def test_build_from_a_memmap_without_copying_and_on_disk_gives_the_same_answers(tmp_path, X):
    np.save(tmp_path / "x.npy", X)
    M = np.load(tmp_path / "x.npy", mmap_mode="r")
    mem = AnnoyIndex(n_trees=8, seed=2, n_jobs=1, on_disk_build=False).build(M, tmp_path / "mem.ann")
    disk = AnnoyIndex(n_trees=8, seed=2, n_jobs=1, on_disk_build=True).build(M, tmp_path / "disk.ann")
    assert not mem.on_disk_ and disk.on_disk_
    assert (tmp_path / "mem.ann").read_bytes() == (tmp_path / "disk.ann").read_bytes()  # single thread: same bytes
    assert np.array_equal(mem.neighbours(10).ids, AnnoyIndex(n_trees=8, seed=2, n_jobs=1).build(X).neighbours(10).ids)
    auto = AnnoyIndex(n_trees=8, seed=2, n_jobs=1, on_disk_bytes=estimated_bytes(3000, 24, "angular", n_trees=8) - 1)
    assert auto.build(M, tmp_path / "auto.ann").on_disk_  # above the threshold: built in its file
    assert not list(tmp_path.glob("*.tmp-*"))
    with pytest.raises(ValueError):
        AnnoyIndex(on_disk_build="sometimes")


def test_estimated_size_is_close_to_annoys(tmp_path, X):
    a = AnnoyIndex(n_trees=10, n_jobs=1).build(X, tmp_path / "a.ann")
    assert 0.7 < a.size_bytes_ / estimated_bytes(len(X), X.shape[1], "angular") < 1.3


def test_parallel_neighbours_equal_in_process_neighbours(tmp_path, X, monkeypatch):
    monkeypatch.setattr(ai, "PARALLEL_MIN_ITEMS", 100)  # the multi-process path on a small index
    one = AnnoyIndex(n_trees=6, search_k=300, seed=1, n_jobs=1, query_jobs=1, query_chunk=500).build(X).neighbours(12)
    two = AnnoyIndex(n_trees=6, search_k=300, seed=1, n_jobs=1, query_jobs=2, query_chunk=333).build(
        X, tmp_path / "i.ann").neighbours(12)
    assert np.array_equal(one.ids, two.ids) and np.array_equal(one.sims, two.sims)
    assert one.ids.dtype == np.int64 and one.sims.dtype == np.float64 and one.ids.shape == (3000, 12)
    assert (one.ids != np.arange(3000)[:, None]).all()  # never its own neighbour
    # the same numbers the old per-item packing gave
    idx = AnnoyIndex(n_trees=6, search_k=300, seed=1, n_jobs=1).build(X)
    ids, ds = idx.query_rows(np.arange(40), 12)
    from covers.index.base import pack

    ref = pack(list(zip(ids, ds)), 12, "angular", 0.0)
    assert np.array_equal(ref.ids, one.ids[:40]) and np.array_equal(ref.sims, one.sims[:40])


def test_fewer_items_than_k_leaves_empty_slots(tmp_path):
    Y = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    nb = AnnoyIndex(n_trees=3, n_jobs=1).build(Y).neighbours(10)
    assert nb.ids.shape == (6, 10) and (nb.ids[:, 5:] == -1).all() and (nb.sims[:, 5:] == 0).all()


def test_query_processes_are_not_part_of_the_key():
    assert AnnoyIndex(query_jobs=1).params() == AnnoyIndex(query_jobs=2).params()
    assert AnnoyIndex(on_disk_build=True).params() == AnnoyIndex(on_disk_build=False).params()


def test_exact_recall_side_is_chunked_and_matches_brute_force(X):
    from covers.pipeline import _exact_sample

    rows = np.random.default_rng(3).choice(len(X), 200, replace=False)
    for metric in ("angular", "euclidean", "manhattan", "dot"):
        ref, _ = ExactIndex(metric).build(X).query_rows(rows, 10)
        got = _exact_sample(X, rows, 10, metric, block_bytes=200 * 8 * 300)  # blocks of 300 items
        assert (got == ref).mean() > 0.999, metric


def test_normalisation_in_chunks_is_exact(tmp_path, X):
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import Normalizer, StandardScaler

    from covers.norm import RowZScore
    from covers.pipeline import _normalise

    np.save(tmp_path / "x.npy", X)
    M = np.load(tmp_path / "x.npy", mmap_mode="r")
    for norm in (RowZScore(), Normalizer(), StandardScaler(), PCA(5, random_state=0)):
        ref = np.asarray(type(norm)(**norm.get_params()).fit_transform(X), dtype=np.float32)
        assert np.array_equal(_normalise(norm, M, None, rows=256), ref), type(norm).__name__


# --------------------------------------------------------------------------- the synthetic world at scale
def test_thumbs_at_scale_are_vectorised_and_follow_the_model():
    from covers.data import synthetic as syn

    items = syn.make_items(200_000, seed=1)
    t0 = time.perf_counter()
    t = syn.simulate_thumbs(items, n_users=8000, mean_thumbs_per_user=40, seed=1)  # 1.6e9 pairs: sequential
    secs = time.perf_counter() - t0
    assert 8000 * 200_000 > syn.EXPOSURE_DENSE_MAX and secs < 30, secs
    assert t.user_id.nunique() == 8000 and not t.duplicated(["user_id", "item_id"]).any()
    assert 35 < len(t) / 8000 < 45 and t.groupby("user_id").size().min() >= 5
    assert (t.groupby("user_id").timestamp.diff().dropna() > 0).all()
    seen = t.item_id.value_counts().reindex(items.item_id, fill_value=0).to_numpy()
    assert np.corrcoef(seen, items.popularity)[0, 1] > 0.3  # popular albums are seen more
    bins = pd.qcut(t.true_score, 5, labels=False)
    rates = t.thumb.groupby(bins).mean().to_numpy()
    assert np.all(np.diff(rates) > 0)


def test_sequential_exposure_has_the_gumbel_distribution():
    """Both samplers draw k distinct items with probability prop. to pop^a (1 + e G theta): same
    inclusion frequencies (up to noise) on a small catalogue."""
    from covers.data.synthetic import _exposure_gumbel, _exposure_sequential

    rng = np.random.default_rng(0)
    n, G, users = 40, 4, 3000
    logpop = rng.normal(size=n)
    gidx = np.arange(n) % G
    theta = rng.dirichlet(np.ones(G), size=1)
    logpref = np.log1p(2.0 * G * np.repeat(theta, users, 0))
    k = np.full(users, 6)
    counts = []
    for f in (_exposure_gumbel, _exposure_sequential):
        u, i = f(np.random.default_rng(1), k, logpop, logpref, gidx)
        assert len(u) == users * 6 and (np.bincount(u, minlength=users) == 6).all()
        assert len(np.unique(u * n + i)) == len(u)
        counts.append(np.bincount(i, minlength=n) / users)
    assert np.abs(counts[0] - counts[1]).max() < 0.04, np.abs(counts[0] - counts[1]).max()


def test_a_procedural_world_loads_fast_with_a_cheap_fingerprint(tmp_path):
    from covers.data.world import SyntheticWorld

    w = SyntheticWorld(n_items=30_000, n_users=None, mean_thumbs_per_user=20)  # > 20k: procedural by default
    assert not w.store_covers
    ds = w.load(tmp_path)
    assert not (ds.root / "covers").exists() and ds.n_items == 30_000 and ds.stats()["n_users"] == 1200
    t0 = time.perf_counter()
    again = w.load(tmp_path)
    assert time.perf_counter() - t0 < 10 and again.fingerprint == ds.fingerprint
    assert ds.items["item_id"].is_monotonic_increasing
    assert ds.thumbs["item"].max() < 30_000 and (ds.items["item_id"].to_numpy()[ds.thumbs["item"]] == ds.thumbs["item_id"]).all()
    px, bad = ds.covers.decode([0, 12345, 29_999], 16, "gray", 1)
    assert not bad and px.shape == (3, 16, 16) and px.std() > 0


def test_pipeline_on_a_procedural_world(tmp_path):
    from conftest import compose

    from covers.app.task import run_job

    cfg = compose(tmp_path, ["dataset.n_items=1500", "dataset.n_users=120", "+dataset.store_covers=false",
                             "dataset.image_size=32", "baselines=simple", "eval.batch_size=256"])
    s = run_job(cfg, out_dir=tmp_path / "out")
    assert s["status"] == "FINISHED" and s["info"]["features_cache"] == "built"
    m = s["metrics"]
    assert m["data_n_items"] == 1500 and m["index_recall_at_10"] > 0.3 and np.isfinite(m["user_auc"])
