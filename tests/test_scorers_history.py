"""covers.scorers.history: the vote over the user's own train items (Sarwar et al. 2001) —
hand-worked, against a brute-force loop with ties at the k-th place for several pair chunks (the
chunking must not change a score), exact cosine of row pairs against scikit-learn, and the
HistoryKNN scorer on top of them (what it needs, what it refuses, users without history)."""
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics.pairwise import cosine_similarity

from conftest import thumbs_frame
from covers.scorers.base import Context
from covers.scorers.history import CosinePairs, HistoryKNN, history_vote


def frame(rows, cols=("user", "item", "thumb")) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(cols))


class Table:
    """sim(i, j) looked up in a dense matrix: exact values, so ties are real ties."""

    def __init__(self, S):
        self.S = S

    def __call__(self, i, j):
        return self.S[i, j]


def brute_force(train, test, S, k, shrinkage):
    """The definition, one test thumb at a time."""
    hist: dict[int, list[tuple[int, int]]] = {}
    for u, j, t in zip(train["user"], train["item"], train["thumb"]):
        hist.setdefault(int(u), []).append((int(j), 1 if t > 0 else -1))
    scores, covered = [], []
    for u, i in zip(test["user"], test["item"]):
        top = sorted(hist.get(int(u), []), key=lambda jt: (-S[i, jt[0]], jt[0]))[:k]
        w = [max(S[i, j], 0.0) for j, _ in top]
        num = sum(wj * t for wj, (_, t) in zip(w, top))
        den = sum(w)
        scores.append(num / (den + shrinkage) if shrinkage > 0 else (num / den if den > 0 else 0.0))
        covered.append(den > 0)
    return np.array(scores), np.array(covered)


def test_hand_worked_vote():
    # user 0 thumbed items 1 (up), 2 (down), 3 (up), 4 (up); similarities to item 0:
    # 0.9, 0.6, 0.6 (a tie with item 2: the smaller id 2 wins the last of k=2 places), -0.3
    S = np.zeros((5, 5))
    S[0, 1:] = [0.9, 0.6, 0.6, -0.3]
    train = frame([(0, 1, 1), (0, 2, 0), (0, 3, 1), (0, 4, 1)])
    test = frame([(0, 0, 1), (1, 0, 1)])
    sc = history_vote(train, test, Table(S), k=2, shrinkage=1.0, pair_chunk=100)
    # top 2 = items 1 and 2: (0.9 * 1 + 0.6 * -1) / (0.9 + 0.6 + 1)
    assert sc.scores[0] == pytest.approx(0.3 / 2.5)
    assert sc.covered.tolist() == [True, False]  # user 1 has no train thumbs: no evidence, score 0
    assert sc.scores[1] == 0.0
    # k=3 takes item 3 too; k=4 adds item 4, whose negative similarity is clipped to a zero weight
    three = history_vote(train, test, Table(S), k=3, shrinkage=0.0, pair_chunk=100).scores[0]
    assert three == pytest.approx((0.9 - 0.6 + 0.6) / (0.9 + 0.6 + 0.6))
    assert history_vote(train, test, Table(S), k=4, shrinkage=0.0, pair_chunk=100).scores[0] == pytest.approx(three)
    # only non-positive similarities: nothing votes, not covered (shrinkage 0 must not divide by 0)
    S2 = np.zeros((5, 5))
    S2[0, 1:] = [0.0, -0.5, 0.0, -0.1]
    sc2 = history_vote(train, test[:1], Table(S2), k=4, shrinkage=0.0, pair_chunk=100)
    assert sc2.scores.tolist() == [0.0] and sc2.covered.tolist() == [False]


@pytest.mark.parametrize("pair_chunk", [1, 7, 10 ** 7])
def test_matches_brute_force_with_ties_at_the_kth_place(pair_chunk):
    rng = np.random.default_rng(3)
    n_items, k = 60, 4
    t = thumbs_frame(rng, 40, n_items, 15)
    is_test = np.arange(len(t)) % 15 < 3  # 3 of each user's 15 thumbs; users 35..39 test-only
    is_test |= (t["user"] >= 35).to_numpy()
    train, test = t[~is_test], t[is_test]
    # similarities on a coarse grid (many exact ties), some negative; the order of the test
    # thumbs is shuffled so chunks cut through users
    S = np.round(rng.uniform(-0.3, 1.0, (n_items, n_items)), 1)
    test = test.sample(frac=1.0, random_state=1)
    for shrinkage in (0.0, 2.0):
        got = history_vote(train, test, Table(S), k, shrinkage, pair_chunk)
        want_s, want_c = brute_force(train, test, S, k, shrinkage)
        np.testing.assert_allclose(got.scores, want_s, rtol=1e-12, atol=1e-15)
        assert got.covered.tolist() == want_c.tolist()
    # the case this guards: the k-th and (k+1)-th candidates tied with different thumbs, so a
    # wrong tie-break changes the score
    lut = {(u, i): th for u, i, th in zip(train["user"], train["item"], train["thumb"])}
    n_decisive = 0
    for u, i in zip(test["user"], test["item"]):
        hist = sorted(((-S[i, j], j) for (v, j) in lut if v == u))
        if len(hist) > k and hist[k - 1][0] == hist[k][0] < 0:
            n_decisive += lut[(u, hist[k - 1][1])] != lut[(u, hist[k][1])]
    assert n_decisive > 10


def test_the_chunking_changes_nothing_and_users_without_history_are_not_covered():
    rng = np.random.default_rng(4)
    t = thumbs_frame(rng, 30, 50, 12)
    held = np.arange(len(t)) % 12 < 4
    warm = (t["user"] < 25).to_numpy()
    train = t[warm & ~held]
    test = pd.concat([t[warm & held], t[~warm]])  # users 25..29: no train thumbs
    S = rng.random((50, 50))
    ref = history_vote(train, test, Table(S), 5, 1.0, 10 ** 9)
    for chunk in (1, 2, 5, 13, 100):
        got = history_vote(train, test, Table(S), 5, 1.0, chunk)
        assert np.array_equal(got.scores, ref.scores) and np.array_equal(got.covered, ref.covered)
    cold = (test["user"] >= 25).to_numpy()
    assert not ref.covered[cold].any() and (ref.scores[cold] == 0).all() and ref.covered[~cold].all()
    empty = history_vote(train, test.iloc[:0], Table(S), 5, 1.0, 7)
    assert empty.scores.shape == (0,) and empty.covered.shape == (0,)


def test_cosine_pairs_is_exact_cosine():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 17)).astype(np.float32)
    i, j = rng.integers(0, 30, 500), rng.integers(0, 30, 500)
    want = cosine_similarity(X.astype(np.float64))[i, j]
    # a block smaller than one row still works (one pair per block), and any block gives the same
    for block_bytes in (1, 8 * 17 * 3, 64 << 20):
        np.testing.assert_allclose(CosinePairs(X, block_bytes=block_bytes)(i, j), want, rtol=1e-12, atol=1e-12)
    # a memory-mapped matrix works like an array (the pipeline's features are one)
    Z = np.zeros((3, 4))
    Z[1] = 1.0
    assert CosinePairs(Z)(np.array([0, 1]), np.array([1, 1])).tolist() == [0.0, pytest.approx(1.0)]


def test_history_knn_scores_the_vote_over_cover_cosines(tmp_path):
    rng = np.random.default_rng(2)
    t = thumbs_frame(rng, 20, 40, 10)
    X = rng.normal(size=(40, 6))
    path = tmp_path / "X.npy"
    np.save(path, X)
    Xm = np.load(path, mmap_mode="r")  # memory-mapped, as the pipeline hands it over
    is_test = np.arange(len(t)) % 10 < 3
    train, test = t[~is_test], t[is_test]
    got = HistoryKNN(k=3, shrinkage=0.5, pair_chunk=11).fit(train, Context(20, 40, features=Xm)).score(test)
    want_s, want_c = brute_force(train, test, cosine_similarity(X), 3, 0.5)
    np.testing.assert_allclose(got.scores, want_s, rtol=1e-9, atol=1e-12)
    assert got.covered.tolist() == want_c.tolist()
    # pair_chunk is a speed parameter: not part of what determines the result
    assert HistoryKNN(k=3, shrinkage=0.5, pair_chunk=3).result_params() == {"class": "HistoryKNN", "k": 3,
                                                                            "shrinkage": 0.5}


def test_history_knn_refuses_what_it_cannot_use():
    train = frame([(0, 0, 1)])
    ctx = Context(1, 2, features=np.eye(2))
    for kw, match in ((dict(k=0), "HistoryKNN: k"), (dict(shrinkage=-1.0), "HistoryKNN: shrinkage"),
                      (dict(shrinkage=float("nan")), "HistoryKNN: shrinkage"),
                      (dict(pair_chunk=0), "HistoryKNN: pair_chunk")):
        with pytest.raises(ValueError, match=match):
            HistoryKNN(**kw).fit(train, ctx)
    with pytest.raises(ValueError, match="needs the feature matrix"):
        HistoryKNN().fit(train, Context(1, 2))
