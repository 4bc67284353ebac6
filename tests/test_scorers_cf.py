"""covers.scorers.cf: item-kNN CF (Sarwar et al. 2001: the user's own rated items vote, by cosine
of the train columns, ups-only or signed) hand-worked, against a brute-force numpy loop with ties at the k-th
place for any pair chunk, and at a million items; the factor models: ALS seeded and independent of
the thread count, Cornac's BPR equal to its own formula and to Cornac's ``score``, seeded, and
learning popularity where implicit's BPR (popularity-drawn negatives) cannot; every factor
model blind to unthumbed items."""
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from covers.evaluation.metrics import user_auc
from covers.scorers.base import Context
from covers.scorers.cf import ColumnCosinePairs, ItemKNNCF


def thumbs(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user", "item", "thumb"])


def test_item_knn_cf_hand_worked():
    # items a b c d e = 0..4, thumbed by users 0..3; the columns of the two train matrices:
    #   signed: a=(1,1,0,0) b=(1,-1,0,-1) c=(0,1,1,0) d=(0,0,1,0) e=(0,0,0,-1)
    #   ups:    a=(1,1,0,0) b=(1,0,0,0)   c=(0,1,1,0) d=(0,0,1,0) e=0
    # signed cosines: a.c = 1/2, b.c = -1/sqrt6, b.e = 1/sqrt3, c.d = 1/sqrt2, the others 0
    # ups cosines:    a.b = 1/sqrt2, a.c = 1/2, c.d = 1/sqrt2, the others 0 (e has no up)
    train = thumbs([(0, 0, 1), (0, 1, 1), (1, 0, 1), (1, 1, 0), (1, 2, 1), (2, 2, 1), (2, 3, 1),
                    (3, 1, 0), (3, 4, 0)])
    test = thumbs([(2, 0, 1), (0, 2, 1), (0, 3, 0), (1, 4, 0), (1, 3, 1), (3, 0, 1), (5, 0, 1)])
    r3, r2 = 3 ** -0.5, 2 ** -0.5
    signed = ItemKNNCF(k=2, shrinkage=1.0, similarity="signed").fit(train, Context(6, 5)).score(test)
    np.testing.assert_allclose(signed.scores, [
        0.5 / 1.5,  # user 2's c (+, 1/2) and d (+, 0) vote for a
        0.5 / 1.5,  # user 0's a (+, 1/2) and b (+, -1/sqrt6 clipped to 0) vote for c
        0.0,  # user 0's a and b are both orthogonal to d: no evidence
        -r3 / (r3 + 1),  # user 1's down on b (1/sqrt3) votes against e
        r2 / (r2 + 1),  # user 1's up on c (1/sqrt2) votes for d; a and b tie at 0 for the 2nd place
        0.0,  # user 3's b and e are orthogonal to a
        0.0], rtol=1e-12, atol=1e-15)  # user 5 has no train thumbs
    assert signed.covered.tolist() == [True, True, False, True, True, False, False]
    ups = ItemKNNCF(k=2, shrinkage=1.0, similarity="ups").fit(train, Context(6, 5)).score(test)
    np.testing.assert_allclose(ups.scores, [
        0.5 / 1.5, 0.5 / 1.5, 0.0,
        0.0,  # e has no up: similar to nothing
        r2 / (r2 + 1),
        -r2 / (r2 + 1),  # user 3's *down* on b still votes (against a), by the ups cosine a.b
        0.0], rtol=1e-12, atol=1e-15)
    assert ups.covered.tolist() == [True, True, False, False, True, True, False]
    # k=1 keeps only the most similar rated item; without shrinkage the vote is its sign
    one = ItemKNNCF(k=1, shrinkage=0.0, similarity="signed").fit(train, Context(6, 5)).score(test)
    np.testing.assert_allclose(one.scores, [1, 1, 0, -1, 1, 0, 0], atol=1e-12)


def signed_matrix(rows: pd.DataFrame, n_users: int, n_items: int) -> np.ndarray:
    R = np.zeros((n_users, n_items))
    R[rows["user"], rows["item"]] = np.where(rows["thumb"] > 0, 1.0, -1.0)
    return R


def brute_force_cf(train, test, n_users, n_items, k, shrinkage, similarity):
    """Sarwar's item-kNN by the book: dense cosine of the columns (signed, or ups only), then per
    test thumb the user's rated items sorted by (similarity desc, item id), the top k voting."""
    R = signed_matrix(train, n_users, n_items)
    C = R if similarity == "signed" else (R > 0).astype(float)
    Rn = C / np.maximum(np.linalg.norm(C, axis=0), 1e-12)
    S = Rn.T @ Rn
    scores, covered, decisive = [], [], 0
    for u, i in zip(test["user"], test["item"]):
        rated = np.flatnonzero(R[u])
        # rounded for the order: the sparse and dense products may differ in the last bit
        order = sorted(rated, key=lambda j: (-round(S[i, j], 9), j))
        top = order[:k]
        w = np.clip(S[i, top], 0, None)
        num, den = float((w * R[u, top]).sum()), float(w.sum())
        scores.append(num / (den + shrinkage) if shrinkage > 0 else (num / den if den > 0 else 0.0))
        covered.append(den > 0)
        if len(order) > k and round(S[i, order[k - 1]], 9) == round(S[i, order[k]], 9) > 0:
            decisive += R[u, order[k - 1]] != R[u, order[k]]
    return np.array(scores), np.array(covered), decisive


def tied_world(similarity, seed=5, n_users=15, n_items=60, n_test=300):
    """Every item's train column has exactly 4 non-zeros (signed: 4 users, either thumb; ups: 4
    ups, plus 0-2 downs that the ups matrix ignores): all column norms are 2, every cosine a
    multiple of 1/4 computed exactly in floating point, so ties at the k-th place are exact ties.
    Test thumbs: other (user, item) pairs."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_items):
        if similarity == "signed":
            rows += [(int(u), i, int(rng.random() < 0.6)) for u in rng.choice(n_users, 4, replace=False)]
        else:
            users = rng.choice(n_users, 4 + int(rng.integers(0, 3)), replace=False)
            rows += [(int(u), i, int(r < 4)) for r, u in enumerate(users)]
    train = thumbs(rows)
    seen = set(zip(train["user"], train["item"]))
    pairs = {(int(u), int(i)) for u, i in zip(rng.integers(0, n_users, 2 * n_test), rng.integers(0, n_items, 2 * n_test))}
    test = thumbs([(u, i, int(rng.random() < 0.5)) for u, i in sorted(pairs - seen)][:n_test])
    return train, test.sample(frac=1.0, random_state=0).reset_index(drop=True)  # chunks cut through users


@pytest.mark.parametrize("similarity", ["ups", "signed"])
@pytest.mark.parametrize("pair_chunk", [1, 7, 10 ** 7])
def test_item_knn_cf_matches_brute_force_with_ties_for_any_chunk(pair_chunk, similarity):
    n_users, n_items, k = 15, 60, 3
    train, test = tied_world(similarity, n_users=n_users, n_items=n_items)
    for shrinkage in (0.0, 1.0):
        got = ItemKNNCF(k=k, shrinkage=shrinkage, similarity=similarity, pair_chunk=pair_chunk).fit(
            train, Context(n_users, n_items)).score(test)
        want, want_cov, decisive = brute_force_cf(train, test, n_users, n_items, k, shrinkage, similarity)
        np.testing.assert_allclose(got.scores, want, rtol=1e-12, atol=1e-12)
        assert got.covered.tolist() == want_cov.tolist()
        assert decisive >= 30  # ties at the k-th place between an up and a down: the id decides


@pytest.mark.parametrize("ups_only", [True, False])
def test_column_cosine_pairs_equals_dense_cosine(ups_only):
    rng = np.random.default_rng(1)
    t = thumbs(np.c_[rng.integers(0, 25, 400), rng.integers(0, 35, 400), rng.integers(0, 2, 400)]).drop_duplicates(
        ["user", "item"])
    R = signed_matrix(t, 25, 35)
    C = (R > 0).astype(float) if ups_only else R
    Cn = C / np.maximum(np.linalg.norm(C, axis=0), 1e-12)
    i, j = rng.integers(0, 35, 300), rng.integers(0, 35, 300)
    np.testing.assert_allclose(ColumnCosinePairs(t, 25, 35, ups_only=ups_only)(i, j), (Cn.T @ Cn)[i, j],
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("similarity", ["ups", "signed"])
def test_item_knn_cf_at_a_million_items_follows_the_thumbs(similarity):
    """A million items, a few thousand of them thumbed: the memory follows the thumbs (a dense
    item-item table would be 8 TB), and the scores are those of the same thumbs on a catalogue
    of only the thumbed items (relabelled in order, so ties break the same way)."""
    rng = np.random.default_rng(0)
    n_users, n_items, n = 500, 1_000_000, 30_000
    # 3000 thumbed items spread over the catalogue, so columns share users and similarities exist
    hot = np.sort(rng.choice(n_items, 3000, replace=False))
    t = thumbs(np.c_[rng.integers(0, n_users, n), hot[rng.integers(0, hot.size, n)] , rng.integers(0, 2, n)])
    t = t.drop_duplicates(["user", "item"]).reset_index(drop=True)
    held = rng.random(len(t)) < 0.2
    train, test = t[~held], t[held]
    tracemalloc.start()
    try:
        got = ItemKNNCF(k=10, shrinkage=1.0, similarity=similarity, pair_chunk=50_000).fit(
            train, Context(n_users, n_items)).score(test)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 300e6, peak  # a few per-item arrays of 8 MB, plus the pairs; never n_items^2
    assert got.covered.mean() > 0.5
    code = np.searchsorted(hot, t["item"].to_numpy())
    small = ItemKNNCF(k=10, shrinkage=1.0, similarity=similarity).fit(train.assign(item=code[~held]), Context(n_users, hot.size)).score(
        test.assign(item=code[held]))
    np.testing.assert_allclose(got.scores, small.scores, rtol=1e-12, atol=1e-12)
    assert np.array_equal(got.covered, small.covered)


def test_item_knn_cf_refuses_bad_parameters():
    t = thumbs([(0, 0, 1)])
    for kw, match in ((dict(k=0), "ItemKNNCF: k"), (dict(shrinkage=-0.5), "ItemKNNCF: shrinkage"),
                      (dict(pair_chunk=0), "ItemKNNCF: pair_chunk"), (dict(similarity="jaccard"), "ItemKNNCF: similarity")):
        with pytest.raises(ValueError, match=match):
            ItemKNNCF(**kw).fit(t, Context(1, 1))
    assert "pair_chunk" not in ItemKNNCF(pair_chunk=5).result_params()


def random_thumbs(seed=0, n_users=60, n_items=80, n=1500):
    rng = np.random.default_rng(seed)
    t = pd.DataFrame({"user": rng.integers(0, n_users, n), "item": rng.integers(0, n_items, n),
                      "thumb": rng.integers(0, 2, n)})
    return t.drop_duplicates(["user", "item"]).reset_index(drop=True)


def test_als_factors_do_not_depend_on_the_thread_count():
    from covers.scorers.cf import ALSScorer

    t = random_thumbs()
    ctx = Context(60, 80)
    one = ALSScorer(factors=8, iterations=5, n_jobs=1).fit(t, ctx)
    two = ALSScorer(factors=8, iterations=5, n_jobs=2).fit(t, ctx)
    assert np.array_equal(one.user_factors_, two.user_factors_) and np.array_equal(one.item_factors_, two.item_factors_)
    assert "n_jobs" not in ALSScorer(n_jobs=2).result_params()  # a speed parameter: not in the result
    test = pd.DataFrame({"user": [0, 1, 59], "item": [3, 79, 5]})
    np.testing.assert_array_equal(one.score(test).scores, two.score(test).scores)


def test_factor_models_are_seeded_and_blind_to_unthumbed_items():
    from covers.scorers.cf import ALSScorer, BPRScorer

    t = random_thumbs(1)
    t = t[t["item"] != 7]  # nobody thumbed item 7 in train
    ctx = Context(60, 80)
    test = pd.DataFrame({"user": [0, 0, 1], "item": [7, 3, 7]})
    for make in (lambda: ALSScorer(factors=8, iterations=3, n_jobs=1), lambda: BPRScorer(factors=8, iterations=20)):
        a, b = make().fit(t, ctx), make().fit(t, ctx)
        assert np.array_equal(a.item_factors_, b.item_factors_)  # same seed, same factors
        sc = a.score(test)
        assert sc.covered.tolist() == [False, bool(a.user_seen_[0] and a.item_seen_[3]), False]
        assert sc.scores[0] == sc.scores[2] == 0.0  # cold: no evidence, a neutral score
    with pytest.raises(ValueError, match="ALSScorer: factors"):
        ALSScorer(factors=0).fit(t, ctx)
    with pytest.raises(ValueError, match="BPRScorer: iterations"):
        BPRScorer(iterations=0).fit(t, ctx)


def popularity_world(seed: int, n_users=500, n_items=150, per_user=40):
    """Thumbs that depend on the item only: each item has its own up-rate, users are interchangeable."""
    from covers.split import UserHoldout

    rng = np.random.default_rng(seed)
    rate = rng.beta(1.0, 1.5, n_items)
    rows = [(u, int(i), int(rng.random() < rate[i])) for u in range(n_users)
            for i in rng.choice(n_items, per_user, replace=False)]
    t = thumbs(rows)
    t = t.assign(user_id="u" + t["user"].astype(str), item_id="i" + t["item"].astype(str))
    return UserHoldout(test_frac=0.25, seed=seed).split(t), Context(n_users, n_items)


def test_bpr_scores_are_cornacs_own():
    from cornac.models import BPR

    from covers.scorers.cf import BPRScorer, cornac_dataset, ups_matrix

    t = random_thumbs(2)
    ctx = Context(60, 80)
    kw = dict(factors=6, learning_rate=0.05, regularization=0.01, iterations=30, seed=3)
    m = BPRScorer(**kw).fit(t, ctx)
    test = pd.DataFrame({"user": np.repeat(np.arange(60), 4), "item": np.tile([0, 17, 42, 79], 60)})
    sc = m.score(test)
    u, i = test["user"].to_numpy(), test["item"].to_numpy()
    assert sc.covered.all()  # every user and item of this frame has train thumbs
    # score = b_i + p_u . q_i from the fitted arrays
    np.testing.assert_allclose(sc.scores, m.item_bias_[i] + (m.user_factors_[u] * m.item_factors_[i]).sum(1),
                               rtol=1e-12)
    # ... and Cornac's own score of a model fitted with the same arguments on the same data
    ref = BPR(k=6, max_iter=30, learning_rate=0.05, lambda_reg=0.01, use_bias=True, num_threads=1, seed=3,
              verbose=False).fit(cornac_dataset(ups_matrix(t, 60, 80)))
    np.testing.assert_allclose(sc.scores, [ref.score(a, b) for a, b in zip(u, i)], rtol=1e-6, atol=1e-6)
    # seeded: a second fit gives the same scores, another seed others
    assert np.array_equal(BPRScorer(**kw).fit(t, ctx).score(test).scores, sc.scores)
    assert not np.allclose(BPRScorer(**{**kw, "seed": 4}).fit(t, ctx).score(test).scores, sc.scores)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bpr_learns_popularity_where_implicits_bpr_cannot(seed):
    """Cornac's BPR draws negatives uniformly, so its item bias learns the up-rate: on thumbs that
    depend only on the item it is close to the popularity baseline. implicit's BPR draws negatives
    in proportion to popularity and stays at chance (measured: ~0.51 vs ~0.80 on these worlds)."""
    from implicit.cpu.bpr import BayesianPersonalizedRanking
    from threadpoolctl import threadpool_limits

    from covers.scorers.baselines import PopularityScorer
    from covers.scorers.cf import BPRScorer, ups_matrix

    split, ctx = popularity_world(seed)
    te = split.test
    users, y = te["user"].to_numpy(), te["thumb"].to_numpy()
    bpr = user_auc(users, y, BPRScorer(factors=10, iterations=100, seed=seed).fit(split.train, ctx).score(te).scores)
    pop = user_auc(users, y, PopularityScorer(smoothing=5.0).fit(split.train, ctx).score(te).scores)
    with threadpool_limits(1, "blas"):
        other = BayesianPersonalizedRanking(factors=10, learning_rate=0.05, regularization=0.01, iterations=100,
                                            random_state=seed, num_threads=1)
        other.fit(ups_matrix(split.train, ctx.n_users, ctx.n_items), show_progress=False)
    # implicit folds its item bias into the factors (a constant 1 user column): the dot is the score
    s_other = (np.asarray(other.user_factors)[users] * np.asarray(other.item_factors)[te["item"]]).sum(1)
    imp = user_auc(users, y, s_other)
    assert pop.mean > 0.75  # the world has the signal
    assert bpr.mean > 0.7 and abs(bpr.mean - pop.mean) < 0.03, (bpr.mean, pop.mean)
    assert imp.mean < 0.56 and imp.mean < bpr.mean - 0.15, (imp.mean, bpr.mean)
