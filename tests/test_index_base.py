"""covers.index.base: what every index shares, hand-worked: padding ragged answers into dense
arrays, distances as similarities, dropping the query item from its own answer."""
import numpy as np
import pytest

from covers.index.base import check_metric, drop_self, pad_rows, to_similarity


def test_pad_rows_makes_dense_arrays_padded_with_minus_one_and_zero():
    ids, d = pad_rows([([4, 2], [0.5, 0.75]), ([], []), ([1, 0, 3], [0.1, 0.2, 0.3])], 3)
    assert ids.dtype == np.int64 and d.dtype == np.float64
    assert ids.tolist() == [[4, 2, -1], [-1, -1, -1], [1, 0, 3]]
    assert d.tolist() == [[0.5, 0.75, 0.0], [0.0, 0.0, 0.0], [0.1, 0.2, 0.3]]
    assert pad_rows([], 5)[0].shape == (0, 5)


def test_to_similarity_per_metric():
    d = np.array([0.0, 1.0, 2.0 ** 0.5])
    np.testing.assert_allclose(to_similarity(d, "angular"), [1.0, 0.5, 0.0], atol=1e-15)  # cos = 1 - d^2 / 2
    np.testing.assert_allclose(to_similarity(d[:2], "euclidean"), [1.0, 0.5])  # 1 / (1 + d)
    np.testing.assert_allclose(to_similarity(d[:2], "manhattan"), [1.0, 0.5])
    np.testing.assert_allclose(to_similarity(np.array([-2.0, 3.0]), "dot"), [-2.0, 3.0])  # the dot product itself


def test_drop_self_wherever_it_is_and_cut_to_k():
    assert drop_self([7, 3, 5, 9], [0.1, 0.2, 0.3, 0.4], 3, 2) == ([7, 5], [0.1, 0.3])
    assert drop_self([7, 5, 9], [0.1, 0.3, 0.4], 3, 2) == ([7, 5], [0.1, 0.3])  # not there: only cut


def test_check_metric():
    assert check_metric("dot") == "dot"
    with pytest.raises(ValueError, match="metric must be one of"):
        check_metric("cosine")
