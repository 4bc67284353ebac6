"""covers.scorers.cf: item-kNN CF's neighbour table (a hand-worked case, a brute-force cross-check
with ties, independence from the block size: the sparse block product must not change what it
picks), and the factor models (seeded, thread-count independent, blind to unthumbed items)."""
import numpy as np
import pandas as pd
import pytest

from covers.scorers.base import Context
from covers.scorers.cf import ItemKNNCF


def fit(rows, n_users, n_items, **kw) -> ItemKNNCF:
    t = pd.DataFrame(rows, columns=["user", "item", "thumb"])
    return ItemKNNCF(**kw).fit(t, Context(n_users, n_items, None))


def table(m: ItemKNNCF):
    return m.knn_.nb_ids_, m.knn_.nb_sims_


def test_hand_worked_neighbours():
    # items a b c d = 0 1 2 3; signed columns a=(1,1,0) b=(1,-1,0) c=(0,1,1) d=(0,0,1)
    rows = [(0, 0, 1), (0, 1, 1), (1, 0, 1), (1, 1, 0), (1, 2, 1), (2, 2, 1), (2, 3, 1)]
    ids, sims = table(fit(rows, 3, 4, k=2))
    # cos(a,c)=1/2, cos(c,d)=1/sqrt2, cos(a,b)=0 and cos(b,c)=-1/2 are not neighbours
    assert ids.tolist() == [[2, -1], [-1, -1], [3, 0], [2, -1]]
    np.testing.assert_allclose(sims, [[0.5, 0], [0, 0], [2 ** -0.5, 0.5], [2 ** -0.5, 0]], rtol=1e-12)


@pytest.mark.parametrize("block", [1, 7, 2048])
def test_matches_brute_force_with_ties_and_any_block(block):
    rng = np.random.default_rng(5)
    n_users, n_items, k = 40, 60, 5
    rows = {(int(u), int(i)): int(rng.random() < 0.6) for u, i in zip(rng.integers(0, n_users, 600),
                                                                       rng.integers(0, n_items, 600))}
    ids, sims = table(fit([(u, i, y) for (u, i), y in rows.items()], n_users, n_items, k=k, block=block))
    R = np.zeros((n_users, n_items))
    for (u, i), y in rows.items():
        R[u, i] = 1.0 if y else -1.0
    Rn = R / np.maximum(np.linalg.norm(R, axis=0), 1e-12)
    S = Rn.T @ Rn
    n_tied = 0
    for i in range(n_items):
        cand = [j for j in range(n_items) if j != i and S[i, j] > 1e-12]
        # by similarity (rounded: the sparse and dense products differ in the last bits), then id
        best = sorted(cand, key=lambda j: (-round(S[i, j], 9), j))[:k]
        assert ids[i, :len(best)].tolist() == best and (ids[i, len(best):] == -1).all(), i
        np.testing.assert_allclose(sims[i, :len(best)], S[i, best], rtol=1e-9)
        n_tied += len(cand) > k and round(S[i, best[-1]], 9) in {round(S[i, j], 9) for j in cand if j not in best}
    assert n_tied > 5  # the case this guards: ties at the k-th place, broken by id


def test_scales_with_co_thumbs_not_items():
    """A million items, few of them thumbed: the dense blocks this replaced needed 16 GB each."""
    rng = np.random.default_rng(0)
    n_items, n = 1_000_000, 20_000
    rows = np.c_[rng.integers(0, 2000, n), rng.integers(0, n_items, n) // 100 * 100, rng.integers(0, 2, n)]
    ids, sims = table(fit(rows.tolist(), 2000, n_items, k=10))
    assert ids.shape == (n_items, 10) and (ids[1::100] == -1).all()  # untouched items have no neighbours
    assert (ids[::100, 0] >= 0).mean() > 0.5 and (sims[ids >= 0] > 0).all()


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
