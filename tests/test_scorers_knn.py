"""covers.scorers.knn: the cover-kNN vote, hand-worked and against a brute-force loop, and the
parameters it refuses."""
import numpy as np
import pandas as pd
import pytest

from conftest import thumbs_frame
from covers.index.base import Neighbours
from covers.scorers.base import Context
from covers.scorers.knn import KNNScorer


def test_knn_hand_worked():
    # item 0's neighbours: 1 (sim 0.9), 2 (sim 0.5), 3 (sim -0.2 -> clipped to 0)
    nb = Neighbours(np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]]),
                    np.array([[0.9, 0.5, -0.2]] * 4), 0.0)
    train = pd.DataFrame({"user": [0, 0, 0], "item": [1, 2, 3], "thumb": [1, 0, 1]})
    test = pd.DataFrame({"user": [0, 1], "item": [0, 0]})
    sc = KNNScorer(k=3, shrinkage=1.0).fit(train, Context(2, 4, nb)).score(test)
    # user 0: (0.9*1 + 0.5*(-1) + 0*1) / (0.9 + 0.5 + 0 + 1) = 0.4 / 2.4
    assert sc.scores[0] == pytest.approx(0.4 / 2.4)
    assert sc.covered.tolist() == [True, False]  # user 1 has no train thumbs at all
    assert sc.scores[1] == 0.0


def test_knn_matches_a_brute_force_loop():
    rng = np.random.default_rng(1)
    t = thumbs_frame(rng, 30, 60, 15)
    n_items, k = 60, 7
    ids = np.array([rng.choice([j for j in range(n_items) if j != i], k, replace=False) for i in range(n_items)])
    sims = rng.random((n_items, k))
    train, test = t.iloc[:300], t.iloc[300:]
    got = KNNScorer(k=k, shrinkage=0.5, chunk=17).fit(train, Context(30, n_items, Neighbours(ids, sims, 0))).score(test)
    lut = {(u, i): (1 if th else -1) for u, i, th in zip(train["user"], train["item"], train["thumb"])}
    for r, (u, i) in enumerate(zip(test["user"], test["item"])):
        votes = [(sims[i, c], lut.get((u, j), 0)) for c, j in enumerate(ids[i])]
        num = sum(w * v for w, v in votes)
        den = sum(w * abs(v) for w, v in votes)
        assert got.scores[r] == pytest.approx(num / (den + 0.5))
        assert got.covered[r] == any(v != 0 for _, v in votes)


def test_knn_refuses_bad_parameters_and_too_few_neighbours():
    nb = Neighbours(np.array([[1], [0]]), np.array([[1.0], [1.0]]), 0.0)
    train = pd.DataFrame({"user": [0], "item": [0], "thumb": [1]})
    for kw, match in ((dict(k=0), "KNNScorer: k"), (dict(k=1, shrinkage=-1.0), "KNNScorer: shrinkage"),
                      (dict(k=1, chunk=0), "KNNScorer: chunk")):
        with pytest.raises(ValueError, match=match):
            KNNScorer(**kw).fit(train, Context(1, 2, nb))
    with pytest.raises(ValueError, match="index returned 1 neighbours, scorer needs k=2"):
        KNNScorer(k=2).fit(train, Context(1, 2, nb))
    with pytest.raises(ValueError, match="needs the index's neighbours"):
        KNNScorer(k=1).fit(train, Context(1, 2))
    assert KNNScorer(k=7).neighbours_needed() == 7  # what the pipeline queries the index for
    assert KNNScorer(k=7, chunk=3).result_params() == {"class": "KNNScorer", "k": 7, "shrinkage": 1.0,
                                                             "exclude_same_artist": False}
