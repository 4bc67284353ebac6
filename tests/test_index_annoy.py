"""covers.index.annoy: seeded builds that find the exact neighbours with enough trees, saved indexes
opened again, the parameters it refuses, which parameters are its cache key, and the million-cover
paths on small n (builds from a memory map, on-disk builds, all-items queries in processes)."""
import numpy as np
import pytest

from covers.index import annoy as ai
from covers.index.annoy import AnnoyIndex, estimated_bytes
from covers.index.base import to_similarity
from covers.index.exact import ExactIndex


def test_annoy_many_trees_finds_exact_neighbours_and_is_seeded(tmp_path):
    X = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    exact, _ = ExactIndex("angular").build(X).query_rows(np.arange(300), 10)
    a = AnnoyIndex("angular", n_trees=50, search_k=20000, seed=3, build_threads=1).build(X, tmp_path / "a.ann")
    ids, _ = a.query_rows(np.arange(300), 10)
    assert np.mean([len(set(i) & set(e)) / 10 for i, e in zip(ids, exact)]) > 0.99
    b = AnnoyIndex("angular", n_trees=50, search_k=20000, seed=3, build_threads=1).build(X, tmp_path / "b.ann")
    assert (tmp_path / "a.ann").read_bytes() == (tmp_path / "b.ann").read_bytes()  # single-threaded: same bytes
    few = AnnoyIndex("angular", n_trees=1, search_k=10, seed=3).build(X)
    fids, _ = few.query_rows(np.arange(300), 10)
    assert np.mean([len(set(i) & set(e)) / 10 for i, e in zip(fids, exact)]) < 0.9  # search_k really matters
    assert all(i not in row for i, row in enumerate(ids))  # never its own neighbour
    assert b.neighbours(5).ids.shape == (300, 5)


def test_annoy_loads_a_saved_index(tmp_path):
    X = np.random.default_rng(1).normal(size=(100, 4)).astype(np.float32)
    p = tmp_path / "i.ann"
    first = AnnoyIndex(n_trees=5, seed=1).build(X, p)
    assert p.is_file() and first.path_ == str(p) and first.size_bytes_ == p.stat().st_size
    again = AnnoyIndex(n_trees=5, seed=1).load(p, X)  # opened, not rebuilt
    assert (again.n_items_, again.dim_, again.size_bytes_) == (100, 4, p.stat().st_size)
    assert np.array_equal(first.neighbours(5).ids, again.neighbours(5).ids)
    assert np.array_equal(first.neighbours(5).sims, again.neighbours(5).sims)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["i.ann"]
    private = AnnoyIndex(n_trees=5, seed=1).build(X)  # no path: a private temporary file, same index
    assert private.path_ != str(p) and np.array_equal(private.neighbours(5).ids, first.neighbours(5).ids)


@pytest.mark.parametrize("kwargs,match", [
    (dict(metric="cosine"), "metric"), (dict(n_trees=0), "n_trees"), (dict(search_k=0), "search_k"),
    (dict(n_trees=2.5), "n_trees"), (dict(build_threads=0), "build_threads"),
    (dict(on_disk_build="sometimes"), "on_disk_build"),
    (dict(query_jobs=0), r"AnnoyIndex: query_jobs must be -1 .*or an int >= 1, got 0")])
def test_bad_index_params(kwargs, match, tmp_path):
    idx = AnnoyIndex(**kwargs)  # __init__ only stores
    assert idx.get_params()[next(iter(kwargs))] == next(iter(kwargs.values()))
    with pytest.raises(ValueError, match=match):
        idx.check()
    with pytest.raises(ValueError, match=match):  # build checks before it writes anything
        idx.build(np.zeros((5, 2), np.float32), tmp_path / "never.ann")
    assert not (tmp_path / "never.ann").exists()


def test_parallel_build_gives_the_same_neighbours():
    # Annoy's multi-threaded build stores trees in thread-finishing order (file bytes differ),
    # but each thread's trees come from a fixed seed, so query answers must not change.
    X = np.random.default_rng(2).normal(size=(2000, 16)).astype(np.float32)
    runs = [AnnoyIndex(n_trees=20, search_k=200, seed=5, build_threads=2).build(X).neighbours(10).ids for _ in range(3)]
    assert np.array_equal(runs[0], runs[1]) and np.array_equal(runs[0], runs[2])


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return np.random.default_rng(7).normal(size=(3000, 24)).astype(np.float32)


def test_build_from_a_memmap_without_copying_and_on_disk_gives_the_same_answers(tmp_path, X):
    np.save(tmp_path / "x.npy", X)
    M = np.load(tmp_path / "x.npy", mmap_mode="r")
    mem = AnnoyIndex(n_trees=8, seed=2, build_threads=1, on_disk_build=False).build(M, tmp_path / "mem.ann")
    disk = AnnoyIndex(n_trees=8, seed=2, build_threads=1, on_disk_build=True).build(M, tmp_path / "disk.ann")
    assert not mem.on_disk_ and disk.on_disk_
    assert (tmp_path / "mem.ann").read_bytes() == (tmp_path / "disk.ann").read_bytes()  # single thread: same bytes
    assert np.array_equal(mem.neighbours(10).ids, AnnoyIndex(n_trees=8, seed=2, build_threads=1).build(X).neighbours(10).ids)
    auto = AnnoyIndex(n_trees=8, seed=2, build_threads=1, on_disk_bytes=estimated_bytes(3000, 24, "angular", n_trees=8) - 1)
    assert auto.build(M, tmp_path / "auto.ann").on_disk_  # above the threshold: built in its file
    assert not list(tmp_path.glob("*.tmp-*"))


def test_estimated_size_is_close_to_annoys(tmp_path, X):
    a = AnnoyIndex(n_trees=10, build_threads=1).build(X, tmp_path / "a.ann")
    assert 0.7 < a.size_bytes_ / estimated_bytes(len(X), X.shape[1], "angular") < 1.3


def test_parallel_neighbours_equal_in_process_neighbours(tmp_path, X, monkeypatch):
    monkeypatch.setattr(ai, "PARALLEL_MIN_ITEMS", 100)  # the multi-process path on a small index
    one = AnnoyIndex(n_trees=6, search_k=300, seed=1, build_threads=1, query_jobs=1, query_chunk=500).build(X).neighbours(12)
    two = AnnoyIndex(n_trees=6, search_k=300, seed=1, build_threads=1, query_jobs=2, query_chunk=333).build(
        X, tmp_path / "i.ann").neighbours(12)
    assert np.array_equal(one.ids, two.ids) and np.array_equal(one.sims, two.sims)
    assert one.ids.dtype == np.int64 and one.sims.dtype == np.float64 and one.ids.shape == (3000, 12)
    assert (one.ids != np.arange(3000)[:, None]).all()  # never its own neighbour
    # the same numbers as the per-row queries: dense ids and distances, as similarities
    idx = AnnoyIndex(n_trees=6, search_k=300, seed=1, build_threads=1).build(X)
    ids, ds = idx.query_rows(np.arange(40), 12)
    assert ids.dtype == np.int64 and ds.dtype == np.float64 and ids.shape == ds.shape == (40, 12)
    assert np.array_equal(ids, one.ids[:40])
    assert np.array_equal(np.where(ids >= 0, to_similarity(ds, "angular"), 0.0), one.sims[:40])


def test_fewer_items_than_k_leaves_empty_slots(tmp_path):
    Y = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    idx = AnnoyIndex(n_trees=3, build_threads=1).build(Y)
    nb = idx.neighbours(10)
    assert nb.ids.shape == (6, 10) and (nb.ids[:, 5:] == -1).all() and (nb.sims[:, 5:] == 0).all()
    assert sorted(nb.ids[0, :5]) == [1, 2, 3, 4, 5]  # every other item, found
    ids, d = idx.query_rows(np.array([2, 4]), 10)  # dense too: padded with -1, distances 0
    assert ids.shape == (2, 10) and (ids[:, 5:] == -1).all() and (d[:, 5:] == 0).all() and (ids[:, :5] >= 0).all()


def test_query_processes_are_not_part_of_the_key():
    assert AnnoyIndex(query_jobs=1).result_params() == AnnoyIndex(query_jobs=2).result_params()
    assert AnnoyIndex(on_disk_build=True).result_params() == AnnoyIndex(on_disk_build=False).result_params()
    assert AnnoyIndex(query_chunk=10).build_key() == AnnoyIndex(on_disk_bytes=1).build_key()
    assert AnnoyIndex.speed_param_names() == AnnoyIndex().speed_param_names() == ("on_disk_build", "on_disk_bytes", "query_jobs", "query_chunk")
    # search_k shapes answers, not the built index: in the result, not in the build key
    assert AnnoyIndex(search_k=10).build_key() == AnnoyIndex(search_k=20).build_key()
    assert AnnoyIndex(search_k=10).result_params() != AnnoyIndex(search_k=20).result_params()
    # build threads seed the trees one per thread: a build parameter
    assert AnnoyIndex(build_threads=1).build_key() != AnnoyIndex(build_threads=2).build_key()
    assert AnnoyIndex(n_trees=3, seed=4).build_key() == {"class": "AnnoyIndex", "metric": "angular", "n_trees": 3,
                                                         "seed": 4, "build_threads": 1}
