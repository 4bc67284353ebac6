"""covers.evaluation.intervals: replicates against brute force, the variance parts, Holm, and the
calibration property (interval width = the truth's spread) on crossed worlds where the truth is known."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from conftest import crossed_thumbs
from covers.evaluation.intervals import (ThumbsAUCFrame, UserAUCFrame, Replicates, holm, normal_interval, p_value,
                                         replicates)
from covers.evaluation.metrics import pigeonhole_replicates, thumbs_auc, user_auc


def _draws(n, n_boot, seed, k):
    rng = np.random.default_rng([seed, k])
    return [np.bincount(rng.integers(0, n, n), minlength=n).astype(float) for _ in range(n_boot)]


def _brute_user_auc(users, y, s, w_thumb, w_user_of):
    """Weighted mean of per-user weighted AUCs by an explicit loop over users and pairs."""
    per, wts = [], []
    for u in np.unique(users):
        m = users == u
        w, yy, ss = w_thumb[m], y[m].astype(bool), s[m]
        tp, tn = w[yy].sum(), w[~yy].sum()
        if tp == 0 or tn == 0 or w_user_of[u] == 0:
            continue
        cmp = (ss[yy][:, None] > ss[~yy][None, :]) + 0.5 * (ss[yy][:, None] == ss[~yy][None, :])
        per.append((w[yy][:, None] * w[~yy][None, :] * cmp).sum() / (tp * tn))
        wts.append(w_user_of[u])
    return np.average(per, weights=wts)


def test_user_auc_replicates_match_a_brute_force_loop_in_every_scheme():
    users, items, y, s = crossed_thumbs(seed=2, n=300)
    r = replicates(UserAUCFrame, users, items, y, s, n_boot=15, seed=5)
    uu, ii = np.unique(users), np.unique(items)
    ones_u = dict.fromkeys(uu, 1.0)
    for b, wu in enumerate(_draws(uu.size, 15, 5, 0)):
        assert r.users[b] == pytest.approx(_brute_user_auc(users, y, s, np.ones(y.size), dict(zip(uu, wu))), abs=1e-12)
    for b, wi in enumerate(_draws(ii.size, 15, 5, 1)):
        w = wi[np.searchsorted(ii, items)]
        assert r.albums[b] == pytest.approx(_brute_user_auc(users, y, s, w, ones_u), abs=1e-12)
    for b, wt in enumerate(_draws(y.size, 15, 5, 2)):
        assert r.thumbs[b] == pytest.approx(_brute_user_auc(users, y, s, wt, ones_u), abs=1e-12)


def test_thumbs_auc_replicates_match_scikit_learn_with_weights():
    users, items, y, s = crossed_thumbs(seed=3, n=400)
    r = replicates(ThumbsAUCFrame, users, items, y, s, n_boot=10, seed=1)
    uu, ii = np.unique(users), np.unique(items)
    for b, wu in enumerate(_draws(uu.size, 10, 1, 0)):
        w = wu[np.searchsorted(uu, users)]
        assert r.users[b] == pytest.approx(roc_auc_score(y, s, sample_weight=w), abs=1e-12)
    for b, wi in enumerate(_draws(ii.size, 10, 1, 1)):
        assert r.albums[b] == pytest.approx(roc_auc_score(y, s, sample_weight=wi[np.searchsorted(ii, items)]), abs=1e-12)
    for b, wt in enumerate(_draws(y.size, 10, 1, 2)):
        assert r.thumbs[b] == pytest.approx(roc_auc_score(y, s, sample_weight=wt), abs=1e-12)
    # all weights 1: the plain statistic
    assert ThumbsAUCFrame(users, items, y.astype(bool), s.astype(float)).weighted(np.ones(y.size), np.ones(uu.size)) \
        == pytest.approx(thumbs_auc(y, s))
    assert UserAUCFrame(users, items, y.astype(bool), s.astype(float)).weighted(np.ones(y.size), np.ones(uu.size)) \
        == pytest.approx(user_auc(users, y, s).mean)


def test_variance_parts_count_the_cell_noise_once():
    rng = np.random.default_rng(0)
    noise, user_part, album_part = rng.normal(0, 1, 5000), rng.normal(0, 2, 5000), rng.normal(0, 3, 5000)
    r = Replicates(users=user_part + noise, albums=album_part + noise[::-1], thumbs=noise)
    p = r.parts()
    assert p["thumbs"] == pytest.approx(1.0, rel=0.06)
    assert p["users"] == pytest.approx(4.0, rel=0.1) and p["albums"] == pytest.approx(9.0, rel=0.1)
    assert r.sd() == pytest.approx(np.sqrt(14.0), rel=0.05)
    # a part whose one-way variance is below the noise's is clipped at 0, never negative
    small = Replicates(users=0.5 * noise, albums=noise, thumbs=noise)
    assert small.parts()["users"] == 0.0 and small.sd() == pytest.approx(np.std(noise, ddof=1))


def test_normal_interval_p_value_and_holm_by_hand():
    lo, hi = normal_interval(0.6, 0.05)
    assert (lo, hi) == pytest.approx((0.6 - 1.959964 * 0.05, 0.6 + 1.959964 * 0.05), abs=1e-6)
    assert p_value(1.959964, 1.0) == pytest.approx(0.05, abs=1e-6) and p_value(0.0, 0.0) == 1.0
    assert np.isnan(normal_interval(float("nan"), 0.1)[0]) and np.isnan(p_value(0.1, float("nan")))
    # Holm: sorted 0.01, 0.02, 0.04 -> 3 x 0.01, max(0.03, 2 x 0.02), max(0.04, 1 x 0.04); NaN stays out
    adj = holm({"a": 0.04, "b": 0.01, "c": 0.02, "d": float("nan")})
    assert adj["b"] == pytest.approx(0.03) and adj["c"] == pytest.approx(0.04) and adj["a"] == pytest.approx(0.04)
    assert np.isnan(adj["d"]) and holm({"x": 0.7, "y": 0.6})["x"] == 1.0


def _crossed_world(seed: int, n_users=250, n_items=900, per_user=12):
    """A sparse crossed design like a run's test thumbs: each user thumbs ``per_user`` random albums;
    albums have a quality that drives both the thumb and (noisily) the score, users a generosity."""
    rng = np.random.default_rng(seed)
    quality, generosity = rng.normal(0, 1, n_items), rng.normal(0, 1, n_users)
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.choice(n_items, per_user, replace=False) for _ in range(n_users)])
    p = 1 / (1 + np.exp(-(generosity[users] + 1.2 * quality[items])))
    y = (rng.random(users.size) < p).astype(int)
    scores = 0.6 * quality[items] + rng.normal(0, 1, users.size)
    return users, items, y, scores


@pytest.mark.slow
def test_calibrated_width_matches_the_spread_over_worlds_where_pigeonhole_is_too_wide():
    est, sd, sd_pig = [], [], []
    for w in range(60):
        users, items, y, s = _crossed_world(100 + w)
        est.append(user_auc(users, y, s).mean)
        sd.append(replicates(UserAUCFrame, users, items, y, s, 150, w).sd())
        sd_pig.append(np.nanstd(pigeonhole_replicates(users, items, y, s, 150, w), ddof=1))
    truth = np.std(est, ddof=1)
    # 60 worlds estimate the truth's sd to about +-9 %: the calibrated width sits within that band,
    # the pigeonhole bootstrap (cell noise counted twice) well above it
    assert 0.85 < np.mean(sd) / truth < 1.2
    assert np.mean(sd_pig) / truth > 1.25
    lo, hi = np.array(est) - 1.96 * np.array(sd), np.array(est) + 1.96 * np.array(sd)
    assert 0.88 <= np.mean((lo <= np.mean(est)) & (np.mean(est) <= hi)) <= 1.0
