"""covers.index.exact: brute-force neighbours, hand-worked and against scikit-learn, and
exact_search (the one exact search: ExactIndex's answers and every index's recall ground truth)
chunked over the catalogue giving the same answers, ties by id."""
import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from covers.index.exact import ExactIndex, exact_search, smallest_k


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
        got, _ = exact_search(M, X[rows], 10, metric, exclude=rows, block_bytes=200 * 8 * 300)  # blocks of 300 items
        assert got.shape == (200, 10) and (got == ref).mean() > 0.999, metric


def test_exact_neighbours_hand_worked_with_a_tie():
    X = np.array([[0.0], [1.0], [3.0], [-1.0]], np.float32)
    # item 0: 1 and 3 both at distance 1 (tie -> lower id first), then 2; item 2: 1 (2), 0 (3)
    got, d = exact_search(X, X[[0, 2]], 2, "euclidean", exclude=np.array([0, 2]))
    assert got.tolist() == [[1, 3], [1, 0]] and d.tolist() == [[1.0, 1.0], [2.0, 3.0]]
    # blocks of 256 rows, the tie straddling a block edge: still the lower id first
    Y = np.zeros((600, 1), np.float32)
    Y[[5, 300, 599]] = 1.0
    got, _ = exact_search(Y, np.array([[1.0]]), 2, "euclidean", block_bytes=1)
    assert got.tolist() == [[5, 300]]
    # a query vector, nothing excluded: itself first
    assert exact_search(X, X[[2]], 1, "euclidean")[0].tolist() == [[2]]
    ids, d = ExactIndex("euclidean").build(X).query_rows(np.array([0, 2]), 3)
    assert ids.tolist() == [[1, 3, 2], [1, 0, 3]] and d.tolist() == [[1.0, 1.0, 3.0], [2.0, 3.0, 4.0]]


def test_bad_exact_params():
    with pytest.raises(ValueError, match="metric"):
        ExactIndex("cosine").check()
    with pytest.raises(ValueError, match="ExactIndex: block"):
        ExactIndex(block=0).build(np.zeros((3, 2), np.float32))
    assert ExactIndex().file_suffix is None and ExactIndex(block=7).build_key() == {"class": "ExactIndex",
                                                                                     "metric": "angular"}


def test_smallest_k_breaks_ties_by_id_whatever_the_partition():
    d = np.array([[3.0, 1.0, 1.0, 1.0, 0.0, 1.0], [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])
    ids, vals = smallest_k(d, 3)
    assert ids.tolist() == [[4, 1, 2], [5, 4, 3]] and vals.tolist() == [[0.0, 1.0, 1.0], [0.0, 1.0, 2.0]]
    ids, _ = smallest_k(d, 10, offset=100)  # fewer columns than k: all of them, sorted
    assert ids.tolist() == [[104, 101, 102, 103, 105, 100], [105, 104, 103, 102, 101, 100]]
    rng = np.random.default_rng(0)
    r = rng.integers(0, 4, size=(50, 40)).astype(float)  # many ties
    ids, _ = smallest_k(r, 7)
    assert np.array_equal(ids, np.lexsort((np.broadcast_to(np.arange(40), r.shape), r), axis=1)[:, :7])


def test_fewer_items_than_k_is_padded_and_dot_is_the_product():
    X = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]], np.float32)
    ids, d = exact_search(X, X[[0]], 5, "dot", exclude=np.array([0]))
    assert ids.tolist() == [[2, 1, -1, -1, -1]] and d[0, 2:].tolist() == [0.0, 0.0, 0.0]
    idx = ExactIndex("dot").build(X)
    r_ids, r_d = idx.query_rows(np.array([0]), 2)
    assert r_ids.tolist() == [[2, 1]] and r_d.tolist() == [[3.0, 0.0]]  # Annoy's convention: the product itself
    s_ids, s_d = idx.search(np.array([[0.0, 1.0]], np.float32), 2, n_threads=1)
    assert s_ids.tolist() == [[1, 0]] and s_d.tolist() == [[2.0, 0.0]]
    assert idx.neighbours(2).sims.tolist()[0] == [3.0, 0.0]
