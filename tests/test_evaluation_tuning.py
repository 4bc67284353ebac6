"""covers.evaluation.tuning and the pipeline's tuning step: the validation split is carved from the
train thumbs only and is itself leak-free; grids always hold the configured value and refuse
unknown parameters; tune picks the argmax of validation per-user AUC (the first on ties), against
a hand loop; and the key property — tuning never reads a test thumb: poisoning the test labels
(and adding test rows) changes neither the chosen values nor the tuning tables."""
import numpy as np
import pandas as pd
import pytest

from conftest import thumbs_frame
from covers.evaluation.metrics import user_auc
from covers.evaluation.tuning import candidates, grid_of, tune, validation_split
from covers.pipeline import Settings, tune_methods, tuning_grids
from covers.scorers.base import Context, Scorer, Scores
from covers.scorers.baselines import PopularityScorer, RandomScorer
from covers.scorers.cf import ALSScorer, ItemKNNCF
from covers.scorers.history import HistoryKNN
from covers.split import ColdItems, Split, UserHoldout


def keys(t: pd.DataFrame) -> set:
    return set(zip(t["user"], t["item"]))


def rows(t: pd.DataFrame) -> list:
    return sorted(map(tuple, t[["user", "item", "thumb"]].to_numpy().tolist()))


@pytest.mark.parametrize("splitter", [UserHoldout(test_frac=0.3, min_thumbs=5, seed=2),
                                      ColdItems(item_frac=0.3, min_thumbs=5, seed=2)], ids=["user", "cold"])
def test_validation_split_is_carved_from_train_and_leak_free(splitter):
    rng = np.random.default_rng(0)
    t = thumbs_frame(rng, 40, 60, 12)
    train = splitter.split(t).train
    # a user with only 3 train thumbs: the splitter leaves them out, the validation train keeps them
    few = pd.DataFrame({"user": 40, "item": [0, 1, 2], "thumb": [1, 0, 1]}).assign(user_id="u40", item_id="x")
    train = pd.concat([train, few], ignore_index=True)
    val = validation_split(splitter, train)
    both = rows(pd.concat([val.train, val.test]))
    assert set(both) <= set(rows(train)) and len(both) == len(set(both))  # train rows only, each once
    # the only train rows left out: a left-out user's thumbs on albums the splitter held out entirely
    held = set(val.test["item"]) - set(val.train["item"])
    assert all(r[1] in held for r in set(rows(train)) - set(both))
    if isinstance(splitter, UserHoldout):
        assert both == rows(train)
    assert not keys(val.train) & keys(val.test)  # no (user, item) on both sides
    assert len(val.test) > 0.1 * len(train)
    assert (val.train["user"] == 40).sum() == 3 and not (val.test["user"] == 40).any()


def test_cold_validation_items_are_cold():
    """A cold-item run tunes on cold validation items: none of them may keep a thumb on the
    validation-train side, not even from a user the splitter left out for having few thumbs
    (here user 17, 4 train thumbs, one of them on a validation item)."""
    rng = np.random.default_rng(0)
    splitter = ColdItems(item_frac=0.3, min_thumbs=5, seed=2)
    train = splitter.split(thumbs_frame(rng, 40, 60, 12)).train
    val = validation_split(splitter, train)
    leaked = val.train[val.train["item"].isin(val.test["item"])]
    assert leaked.empty, leaked[["user", "item", "thumb"]].values.tolist()


def test_grid_of_includes_the_configured_value_and_refuses_unknown_parameters():
    grid = type(PopularityScorer()).tune_grid["smoothing"]
    assert grid_of(PopularityScorer(smoothing=3.0)) == {"smoothing": list(grid) + [3.0]}
    assert grid_of(PopularityScorer(smoothing=grid[0])) == {"smoothing": list(grid)}  # not twice
    assert grid_of(PopularityScorer(smoothing=3.0), {"smoothing": [1.0, 2.0]}) == {"smoothing": [1.0, 2.0, 3.0]}
    assert grid_of(PopularityScorer(smoothing=3.0), {"smoothing": 7.0}) == {"smoothing": [7.0, 3.0]}  # a scalar
    assert grid_of(PopularityScorer(), {}) == {}  # an empty override: nothing to tune
    assert grid_of(RandomScorer()) == {}
    with pytest.raises(ValueError, match="PopularityScorer has no parameter 'k'.*smoothing"):
        grid_of(PopularityScorer(), {"k": [1, 2]})
    # candidates: one clone per point, in grid order, the other parameters kept
    cs = candidates(HistoryKNN(k=3, shrinkage=0.0, pair_chunk=17), {"k": [1, 2], "shrinkage": [0.0, 5.0]})
    assert [(c.k, c.shrinkage, c.pair_chunk) for c in cs] == [(1, 0.0, 17), (1, 5.0, 17), (2, 0.0, 17), (2, 5.0, 17)]


class Signed(Scorer):
    """score = sign * item code + offset: the offset never changes a per-user AUC (ties in grid)."""

    tune_grid = {"sign": (-1.0, 1.0), "offset": (0.0, 5.0)}

    def __init__(self, sign: float = -1.0, offset: float = 0.0, other: int = 3) -> None:
        self.sign = sign
        self.offset = offset
        self.other = other

    def fit(self, train, ctx):
        self.fitted_on_ = train
        return self

    def score(self, test):
        return Scores(self.sign * test["item"].to_numpy(np.float64) + self.offset, np.ones(len(test), bool))


def small_val() -> Split:
    rng = np.random.default_rng(1)
    t = thumbs_frame(rng, 30, 40, 10)
    t["thumb"] = (rng.random(len(t)) < t["item"] / 40).astype(int)  # higher codes are liked more
    return validation_split(UserHoldout(test_frac=0.3, seed=0), t)


def test_tune_takes_the_first_best_point_by_validation_user_auc():
    val = small_val()
    ctx = Context(30, 40)
    t = tune("signed", Signed(other=9), grid_of(Signed(other=9)), val, ctx)
    # sign +1 wins; its two offsets tie exactly, and the first in grid order is kept
    assert t.chosen == {"sign": 1.0, "offset": 0.0}
    assert t.scorer.get_params() == {"sign": 1.0, "offset": 0.0, "other": 9} and not hasattr(t.scorer, "fitted_on_")
    assert t.table[["sign", "offset"]].values.tolist() == [[-1.0, 0.0], [-1.0, 5.0], [1.0, 0.0], [1.0, 5.0]]
    auc = user_auc(val.test["user"], val.test["thumb"], val.test["item"].to_numpy(np.float64)).mean
    np.testing.assert_allclose(t.table["val_user_auc"], [1 - auc, 1 - auc, auc, auc], rtol=1e-12)
    assert auc > 0.6 and (t.table["method"] == "signed").all()


def test_tune_matches_a_hand_loop():
    val = small_val()
    ctx = Context(30, 40)
    grid = grid_of(PopularityScorer(smoothing=2.0))
    t = tune("popularity", PopularityScorer(smoothing=2.0), grid, val, ctx)
    hand = []
    for a in grid["smoothing"]:
        s = PopularityScorer(smoothing=a).fit(val.train, ctx).score(val.test).scores
        hand.append(user_auc(val.test["user"], val.test["thumb"], s).mean)
    np.testing.assert_allclose(t.table["val_user_auc"], hand, rtol=1e-12)
    assert t.chosen == {"smoothing": grid["smoothing"][int(np.argmax(hand))]}
    assert len(set(np.round(hand, 6))) > 1  # the grid points really differ here


def world(seed=0, n_users=60, n_items=80, per_user=25):
    """Thumbs from a small taste model, with cover features that carry part of the taste."""
    rng = np.random.default_rng(seed)
    U, V = rng.normal(size=(n_users, 4)), rng.normal(size=(n_items, 4))
    rows_ = []
    for u in range(n_users):
        items = rng.choice(n_items, per_user, replace=False)
        rows_ += [(u, int(i), int(y)) for i, y in zip(items, V[items] @ U[u] + rng.normal(size=per_user) > 0)]
    t = pd.DataFrame(rows_, columns=["user", "item", "thumb"])
    t = t.assign(user_id="u" + t["user"].astype(str), item_id="i" + t["item"].astype(str))
    X = np.hstack([V, rng.normal(size=(n_items, 6))])
    return t, Context(n_users, n_items, features=X)


def poisoned(split: Split, seed: int = 9) -> Split:
    """The same train side; test labels flipped and extra test rows (on train pairs, even)."""
    rng = np.random.default_rng(seed)
    test = split.test.assign(thumb=1 - split.test["thumb"])
    extra = split.train.sample(n=100, random_state=seed).assign(thumb=lambda f: rng.integers(0, 2, len(f)))
    return Split(split.train, pd.concat([test, extra], ignore_index=True), split.n_users_filtered)


def methods():
    return {"method": HistoryKNN(k=5, shrinkage=1.0), "popularity": PopularityScorer(),
            "als": ALSScorer(factors=4, iterations=3, n_jobs=1), "item_knn_cf": ItemKNNCF(k=5),
            "random": RandomScorer()}


def test_tuning_never_reads_the_test_thumbs():
    t, ctx = world()
    splitter = UserHoldout(test_frac=0.25, seed=1)
    split = splitter.split(t)
    settings = Settings(tune=True, tune_grids={"als": {"factors": [2, 4], "regularization": [0.05, 5.0]},
                                                  "method": {"k": [2, 10], "shrinkage": [0.0, 10.0]}})
    grids = tuning_grids(methods(), settings)
    assert set(grids) == {"method", "popularity", "als", "item_knn_cf"}  # random has nothing to tune
    runs = []
    for s in (split, poisoned(split)):
        info: dict = {}
        tuned, table = tune_methods(methods(), grids, splitter, s, ctx, info)
        runs.append((info["tuned"], table.drop(columns="seconds"), {n: m.get_params() for n, m in tuned.items()}))
    (chosen, table, params), (chosen2, table2, params2) = runs
    assert chosen == chosen2 and params == params2
    pd.testing.assert_frame_equal(table, table2)
    assert set(chosen) == {f"{n}.{p}" for n, g in grids.items() for p in g}
    assert params["random"] == RandomScorer().get_params()  # untuned methods passed through
    assert len(table) == sum(len(candidates(m, grids[n])) for n, m in methods().items() if n in grids)
    # the same tuning run *on* the test thumbs does see the poison: the property above can fail
    flips = 0
    for name in grids:
        clean = tune(name, methods()[name], grids[name], split, ctx).table["val_user_auc"].to_numpy()
        bad = tune(name, methods()[name], grids[name], poisoned(split), ctx).table["val_user_auc"].to_numpy()
        flips += not np.allclose(clean, bad)
    assert flips == len(grids)


def test_tuning_grids_refuses_what_it_cannot_use():
    m = {"method": HistoryKNN(), "popularity": PopularityScorer()}
    assert tuning_grids(m, Settings(tune=False)) == {}
    with pytest.raises(ValueError, match="eval.tune is false"):
        tuning_grids(m, Settings(tune=False, tune_grids={"popularity": {"smoothing": [1.0]}}))
    with pytest.raises(ValueError, match=r"\['nope'\]"):
        tuning_grids(m, Settings(tune=True, tune_grids={"nope": {"k": [1]}}))
    with pytest.raises(ValueError, match="HistoryKNN has no parameter 'alpha'"):
        tuning_grids(m, Settings(tune=True, tune_grids={"method": {"alpha": [1.0]}}))
    g = tuning_grids(m, Settings(tune=True, tune_grids={"popularity": {"smoothing": [1.0]}}))
    assert g["popularity"] == {"smoothing": [1.0, PopularityScorer().smoothing]}
    assert g["method"] == grid_of(HistoryKNN())
