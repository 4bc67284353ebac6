"""covers.scorers.ease: EASE (Steck 2019) on the up thumbs against the closed form computed here
with numpy (B = I - P / diag(P), P = inv(X'X + lambda I), B >= 0 when positive_only), the same
scores for any user block, no evidence for users or items without train thumbs, and the
catalogues and penalties it refuses."""
import numpy as np
import pandas as pd
import pytest

from conftest import thumbs_frame
from covers.scorers.base import Context
from covers.scorers.ease import EASEScorer


def closed_form(train: pd.DataFrame, n_users: int, n_items: int, lamb: float, positive_only: bool):
    X = np.zeros((n_users, n_items))
    up = train[train["thumb"] > 0]
    X[up["user"], up["item"]] = 1.0
    P = np.linalg.inv(X.T @ X + lamb * np.eye(n_items))
    B = np.eye(n_items) - P / np.diag(P)  # column j divided by P_jj: the diagonal becomes 0
    assert np.allclose(np.diag(B), 0.0)
    if positive_only:
        B[B < 0] = 0.0
    return X, B


def world():
    rng = np.random.default_rng(0)
    n_users, n_items = 40, 30
    t = thumbs_frame(rng, n_users, n_items, 12)
    held = np.arange(len(t)) % 12 < 3
    train, test = t[~held], t[held]
    # a user and an item without any train thumb: no evidence
    train = train[(train["user"] != 39) & (train["item"] != 29)]
    test = pd.concat([test, pd.DataFrame({"user": [39, 0], "item": [0, 29], "thumb": [1, 1]})], ignore_index=True)
    return train, test, n_users, n_items


@pytest.mark.parametrize("positive_only", [True, False])
def test_ease_equals_the_closed_form_for_any_user_block(positive_only):
    train, test, n_users, n_items = world()
    X, B = closed_form(train, n_users, n_items, 7.0, positive_only)
    u, i = test["user"].to_numpy(), test["item"].to_numpy()
    want = (X[u] * B[:, i].T).sum(1)  # X[u] . B[:, i]
    seen_u = np.isin(u, train.loc[train["thumb"] > 0, "user"])
    seen_i = np.isin(i, train["item"])
    covered = seen_u & seen_i
    assert not covered.all() and covered.mean() > 0.8
    ref = None
    for block in (1, 3, 1024):
        m = EASEScorer(lamb=7.0, positive_only=positive_only, user_block=block).fit(train, Context(n_users, n_items))
        np.testing.assert_allclose(m.B_, B, rtol=1e-9, atol=1e-12)
        sc = m.score(test)
        np.testing.assert_allclose(sc.scores, np.where(covered, want, 0.0), rtol=1e-9, atol=1e-12)
        assert sc.covered.tolist() == covered.tolist()
        if ref is not None:  # the block is a speed parameter: bit-identical scores
            assert np.array_equal(sc.scores, ref)
        ref = sc.scores
    if positive_only:
        assert (B >= 0).all()
    else:
        assert (B < 0).any()  # the case where the two settings differ is exercised


def test_ease_refuses_large_catalogues_and_bad_penalties():
    t = pd.DataFrame({"user": [0, 1], "item": [0, 1], "thumb": [1, 1]})
    with pytest.raises(ValueError, match=r"max_items \(now 10\)"):
        EASEScorer(max_items=10).fit(t, Context(2, 11))
    EASEScorer(max_items=11).fit(t, Context(2, 11))  # at the limit: fine
    for lamb in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="EASEScorer: lamb"):
            EASEScorer(lamb=lamb).fit(t, Context(2, 2))
    with pytest.raises(ValueError, match="EASEScorer: positive_only"):
        EASEScorer(positive_only="yes").fit(t, Context(2, 2))
    with pytest.raises(ValueError, match="EASEScorer: user_block"):
        EASEScorer(user_block=0).fit(t, Context(2, 2))
    assert set(EASEScorer().result_params()) == {"class", "lamb", "positive_only"}


def test_ease_without_ups_scores_nothing():
    t = pd.DataFrame({"user": [0, 1], "item": [0, 1], "thumb": [0, 0]})  # downs only
    sc = EASEScorer().fit(t, Context(2, 3)).score(pd.DataFrame({"user": [0, 1], "item": [1, 2]}))
    assert sc.scores.tolist() == [0.0, 0.0] and sc.covered.tolist() == [False, False]
