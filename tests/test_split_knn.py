import numpy as np
import pandas as pd
import pytest

from covers.index.base import Neighbours
from covers.scorers.base import Context
from covers.scorers.baselines import PopularityScorer, RandomScorer, UserMeanScorer
from covers.scorers.knn import KNNScorer
from covers.split import UserHoldout


def thumbs_frame(rng, n_users=50, n_items=80, per_user=20):
    rows = []
    for u in range(n_users):
        for i in rng.choice(n_items, per_user, replace=False):
            rows.append((u, i, int(rng.random() < 0.5)))
    t = pd.DataFrame(rows, columns=["user", "item", "thumb"])
    t["user_id"] = "u" + t["user"].astype(str)
    t["item_id"] = "i" + t["item"].astype(str)
    return t


def test_user_holdout_partitions_each_user_and_filters_small_users():
    rng = np.random.default_rng(0)
    t = thumbs_frame(rng)
    extra = pd.DataFrame({"user": [999, 999], "item": [1, 2], "thumb": [1, 0], "user_id": "small", "item_id": ["i1", "i2"]})
    sp = UserHoldout(test_frac=0.25, min_thumbs=5, seed=3).split(pd.concat([t, extra], ignore_index=True))
    assert sp.n_users_filtered == 1
    assert 999 not in set(sp.train["user"]) | set(sp.test["user"])
    key = lambda d: set(zip(d["user"], d["item"]))  # noqa: E731
    assert not key(sp.train) & key(sp.test)  # no thumb on both sides
    assert key(sp.train) | key(sp.test) == key(t)  # nothing lost
    per_user = sp.test.groupby("user").size()
    assert (per_user == 5).all()  # round(20 * 0.25)
    sp2 = UserHoldout(test_frac=0.25, min_thumbs=5, seed=3).split(pd.concat([t, extra], ignore_index=True))
    pd.testing.assert_frame_equal(sp.test, sp2.test)  # seeded


def test_split_rejects_bad_params():
    with pytest.raises(ValueError):
        UserHoldout(test_frac=1.0)
    with pytest.raises(ValueError):
        UserHoldout(min_thumbs=1)


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


def test_baselines_hand_worked():
    train = pd.DataFrame({"user": [0, 0, 1, 1], "item": [0, 1, 0, 2], "thumb": [1, 1, 1, 0]})
    test = pd.DataFrame({"user": [0, 1, 2], "item": [2, 1, 3]})
    ctx = Context(n_users=3, n_items=4)
    pop = PopularityScorer(smoothing=1.0).fit(train, ctx).score(test)
    # prior 0.75; item 2: (0 + 0.75) / (1 + 1); item 1: (1 + .75)/2; item 3 unseen -> prior
    np.testing.assert_allclose(pop.scores, [0.375, 0.875, 0.75])
    assert pop.covered.tolist() == [True, True, False]
    um = UserMeanScorer(smoothing=0.0).fit(train, ctx).score(test)
    np.testing.assert_allclose(um.scores[:2], [1.0, 0.5])
    r1 = RandomScorer(seed=4).fit(train, ctx).score(test).scores
    assert np.array_equal(r1, RandomScorer(seed=4).fit(train, ctx).score(test).scores)


def test_temporal_holds_out_each_users_latest_thumbs():
    from covers.split import Temporal

    rng = np.random.default_rng(2)
    t = thumbs_frame(rng, 20, 50, 10)
    t["timestamp"] = rng.permutation(len(t))
    sp = Temporal(test_frac=0.3).split(t)
    for u, g in sp.test.groupby("user"):
        assert len(g) == 3
        assert g["timestamp"].min() > sp.train.loc[sp.train["user"] == u, "timestamp"].max()
    with pytest.raises(ValueError, match="timestamp"):
        Temporal().split(t.drop(columns="timestamp"))


def test_cold_items_never_appear_in_train():
    from covers.split import ColdItems

    rng = np.random.default_rng(3)
    t = thumbs_frame(rng, 40, 100, 20)
    sp = ColdItems(item_frac=0.25, seed=1).split(t)
    assert not set(sp.test["item"]) & set(sp.train["item"])
    assert len(set(sp.test["item"])) == 25
    assert len(sp.train) + len(sp.test) == len(t)


def test_centroid_hand_worked():
    from covers.scorers.centroid import CentroidScorer

    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [3.0, 0.0]])
    train = pd.DataFrame({"user": [0, 0], "item": [0, 1], "thumb": [1, 0]})
    test = pd.DataFrame({"user": [0, 0, 1], "item": [2, 3, 3]})
    sc = CentroidScorer().fit(train, Context(2, 4, features=X)).score(test)
    # item 2 is equally like the up (e_x) and the down (e_y): 0; item 3 = e_x direction: 1 - 0
    np.testing.assert_allclose(sc.scores, [0.0, 1.0, 0.0], atol=1e-12)
    assert sc.covered.tolist() == [True, True, False]
