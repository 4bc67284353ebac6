"""covers.scorers.baselines: random, popularity, user mean and the oracle, hand-worked."""
import numpy as np
import pandas as pd
import pytest

from covers.scorers.base import Context, NotApplicable
from covers.scorers.baselines import OracleScorer, PopularityScorer, RandomScorer, UserMeanScorer


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


def test_oracle_is_not_applicable_without_true_scores():
    train = pd.DataFrame({"user": [0], "item": [0], "thumb": [1]})
    oracle = OracleScorer().fit(train, Context(1, 2))
    with pytest.raises(NotApplicable, match="true_score"):
        oracle.score(pd.DataFrame({"user": [0], "item": [1]}))
    got = oracle.score(pd.DataFrame({"user": [0, 0], "item": [1, 0], "true_score": [0.3, -2.0]}))
    assert got.scores.tolist() == [0.3, -2.0] and got.covered.all()
    assert issubclass(NotApplicable, ValueError) and OracleScorer().neighbours_needed() == 0


def test_smoothing_must_not_be_negative():
    train = pd.DataFrame({"user": [0], "item": [0], "thumb": [1]})
    for cls in (PopularityScorer, UserMeanScorer):
        with pytest.raises(ValueError, match=f"{cls.__name__}: smoothing"):
            cls(smoothing=-0.5).fit(train, Context(1, 1))
