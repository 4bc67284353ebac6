import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from covers.evaluation.metrics import recall_at_k, thumbs_auc, user_auc


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


def test_thumbs_auc_bootstrap_over_users_and_albums_matches_naive_resampling():
    """Crossed design: a thumb appears once per (draw of its user) x (draw of its album)."""
    from covers.evaluation.metrics import thumbs_auc_bootstrap

    rng = np.random.default_rng(0)
    users, items, y = rng.integers(0, 20, 300), rng.integers(0, 25, 300), rng.integers(0, 2, 300)
    s = np.round(rng.normal(size=300) + 0.4 * y, 1)
    lo, hi = thumbs_auc_bootstrap(users, items, y, s, n_boot=200, seed=4)
    r = np.random.default_rng(4)
    uu, ii = np.unique(users), np.unique(items)
    vals = []
    for _ in range(200):
        cu = np.bincount(r.integers(0, uu.size, uu.size), minlength=uu.size)[np.searchsorted(uu, users)]
        ci = np.bincount(r.integers(0, ii.size, ii.size), minlength=ii.size)[np.searchsorted(ii, items)]
        idx = np.repeat(np.arange(y.size), cu * ci)  # every thumb, as many times as it was drawn
        vals.append(roc_auc_score(y[idx], s[idx]))
    assert lo == pytest.approx(np.quantile(vals, 0.025), abs=1e-9)
    assert hi == pytest.approx(np.quantile(vals, 0.975), abs=1e-9)


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


def naive_pigeonhole(users, items, y, s, n_boot, seed):
    """Replicates of the mean per-user AUC, users and items resampled, by brute force over pairs."""
    r = np.random.default_rng(seed)
    uu, ii = np.unique(users), np.unique(items)
    vals = []
    for _ in range(n_boot):
        wu = np.bincount(r.integers(0, uu.size, uu.size), minlength=uu.size)
        wi = np.bincount(r.integers(0, ii.size, ii.size), minlength=ii.size)
        per, wts = [], []
        for k, u in enumerate(uu):
            m = users == u
            w = wi[np.searchsorted(ii, items[m])].astype(float)
            yp, sp = y[m].astype(bool), s[m]
            tp, tn = w[yp].sum(), w[~yp].sum()
            if tp == 0 or tn == 0 or wu[k] == 0:
                continue
            cmp = (sp[yp][:, None] > sp[~yp][None, :]) + 0.5 * (sp[yp][:, None] == sp[~yp][None, :])
            per.append((w[yp][:, None] * w[~yp][None, :] * cmp).sum() / (tp * tn))
            wts.append(wu[k])
        vals.append(np.average(per, weights=wts))
    return np.array(vals)


def crossed_thumbs(seed=0, n=500):
    rng = np.random.default_rng(seed)
    users, items, y = rng.integers(0, 25, n), rng.integers(0, 40, n), rng.integers(0, 2, n)
    return users, items, y, np.round(rng.normal(size=n) + 0.5 * y, 1)


def test_pigeonhole_bootstrap_matches_a_naive_resampling():
    from covers.evaluation.metrics import user_auc_pigeonhole

    users, items, y, s = crossed_thumbs()
    lo, hi = user_auc_pigeonhole(users, items, y, s, n_boot=200, seed=3)
    vals = naive_pigeonhole(users, items, y, s, 200, 3)
    assert lo == pytest.approx(np.quantile(vals, 0.025), abs=1e-9)
    assert hi == pytest.approx(np.quantile(vals, 0.975), abs=1e-9)


def test_paired_difference_interval_resamples_users_and_albums_together():
    """The method-minus-baseline interval: both methods on the same replicates, differenced."""
    import pandas as pd

    from covers.evaluation import summarise

    users, items, y, s = crossed_thumbs()
    other = np.round(np.random.default_rng(9).normal(size=y.size) + 0.2 * y, 1)
    frame = pd.DataFrame({"user": users, "item": items, "thumb": y, "score_method": s, "covered_method": True,
                          "score_other": other, "covered_other": True})
    metrics, table = summarise(frame, n_boot=200, seed=3)
    d = naive_pigeonhole(users, items, y, s, 200, 3) - naive_pigeonhole(users, items, y, other, 200, 3)
    assert metrics["diff_user_auc_lo_other"] == pytest.approx(np.quantile(d, 0.025), abs=1e-9)
    assert metrics["diff_user_auc_hi_other"] == pytest.approx(np.quantile(d, 0.975), abs=1e-9)
    assert table.loc["other", "diff_lo"] == metrics["diff_user_auc_lo_other"]
    # the point estimate is still the mean per-user difference
    assert metrics["diff_user_auc_other"] == pytest.approx(metrics["user_auc"] - metrics["user_auc_other"])


