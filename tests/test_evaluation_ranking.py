"""covers.evaluation.ranking: recall/NDCG/down@N hand-worked and against a brute-force per-user
computation, for the index (both query kinds) and for a baseline over the whole catalogue; no
train item is ever recommended back; the bootstrap is the users-and-albums one; bad settings fail."""
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from covers.evaluation.ranking import (check_settings, evaluate_ranking, held_out_ranks, index_lists,
                                       per_thumb_terms, ratio_means, scorer_lists, _keys)
from covers.index.exact import ExactIndex
from covers.scorers.base import Context
from covers.scorers.baselines import OracleScorer, PopularityScorer, RandomScorer


def frame(rows):
    return pd.DataFrame(rows, columns=["user", "item", "thumb"])


def test_metrics_hand_worked():
    # user 0's list [3, 1, 4]; held out: ups {1, 5}, down {4}
    lists = np.array([[3, 1, 4]])
    test = frame([(0, 1, 1), (0, 4, 0), (0, 5, 1)])
    rank = held_out_ranks(lists, np.array([0]), test, n_items=10)
    assert rank.tolist() == [1, 2, -1]
    terms = per_thumb_terms(test["user"].to_numpy(), test["thumb"].to_numpy() > 0, rank, (1, 3))
    up = test["thumb"].to_numpy() > 0

    def value(name):
        cls, a, b = terms[name]
        return a[cls].sum() / b[cls].sum()
    assert value("recall_at_3") == pytest.approx(0.5) and value("recall_at_1") == 0.0
    # one up at position 2 (rank 1): DCG 1/log2(3); ideal: two ups at the top, 1 + 1/log2(3)
    assert value("ndcg_at_3") == pytest.approx((1 / np.log2(3)) / (1 + 1 / np.log2(3)))
    assert value("down_at_3") == 1.0 and value("down_at_1") == 0.0
    assert up.tolist() == [True, False, True]


def test_ratio_means_weights_users_equally_and_its_replicates_bracket_it():
    users = np.array([0, 0, 0, 1])
    items = np.array([0, 1, 2, 3])
    A = np.array([[1.0], [1.0], [0.0], [0.0]])
    point, reps = ratio_means(users, items, A, np.ones((4, 1)), n_boot=200, seed=1)
    assert point[0] == pytest.approx((2 / 3 + 0) / 2)  # a mean over users, not over thumbs
    assert len(reps) == 1 and reps[0].users.shape == (200,)
    for r in (reps[0].users, reps[0].albums, reps[0].thumbs):
        assert np.nanmin(r) <= point[0] <= np.nanmax(r)
    # user 1 drawn twice, user 0 not: the mean is user 1's 0; drawn once each: the point
    assert set(np.round(reps[0].users[np.isfinite(reps[0].users)], 6)) <= {0.0, round(point[0], 6), round(2 / 3, 6)}
    again = ratio_means(users, items, A, np.ones((4, 1)), n_boot=200, seed=1)[1]
    assert np.array_equal(reps[0].thumbs, again[0].thumbs, equal_nan=True) and reps[0].sd() == again[0].sd()


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(0)
    n_users, n_items = 30, 120
    X = rng.normal(size=(n_items, 6)).astype(np.float32)
    pairs = {(u, i) for u, i in zip(rng.integers(0, n_users, 900), rng.integers(0, n_items, 900))}
    t = pd.DataFrame(sorted(pairs), columns=["user", "item"])
    t["thumb"] = rng.integers(0, 2, len(t))
    test_mask = rng.random(len(t)) < 0.25
    split = SimpleNamespace(train=t[~test_mask].reset_index(drop=True), test=t[test_mask].reset_index(drop=True))
    return X, split, Context(n_users=n_users, n_items=n_items, features=X)


def brute_force(lists_by_user: dict, test: pd.DataFrame, n: int) -> dict:
    """Per user, straight from the definitions, then the mean over users who have the class."""
    rec, ndcg, down = [], [], []
    for u, g in test.groupby("user"):
        top = list(lists_by_user[u])[:n]
        ups, downs = set(g.loc[g.thumb > 0, "item"]), set(g.loc[g.thumb <= 0, "item"])
        if ups:
            rec.append(len(ups & set(top)) / len(ups))
            dcg = sum(1 / np.log2(r + 2) for r, i in enumerate(top) if i in ups)
            ndcg.append(dcg / sum(1 / np.log2(r + 2) for r in range(min(len(ups), n))))
        if downs:
            down.append(len(downs & set(top)) / len(downs))
    return {f"recall_at_{n}": np.mean(rec), f"ndcg_at_{n}": np.mean(ndcg), f"down_at_{n}": np.mean(down)}


def test_index_centroid_recommendations_against_brute_force(world):
    X, split, ctx = world
    lists = {}
    for u in np.unique(split.test["user"]):
        tr = split.train[split.train.user == u]
        unit = X / np.linalg.norm(X, axis=1, keepdims=True)
        q = np.zeros(X.shape[1])
        if (tr.thumb > 0).any():
            q += unit[tr.loc[tr.thumb > 0, "item"]].mean(0)
        if (tr.thumb <= 0).any():
            q -= unit[tr.loc[tr.thumb <= 0, "item"]].mean(0)
        cos = unit @ (q / np.linalg.norm(q))
        order = [i for i in np.lexsort((np.arange(len(X)), -cos)) if i not in set(tr.item)]
        lists[u] = order
    r = evaluate_ranking(ExactIndex("angular").build(X), X, split, ctx, {}, [5, 20], n_boot=20)
    for n in (5, 20):
        for k, v in brute_force(lists, split.test, n).items():
            assert r.metrics[k] == pytest.approx(v, abs=1e-9), k
    assert r.metrics["recall_at_20"] >= r.metrics["recall_at_5"]
    assert r.metrics["recall_at_5_lo"] <= r.metrics["recall_at_5"] <= r.metrics["recall_at_5_hi"]


def test_baseline_recommendations_against_brute_force_over_the_whole_catalogue(world):
    X, split, ctx = world
    pop = PopularityScorer(smoothing=2.0).fit(split.train, ctx)
    allitems = np.arange(ctx.n_items)
    lists = {}
    for u in np.unique(split.test["user"]):
        s = pop.score(pd.DataFrame({"user": np.full(ctx.n_items, u), "item": allitems})).scores
        seen = set(split.train.loc[split.train.user == u, "item"])
        lists[u] = [i for i in np.lexsort((allitems, -s)) if i not in seen]  # ties by id
    r = evaluate_ranking(ExactIndex("angular").build(X), X, split, ctx,
                         {"popularity": PopularityScorer(smoothing=2.0), "oracle": OracleScorer()}, [10],
                         block=250, n_boot=20)  # two users per block
    for k, v in brute_force(lists, split.test, 10).items():
        assert r.metrics[f"{k}_popularity"] == pytest.approx(v, abs=1e-9), k
    assert "oracle" in r.not_applicable and "recall_at_10_oracle" not in r.metrics
    assert list(r.table.index) == ["index", "popularity"] and "ndcg_at_10_lo" in r.table


def test_no_train_item_is_ever_recommended_back(world):
    X, split, ctx = world
    keys = _keys(split.train, ctx.n_items)
    users = np.unique(split.train["user"])
    idx = ExactIndex("euclidean").build(X)
    train_pairs = set(zip(split.train.user, split.train.item))
    got = {"centroid": index_lists(idx, X, users, split.train, keys, ctx.n_items, 60, "centroid"),
           "neighbours": index_lists(idx, X, users, split.train, keys, ctx.n_items, 60, "neighbours"),
           "random": scorer_lists(RandomScorer(3).fit(split.train, ctx), users, keys, ctx.n_items, 115)}
    for name, lists in got.items():
        recommended = {(u, i) for u, row in zip(users, lists) for i in row if i >= 0}
        assert recommended and not recommended & train_pairs, name
        assert all(len(set(row[row >= 0])) == (row >= 0).sum() for row in lists), name  # no repeats
    # a list longer than what is left: every unthumbed item once, then -1
    row = got["random"][0]
    n_seen = (split.train.user == users[0]).sum()
    assert (row >= 0).sum() == min(115, ctx.n_items - n_seen)


def test_neighbours_query_ranks_by_summed_similarity():
    X = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [0.7, 0.7]], np.float32)
    train = frame([(0, 0, 1)])
    ids = index_lists(ExactIndex("angular").build(X), X, np.array([0]), train, _keys(train, 5), 5, 3, "neighbours")
    assert ids.tolist() == [[1, 4, 3]]  # item 0's neighbours by cosine, itself (thumbed) left out


@pytest.mark.parametrize("ns,query,block,match", [([0], "centroid", 10, "ranking_n"), ([10], "hybrid", 10, "ranking_query"),
                                                  ([], "centroid", 10, "ranking_n"), ([10], "centroid", 0, "ranking_block")])
def test_bad_settings_fail_loudly(ns, query, block, match):
    with pytest.raises(ValueError, match=match):
        check_settings(ns, query, block)
    assert check_settings([100, 10, 50], "neighbours", 5) == (10, 50, 100)
