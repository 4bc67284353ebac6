"""covers.scorers.centroid: how much more a cover looks like the user's ups than their downs, hand-worked."""
import numpy as np
import pandas as pd
import pytest

from covers.scorers.base import Context
from covers.scorers.centroid import CentroidScorer


def test_centroid_hand_worked():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [3.0, 0.0]])
    train = pd.DataFrame({"user": [0, 0], "item": [0, 1], "thumb": [1, 0]})
    test = pd.DataFrame({"user": [0, 0, 1], "item": [2, 3, 3]})
    sc = CentroidScorer().fit(train, Context(2, 4, features=X)).score(test)
    # item 2 is equally like the up (e_x) and the down (e_y): 0; item 3 = e_x direction: 1 - 0
    np.testing.assert_allclose(sc.scores, [0.0, 1.0, 0.0], atol=1e-12)
    assert sc.covered.tolist() == [True, True, False]


def test_centroid_needs_features_and_a_positive_chunk():
    train = pd.DataFrame({"user": [0], "item": [0], "thumb": [1]})
    with pytest.raises(ValueError, match="needs the feature matrix"):
        CentroidScorer().fit(train, Context(1, 1))
    with pytest.raises(ValueError, match="CentroidScorer: chunk"):
        CentroidScorer(chunk=0).fit(train, Context(1, 1, features=np.ones((1, 2))))
    # chunked scoring is the same as one chunk
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    tr = pd.DataFrame({"user": rng.integers(0, 5, 60), "item": rng.integers(0, 30, 60), "thumb": rng.integers(0, 2, 60)})
    te = pd.DataFrame({"user": rng.integers(0, 5, 40), "item": rng.integers(0, 30, 40)})
    ctx = Context(5, 30, features=X)
    a = CentroidScorer().fit(tr, ctx).score(te)
    b = CentroidScorer(chunk=7).fit(tr, ctx).score(te)
    assert np.array_equal(a.scores, b.scores) and np.array_equal(a.covered, b.covered)
