"""covers.index.exact: brute-force neighbours, hand-worked and against scikit-learn, and
exact_neighbours (the recall ground truth) chunked over the catalogue giving the same answers."""
import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from covers.index.exact import ExactIndex, exact_neighbours


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


def test_exact_recall_side_is_chunked_and_matches_brute_force(tmp_path):
    X = np.random.default_rng(7).normal(size=(3000, 24)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    M = np.load(tmp_path / "x.npy", mmap_mode="r")  # as the pipeline hands it: memory-mapped
    rows = np.random.default_rng(3).choice(len(X), 200, replace=False)
    for metric in ("angular", "euclidean", "manhattan", "dot"):
        ref, _ = ExactIndex(metric).build(X).query_rows(rows, 10)
        got = exact_neighbours(M, rows, 10, metric, block_bytes=200 * 8 * 300)  # blocks of 300 items
        assert got.shape == (200, 10) and (got == ref).mean() > 0.999, metric


def test_exact_neighbours_hand_worked_with_a_tie():
    X = np.array([[0.0], [1.0], [3.0], [-1.0]], np.float32)
    # item 0: 1 and 3 both at distance 1 (tie -> lower id first), then 2; item 2: 1 (2), 0 (3)
    got = exact_neighbours(X, np.array([0, 2]), 2, "euclidean")
    assert got.tolist() == [[1, 3], [1, 0]]
    ids, d = ExactIndex("euclidean").build(X).query_rows(np.array([0, 2]), 3)
    assert ids.tolist() == [[1, 3, 2], [1, 0, 3]] and d.tolist() == [[1.0, 1.0, 3.0], [2.0, 3.0, 4.0]]


def test_bad_exact_params():
    with pytest.raises(ValueError, match="metric"):
        ExactIndex("cosine").check()
    with pytest.raises(ValueError, match="ExactIndex: block"):
        ExactIndex(block=0).build(np.zeros((3, 2), np.float32))
    assert ExactIndex().file_suffix is None and ExactIndex(block=7).build_key() == {"class": "ExactIndex",
                                                                                     "metric": "angular"}
