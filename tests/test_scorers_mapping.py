"""covers.scorers.mapping: ContentToCF maps cover features to a CF model's item factors, so it
scores items nobody thumbed; the configured CF model is copied, never fitted in place. Cross-fitted:
no warm item's predicted factor reads its own CF factor (a fold property checked by perturbing
one factor, a scikit-learn Ridge cross-check, and the key test: on covers that carry no signal
it stays at chance where the old all-items ridge reproduced CF); cold items get the ridge
fitted on every warm item."""
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from covers.evaluation.metrics import user_auc
from covers.scorers.base import Context
from covers.scorers.cf import ALSScorer, _FactorScorer
from covers.scorers.mapping import ContentToCF
from covers.split import UserHoldout


def test_cold_items_get_scores_from_their_covers():
    rng = np.random.default_rng(0)
    n_users, n_items = 40, 60
    X = rng.normal(size=(n_items, 5))
    t = pd.DataFrame({"user": rng.integers(0, n_users, 900), "item": rng.integers(0, n_items, 900),
                      "thumb": rng.integers(0, 2, 900)}).drop_duplicates(["user", "item"])
    t = t[t["item"] < 50]  # items 50..59 are cold
    cf = ALSScorer(factors=4, iterations=3, n_jobs=1)
    m = ContentToCF(alpha=1.0, cf=cf).fit(t, Context(n_users, n_items, features=X))
    assert not hasattr(cf, "item_factors_")  # the configured model was copied, not fitted
    # cold items: the ridge fitted on every warm item (the same ALS, refitted: it is seeded)
    F = ALSScorer(factors=4, iterations=3, n_jobs=1).fit(t, Context(n_users, n_items)).item_factors_
    np.testing.assert_allclose(m.item_factors_[50:], Ridge(alpha=1.0).fit(X[:50], F[:50]).predict(X[50:]),
                               rtol=1e-9, atol=1e-12)
    u = int(t["user"].iloc[0])
    test = pd.DataFrame({"user": [u, u], "item": [55, 3]})
    sc = m.score(test)
    assert sc.covered.tolist() == [True, True]  # the cold album 55 is scored from its cover
    np.testing.assert_allclose(sc.scores, (m.user_factors_[u] * m.item_factors_[[55, 3]]).sum(1))
    unseen = [v for v in range(n_users) if v not in set(t["user"])]
    if unseen:
        assert ContentToCF(cf=cf).fit(t, Context(n_users, n_items, features=X)).score(
            pd.DataFrame({"user": unseen[:1], "item": [0]})).covered.tolist() == [False]


def test_content_to_cf_refuses_what_it_cannot_use():
    t = pd.DataFrame({"user": [0, 1], "item": [0, 1], "thumb": [1, 1]})
    ctx = Context(2, 3, features=np.eye(3))
    with pytest.raises(ValueError, match="ContentToCF: alpha"):
        ContentToCF(alpha=0.0).fit(t, ctx)
    with pytest.raises(ValueError, match="ContentToCF: cf must be a factor model"):
        ContentToCF(cf="als").fit(t, ctx)
    with pytest.raises(ValueError, match="needs the feature matrix"):
        ContentToCF().fit(t, Context(2, 3))
    with pytest.raises(ValueError, match="at least folds=5 items with train thumbs, got 2"):
        ContentToCF(cf=ALSScorer(factors=2, iterations=1, n_jobs=1)).fit(t, ctx)
    with pytest.raises(ValueError, match="at least folds=3 items with train thumbs, got 1"):
        ContentToCF(folds=3, cf=ALSScorer(factors=2, iterations=1, n_jobs=1)).fit(t.iloc[:1], ctx)
    for folds in (1, 0, 2.5):
        with pytest.raises(ValueError, match="ContentToCF: folds"):
            ContentToCF(folds=folds).fit(t, ctx)


class FixedFactors(_FactorScorer):
    """A "CF model" whose factors are given: so a test can change one item's factor."""

    def __init__(self, U: np.ndarray, F: np.ndarray) -> None:
        self.U = U
        self.F = F

    def fit(self, train, ctx):
        self.user_factors_, self.item_factors_ = self.U, self.F
        self.user_seen_ = np.bincount(train["user"], minlength=ctx.n_users) > 0
        self.item_seen_ = np.bincount(train["item"], minlength=ctx.n_items) > 0
        return self


def test_no_warm_item_reads_its_own_factor():
    rng = np.random.default_rng(1)
    n_users, n_items, n_warm = 10, 60, 50
    X = rng.normal(size=(n_items, 20))
    U, F = rng.normal(size=(n_users, 3)), rng.normal(size=(n_items, 3))
    t = pd.DataFrame({"user": np.arange(n_warm) % n_users, "item": np.arange(n_warm), "thumb": 1})
    ctx = Context(n_users, n_items, features=X)
    base = ContentToCF(alpha=2.0, folds=5, seed=3, cf=FixedFactors(U, F)).fit(t, ctx).item_factors_
    F2 = F.copy()
    F2[7] += 100.0  # item 7's own CF factor, changed a lot
    moved = ContentToCF(alpha=2.0, folds=5, seed=3, cf=FixedFactors(U, F2)).fit(t, ctx).item_factors_
    same = np.flatnonzero(np.isclose(base, moved, rtol=0, atol=1e-9).all(1))
    # item 7's prediction did not move, nor its fold-mates' (a fifth of the warm items); every
    # other item's did, the cold ones included (their ridge saw every warm item)
    assert 7 in same and same.max() < n_warm and same.size == n_warm // 5
    # the fold's predictions are the ridge fitted on the other warm items only
    rest = np.setdiff1d(np.arange(n_warm), same)
    np.testing.assert_allclose(base[same], Ridge(alpha=2.0).fit(X[rest], F[rest]).predict(X[same]), rtol=1e-9)
    np.testing.assert_allclose(base[n_warm:], Ridge(alpha=2.0).fit(X[:n_warm], F[:n_warm]).predict(X[n_warm:]),
                               rtol=1e-9)
    # seeded: the same folds again, other folds for another seed
    again = ContentToCF(alpha=2.0, folds=5, seed=3, cf=FixedFactors(U, F)).fit(t, ctx).item_factors_
    assert np.array_equal(again, base)
    assert not np.allclose(ContentToCF(alpha=2.0, folds=5, seed=4, cf=FixedFactors(U, F)).fit(t, ctx).item_factors_,
                           base)


def taste_world(seed=0, n_users=200, n_items=300, dim=8, per_user=60, d_feat=400):
    """Thumbs from a low-rank CF taste model (sign of u.v + noise); covers random, independent of them."""
    rng = np.random.default_rng(seed)
    U, V = rng.normal(size=(n_users, dim)), rng.normal(size=(n_items, dim))
    rows = []
    for u in range(n_users):
        items = rng.choice(n_items, per_user, replace=False)
        up = V[items] @ U[u] + rng.normal(scale=0.5, size=per_user) > 0
        rows += [(u, int(i), int(y)) for i, y in zip(items, up)]
    t = pd.DataFrame(rows, columns=["user", "item", "thumb"])
    t = t.assign(user_id="u" + t["user"].astype(str), item_id="i" + t["item"].astype(str))
    return t, rng.normal(size=(n_items, d_feat)), n_users, n_items


def test_covers_without_signal_stay_at_chance_where_the_all_items_ridge_leaked():
    """The key test. Features random (independent of the thumbs), 400 dimensions for 300 items:
    a ridge fitted on every warm item reproduces each one's CF factor, so the old ContentToCF
    scored like ALS on warm test thumbs (measured ~0.66) although covers say nothing. Cross-fitted,
    it must stay within noise of 0.5."""
    t, X, n_users, n_items = taste_world()
    split = UserHoldout(test_frac=0.25, seed=0).split(t)
    ctx = Context(n_users, n_items, features=X)
    te = split.test
    users, y, items = te["user"].to_numpy(), te["thumb"].to_numpy(), te["item"].to_numpy()
    als_kw = dict(factors=8, alpha=10.0, regularization=1.0, iterations=10, n_jobs=1)
    als = ALSScorer(**als_kw).fit(split.train, ctx)
    assert als.item_seen_[items].all()  # every test thumb is on a warm item: the case of the leak
    new = user_auc(users, y, ContentToCF(alpha=1.0, cf=ALSScorer(**als_kw)).fit(split.train, ctx).score(te).scores)
    se = new.per_user.std(ddof=1) / np.sqrt(new.per_user.size)
    assert abs(new.mean - 0.5) < 3 * se, (new.mean, se)
    # the old behaviour, recomputed here: the ridge fitted on ALL warm items, predicting them
    warm = np.flatnonzero(als.item_seen_)
    pred = Ridge(alpha=1.0).fit(X[warm], als.item_factors_[warm]).predict(X)
    old = user_auc(users, y, (als.user_factors_[users] * pred[items]).sum(1))
    assert old.mean > 0.5 + 6 * se and old.mean > new.mean + 0.08, (old.mean, new.mean, se)
