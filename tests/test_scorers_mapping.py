"""covers.scorers.mapping: ContentToCF maps cover features to a CF model's item factors, so it
scores items nobody thumbed; the configured CF model is copied, never fitted in place."""
import numpy as np
import pandas as pd
import pytest

from covers.scorers.base import Context
from covers.scorers.cf import ALSScorer
from covers.scorers.mapping import ContentToCF


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
    np.testing.assert_allclose(m.item_factors_, m.ridge_.predict(X))  # every item, thumbed or not
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
    with pytest.raises(ValueError, match="at least 2 items with train thumbs, got 1"):
        ContentToCF(cf=ALSScorer(factors=2, iterations=1, n_jobs=1)).fit(t.iloc[:1], ctx)
