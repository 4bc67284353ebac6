"""covers.split: every splitter keeps test thumbs out of train, is seeded, filters small users
(counted), and refuses the parameters it cannot work with."""
import numpy as np
import pandas as pd
import pytest

from conftest import thumbs_frame
from covers.split import ColdItems, Temporal, UserHoldout


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


@pytest.mark.parametrize("part,match", [
    (UserHoldout(test_frac=1.0), "UserHoldout: test_frac must be in \\(0, 1\\), got 1.0"),
    (UserHoldout(min_thumbs=1), "UserHoldout: min_thumbs must be >= 2"),
    (Temporal(test_frac=0.0), "Temporal: test_frac"), (Temporal(min_thumbs=1), "Temporal: min_thumbs"),
    (ColdItems(item_frac=1.5), "ColdItems: item_frac"), (ColdItems(min_thumbs=0), "ColdItems: min_thumbs")])
def test_split_rejects_bad_params(part, match):
    with pytest.raises(ValueError, match=match):
        part.check()
    t = thumbs_frame(np.random.default_rng(0), 5, 10, 6)
    t["timestamp"] = np.arange(len(t))
    with pytest.raises(ValueError, match=match):  # split() checks first
        part.split(t)


def test_temporal_holds_out_each_users_latest_thumbs():
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
    rng = np.random.default_rng(3)
    t = thumbs_frame(rng, 40, 100, 20)
    sp = ColdItems(item_frac=0.25, seed=1).split(t)
    assert not set(sp.test["item"]) & set(sp.train["item"])
    assert len(set(sp.test["item"])) == 25
    assert len(sp.train) + len(sp.test) == len(t)


