"""covers.evaluation.metrics: AUCs hand-worked and against scikit-learn, ties counting half, the
user-and-album bootstrap replicates against naive resampling, paired comparisons against scipy."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from conftest import crossed_thumbs, naive_pigeonhole
from covers.evaluation.metrics import percentile_interval, pigeonhole_replicates, recall_at_k, thumbs_auc, user_auc


def test_thumbs_auc_hand_worked():
    # pos scores {0.8, 0.4}, neg {0.5, 0.1}: pairs (0.8>0.5),(0.8>0.1),(0.4<0.5),(0.4>0.1) -> 3/4
    assert thumbs_auc(np.array([1, 1, 0, 0]), np.array([0.8, 0.4, 0.5, 0.1])) == pytest.approx(0.75)


def test_ties_count_half():
    assert thumbs_auc(np.array([1, 0]), np.array([0.3, 0.3])) == pytest.approx(0.5)
    assert thumbs_auc(np.array([1, 0, 1, 0]), np.zeros(4)) == pytest.approx(0.5)
    # pos {1, 0}, neg {0}: one win, one tie -> (1 + 0.5) / 2
    assert thumbs_auc(np.array([1, 1, 0]), np.array([1.0, 0.0, 0.0])) == pytest.approx(0.75)


def test_one_class_is_nan_not_a_number_made_up():
    assert np.isnan(thumbs_auc(np.array([1, 1]), np.array([0.1, 0.2])))


@pytest.mark.parametrize("seed", range(5))
def test_thumbs_auc_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.normal(size=500) + y * 0.5, 1)  # rounding makes ties
    assert thumbs_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_user_auc_matches_per_user_sklearn_and_counts_skips():
    rng = np.random.default_rng(0)
    users = rng.integers(0, 40, 2000)
    y = rng.integers(0, 2, 2000)
    y[users == 3] = 1  # one-class users are skipped and counted
    y[users == 7] = 0
    s = np.round(rng.normal(size=2000) + 0.3 * y, 1)
    res = user_auc(users, y, s)
    expected = []
    for u in np.unique(users):
        m = users == u
        if len(set(y[m])) == 2:
            expected.append(roc_auc_score(y[m], s[m]))
    assert res.n_skipped == 2
    assert len(res.per_user) == len(expected)
    np.testing.assert_allclose(res.per_user, expected, atol=1e-12)
    assert res.mean == pytest.approx(np.mean(expected))
    assert 3 not in res.users and 7 not in res.users


def test_user_auc_hand_worked():
    users = np.array([0, 0, 0, 1, 1])
    y = np.array([1, 0, 0, 1, 0])
    s = np.array([0.9, 0.5, 0.95, 0.1, 0.2])
    res = user_auc(users, y, s)  # user 0: 1 of 2 pairs -> 0.5; user 1: 0 of 1 -> 0.0
    np.testing.assert_allclose(res.per_user, [0.5, 0.0])
    assert res.mean == pytest.approx(0.25)


def test_recall_at_k():
    exact = np.array([[1, 2, 3], [0, 2, 3]])
    approx = np.array([[3, 2, 9], [-1, 0, 5]])
    assert recall_at_k(approx, exact) == pytest.approx((2 / 3 + 1 / 3) / 2)


def test_paired_comparison_matches_scipy_wilcoxon():
    from scipy.stats import wilcoxon

    from covers.evaluation.metrics import UserAUC, paired_user_comparison

    a = UserAUC(0.7, np.array([0.9, 0.7, 0.6, 0.8, 0.75]), np.array([0, 1, 2, 3, 5]), 0)
    b = UserAUC(0.5, np.array([0.5, 0.55, 0.4, 0.6]), np.array([0, 2, 3, 4]), 1)
    c = paired_user_comparison(a, b)
    d = np.array([0.9 - 0.5, 0.6 - 0.55, 0.8 - 0.4])  # users 0, 2, 3 in common
    assert c.n_users == 3
    assert c.diff == pytest.approx(d.mean())
    assert c.p_wilcoxon == pytest.approx(wilcoxon(d).pvalue)


def test_genre_precision_hand_worked():
    from covers.evaluation.metrics import genre_precision_at_k

    nb = np.array([[1, 2], [0, 3], [3, -1], [2, 0]])
    genres = ["a", "a", "b", None]
    # item 0: [a, b] -> 1/2; item 1: [a, None] -> 1/2; item 2: [None] -> 0/1; item 3 unlabelled: skipped
    p, n = genre_precision_at_k(nb, genres, 2)
    assert n == 3 and p == pytest.approx((0.5 + 0.5 + 0.0) / 3)
    multi = [frozenset({"a", "b"}), frozenset({"b"}), frozenset({"c"}), frozenset({"a"})]
    p, n = genre_precision_at_k(nb, multi, 2)  # 0: {b},{c} -> 1/2; 1: {a,b},{a} -> 1/2; 2: {a} -> 0; 3: {c},{a,b} -> 1/2
    assert n == 4 and p == pytest.approx((0.5 + 0.5 + 0.0 + 0.5) / 4)


def test_pigeonhole_bootstrap_matches_a_naive_resampling():
    users, items, y, s = crossed_thumbs()
    reps = pigeonhole_replicates(users, items, y, s, n_boot=200, seed=3)
    vals = naive_pigeonhole(users, items, y, s, 200, 3)
    np.testing.assert_allclose(reps, vals, rtol=0, atol=1e-9)  # replicate by replicate
    lo, hi = percentile_interval(reps)
    assert lo == pytest.approx(np.quantile(vals, 0.025), abs=1e-9)
    assert hi == pytest.approx(np.quantile(vals, 0.975), abs=1e-9)


def test_percentile_interval_ignores_nan_replicates():
    reps = np.r_[np.arange(101.0), np.nan, np.nan]
    assert percentile_interval(reps) == pytest.approx((2.5, 97.5))
    assert percentile_interval(reps, level=0.5) == pytest.approx((25.0, 75.0))
    lo, hi = percentile_interval(np.full(5, np.nan))
    assert np.isnan(lo) and np.isnan(hi)
    assert np.isnan(percentile_interval(np.array([]))[0])
    assert np.isnan(pigeonhole_replicates(np.array([]), np.array([]), np.array([]), np.array([]), 3)).all()
