import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from covers.index.annoy import AnnoyIndex
from covers.index.exact import ExactIndex


def test_exact_three_vectors_hand_worked():
    X = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]], np.float32)
    nb = ExactIndex("angular").build(X).neighbours(2)
    assert nb.ids.tolist() == [[1, 2], [0, 2], [1, 0]]
    np.testing.assert_allclose(nb.sims[0], [0.8, 0.0], atol=1e-6)  # cosines


@pytest.mark.parametrize("metric,sk", [("euclidean", "euclidean"), ("angular", "cosine"), ("manhattan", "manhattan")])
def test_exact_matches_sklearn(metric, sk):
    X = np.random.default_rng(0).normal(size=(200, 12)).astype(np.float32)
    ids, _ = ExactIndex(metric, block=37).build(X).query_rows(np.arange(200), 5)
    ref = NearestNeighbors(n_neighbors=6, metric=sk, algorithm="brute").fit(X).kneighbors(X, return_distance=False)[:, 1:]
    assert (ids == ref).mean() > 0.99  # float ties may swap an order rarely


def test_annoy_many_trees_finds_exact_neighbours_and_is_seeded(tmp_path):
    X = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    exact, _ = ExactIndex("angular").build(X).query_rows(np.arange(300), 10)
    a = AnnoyIndex("angular", n_trees=50, search_k=20000, seed=3, n_jobs=1).build(X, tmp_path / "a.ann")
    ids, _ = a.query_rows(np.arange(300), 10)
    assert np.mean([len(set(i) & set(e)) / 10 for i, e in zip(ids, exact)]) > 0.99
    b = AnnoyIndex("angular", n_trees=50, search_k=20000, seed=3, n_jobs=1).build(X, tmp_path / "b.ann")
    assert (tmp_path / "a.ann").read_bytes() == (tmp_path / "b.ann").read_bytes()  # single-threaded: same bytes
    few = AnnoyIndex("angular", n_trees=1, search_k=10, seed=3).build(X)
    fids, _ = few.query_rows(np.arange(300), 10)
    assert np.mean([len(set(i) & set(e)) / 10 for i, e in zip(fids, exact)]) < 0.9  # search_k really matters
    assert all(i not in row for i, row in enumerate(ids))  # never its own neighbour
    assert b.neighbours(5).ids.shape == (300, 5)


def test_annoy_loads_cached_index(tmp_path):
    X = np.random.default_rng(1).normal(size=(100, 4)).astype(np.float32)
    p = tmp_path / "i.ann"
    first = AnnoyIndex(n_trees=5, seed=1).build(X, p)
    again = AnnoyIndex(n_trees=5, seed=1).build(X, p)
    assert not first.cache_hit_ and again.cache_hit_
    assert np.array_equal(first.neighbours(5).ids, again.neighbours(5).ids)
    assert not list(tmp_path.glob("*.tmp-*"))


@pytest.mark.parametrize("kwargs", [dict(metric="cosine"), dict(n_trees=0), dict(search_k=0)])
def test_bad_index_params(kwargs):
    with pytest.raises(ValueError):
        AnnoyIndex(**kwargs)


def test_parallel_build_gives_the_same_neighbours():
    # Annoy's multi-threaded build stores trees in thread-finishing order (file bytes differ),
    # but each thread's trees come from a fixed seed, so query answers must not change.
    X = np.random.default_rng(2).normal(size=(2000, 16)).astype(np.float32)
    runs = [AnnoyIndex(n_trees=20, search_k=200, seed=5, n_jobs=2).build(X).neighbours(10).ids for _ in range(3)]
    assert np.array_equal(runs[0], runs[1]) and np.array_equal(runs[0], runs[2])
