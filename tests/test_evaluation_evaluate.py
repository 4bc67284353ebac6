"""covers.evaluation.evaluate: score_methods (the method under test and its baselines on one split;
a baseline without its input recorded, never the method) and summarise (per-method metrics and
intervals, paired differences, per-genre metrics), against hand-worked values and brute force."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import crossed_thumbs
from covers.evaluation import evaluate
from covers.evaluation.evaluate import UNDER_TEST, method_names, score_methods, summarise
from covers.evaluation.metrics import thumbs_auc, user_auc


from covers.evaluation.intervals import ThumbsAUCFrame, UserAUCFrame, normal_interval, p_value, replicates
from covers.scorers.base import Context, NotApplicable, Scorer, Scores
from covers.scorers.baselines import OracleScorer, PopularityScorer, RandomScorer
from covers.split import Split


class Spy(Scorer):
    """Scores each test thumb by its item code (or ``n`` scores of 0); remembers what it was fitted on."""

    def __init__(self, n: int | None = None) -> None:
        self.n = n

    def fit(self, train, ctx):
        self.train_ = train
        return self

    def score(self, test):
        if self.n is not None:
            return Scores(np.zeros(self.n), np.ones(self.n, bool))
        return Scores(test["item"].to_numpy(np.float64), test["item"].to_numpy() % 2 == 0)


def tiny_split() -> Split:
    def frame(rows):
        t = pd.DataFrame(rows, columns=["user", "item", "thumb"])
        return t.assign(user_id="u" + t["user"].astype(str), item_id="i" + t["item"].astype(str))
    return Split(frame([(0, 0, 1), (0, 1, 0), (1, 1, 1), (1, 2, 0)]), frame([(0, 2, 1), (1, 0, 0), (1, 3, 1)]), 0)


def test_score_methods_labels_the_method_and_each_baseline():
    split = tiny_split()
    method = Spy()
    skipped: dict[str, str] = {}
    out = score_methods(method, {"random": RandomScorer(seed=3), "popularity": PopularityScorer(smoothing=0.0)},
                        split, Context(2, 4), skipped)
    assert UNDER_TEST == "method" and skipped == {}
    assert list(out.columns) == ["user_id", "item_id", "user", "item", "thumb", "score_method", "covered_method",
                                 "score_random", "covered_random", "score_popularity", "covered_popularity"]
    assert method_names(out) == ["method", "random", "popularity"]
    assert out[["user_id", "item_id", "thumb"]].values.tolist() == [["u0", "i2", 1], ["u1", "i0", 0], ["u1", "i3", 1]]
    assert out["score_method"].tolist() == [2.0, 0.0, 3.0] and out["covered_method"].tolist() == [True, True, False]
    assert method.train_ is split.train  # fitted on the train side only
    # popularity, hand-worked: item 2 up-rate 0/1, item 0 1/1, item 3 unseen -> the prior 2/4
    assert out["score_popularity"].tolist() == [0.0, 1.0, 0.5]
    assert out["score_random"].tolist() == RandomScorer(seed=3).fit(split.train, Context(2, 4)).score(
        split.test).scores.tolist()


def test_a_baseline_without_its_input_is_recorded_but_the_method_raises():
    split = tiny_split()
    skipped: dict[str, str] = {}
    out = score_methods(Spy(), {"oracle": OracleScorer(), "random": RandomScorer()}, split, Context(2, 4), skipped)
    assert list(skipped) == ["oracle"] and "true_score" in skipped["oracle"]
    assert method_names(out) == ["method", "random"]  # no oracle columns
    with pytest.raises(NotApplicable, match="true_score"):
        score_methods(OracleScorer(), {}, split, Context(2, 4), {})
    with pytest.raises(ValueError, match="a baseline may not be named 'method'"):
        score_methods(Spy(), {"method": RandomScorer()}, split, Context(2, 4), {})
    with pytest.raises(ValueError, match="scorer 'short' returned 2 scores for 3 test thumbs"):
        score_methods(Spy(), {"short": Spy(n=2)}, split, Context(2, 4), {})


def hand_scores() -> pd.DataFrame:
    """Two users with both kinds of thumb and one with a single thumb, over four albums."""
    rows = [  # user, item, thumb, score_method, score_other, covered_other
        (0, 0, 1, 0.9, 0.1, True), (0, 1, 0, 0.2, 0.6, True), (0, 2, 1, 0.4, 0.7, False), (0, 3, 0, 0.5, 0.2, True),
        (1, 0, 0, 0.3, 0.5, True), (1, 1, 1, 0.8, 0.5, True), (1, 2, 0, 0.1, 0.9, False), (1, 3, 1, 0.6, 0.4, True),
        (2, 0, 1, 0.5, 0.5, True)]
    f = pd.DataFrame(rows, columns=["user", "item", "thumb", "score_method", "score_other", "covered_other"])
    return f.assign(covered_method=True)


def test_summarise_hand_worked():
    scores = hand_scores()
    metrics, table = summarise(scores, n_boot=50, seed=1)
    # method: user 0 wins 3 of its 4 pairs, user 1 all 4 -> 0.875; user 2 has one class: skipped
    # other:  user 0 wins 2 of 4 -> 0.5; user 1 half a tie of 4 -> 0.125
    assert metrics["user_auc"] == pytest.approx(0.875) and metrics["user_auc_other"] == pytest.approx(0.3125)
    assert metrics["users_skipped_one_class"] == 1
    assert table.loc["method", "users_evaluated"] == table.loc["other", "users_evaluated"] == 2
    # global AUC over all 9 thumbs: of the 5 x 4 (up, down) pairs the method orders 18 right and
    # ties one (user 2's 0.5 against user 0's 0.5), which counts half
    assert metrics["thumbs_auc"] == pytest.approx(18.5 / 20)
    assert metrics["coverage"] == 1.0 and metrics["coverage_other"] == pytest.approx(7 / 9)
    # the paired difference is the mean of the per-user differences: (0.75 - 0.5 + 1 - 0.125) / 2
    assert metrics["diff_user_auc_other"] == pytest.approx(0.5625)
    assert table.loc["other", "diff_user_auc"] == metrics["diff_user_auc_other"]
    assert np.isnan(table.loc["method", "diff_user_auc"])  # the method is not compared to itself
    assert not any(k.startswith("diff_") and k.endswith("_method") for k in metrics)
    # intervals: normal, with the calibrated sd of the one-way replicates (same draws for every method)
    u, i, y = scores["user"].to_numpy(), scores["item"].to_numpy(), scores["thumb"].to_numpy()
    sm, so = scores["score_method"].to_numpy(), scores["score_other"].to_numpy()
    rm, ro = replicates(UserAUCFrame, u, i, y, sm, 50, 1), replicates(UserAUCFrame, u, i, y, so, 50, 1)
    assert (metrics["user_auc_lo"], metrics["user_auc_hi"]) == normal_interval(0.875, rm.sd())
    assert (metrics["diff_user_auc_lo_other"], metrics["diff_user_auc_hi_other"]) == normal_interval(
        0.5625, (rm - ro).sd())
    assert (metrics["thumbs_auc_lo_other"], metrics["thumbs_auc_hi_other"]) == normal_interval(
        metrics["thumbs_auc_other"], replicates(ThumbsAUCFrame, u, i, y, so, 50, 1).sd())
    assert metrics["p_other"] == p_value(0.5625, (rm - ro).sd()) == metrics["p_holm_other"]  # a family of one
    # names: <metric> for the method, <metric>_<baseline> for the others; no genres given, none reported
    assert {"user_auc", "user_auc_other", "wilcoxon_p_other"} <= set(metrics)
    assert not any(k.startswith("genre_") for k in metrics) and list(table.index) == ["method", "other"]


def test_a_cover_in_two_genres_counts_in_both():
    scores = hand_scores()
    genres = [frozenset({"a"}), frozenset({"a", "b"}), frozenset({"b"}), frozenset()]  # album 3: no genre
    metrics, table = summarise(scores, genres, n_boot=20, seed=0, min_genre_users=1)
    assert sorted(k for k in metrics if k.startswith("genre_user_auc/")) == ["genre_user_auc/a", "genre_user_auc/b"]
    assert metrics["genre_users/a"] == 2 and metrics["genre_users/b"] == 2
    assert metrics["genre_user_auc_lo/a"] <= 1.0 <= metrics["genre_user_auc_hi/a"]
    # genre a = albums 0 and 1: the method ranks both users' pairs right; other: 0 and a tie -> 0.25
    assert metrics["genre_user_auc/a"] == 1.0 and table.loc["other", "user_auc[a]"] == pytest.approx(0.25)
    # genre b = albums 1 and 2: without album 1 every user would have one class there (NaN)
    assert metrics["genre_user_auc/b"] == 1.0 and table.loc["other", "user_auc[b]"] == pytest.approx(0.5)
    assert table.loc["method", "user_auc[b]"] == metrics["genre_user_auc/b"]
    # with fewer users than min_genre_users a genre gives its count and no number
    few, few_table = summarise(scores, genres, n_boot=20, seed=0, min_genre_users=3)
    assert few["genre_users/a"] == 2 and "genre_user_auc/a" not in few and np.isnan(few_table.loc["method", "user_auc[a]"])
    b = scores["item"].isin([1, 2]).to_numpy()
    assert table.loc["other", "user_auc[b]"] == user_auc(scores["user"][b], scores["thumb"][b],
                                                         scores["score_other"][b]).mean


def test_summarise_without_the_method_reports_no_differences():
    scores = hand_scores().drop(columns=["score_method", "covered_method"])
    metrics, table = summarise(scores, n_boot=10)
    assert list(table.index) == ["other"] and "diff_user_auc" not in table
    assert metrics["user_auc_other"] == pytest.approx(0.3125) and not any(k.startswith("diff_") for k in metrics)
    assert evaluate.UNDER_TEST not in method_names(scores)


def test_paired_difference_interval_is_the_difference_of_the_same_replicates():
    """The method-minus-baseline interval: both methods on the same draws, differenced per scheme."""
    users, items, y, s = crossed_thumbs()
    other = np.round(np.random.default_rng(9).normal(size=y.size) + 0.2 * y, 1)
    frame = pd.DataFrame({"user": users, "item": items, "thumb": y, "score_method": s, "covered_method": True,
                          "score_other": other, "covered_other": True, "score_third": -other, "covered_third": True})
    metrics, table = summarise(frame, n_boot=200, seed=3)
    d = replicates(UserAUCFrame, users, items, y, s, 200, 3) - replicates(UserAUCFrame, users, items, y, other, 200, 3)
    lo, hi = normal_interval(metrics["diff_user_auc_other"], d.sd())
    assert metrics["diff_user_auc_lo_other"] == pytest.approx(lo, abs=1e-12)
    assert metrics["diff_user_auc_hi_other"] == pytest.approx(hi, abs=1e-12)
    assert table.loc["other", "diff_lo"] == metrics["diff_user_auc_lo_other"]
    # the point estimate is still the mean per-user difference
    assert metrics["diff_user_auc_other"] == pytest.approx(metrics["user_auc"] - metrics["user_auc_other"])
    # Holm over the two baselines: the smaller p times 2, the larger times 1 (and never below the first)
    p = sorted([metrics["p_other"], metrics["p_third"]])
    assert sorted([metrics["p_holm_other"], metrics["p_holm_third"]]) == pytest.approx(
        [min(1, 2 * p[0]), max(min(1, 2 * p[0]), p[1])])


def test_user_auc_covered_uses_only_the_thumbs_with_evidence():
    scores = hand_scores()
    metrics, table = summarise(scores, n_boot=10, seed=0)
    # other, without its two uncovered thumbs (album 2):
    #   user 0: up {0.1} vs downs {0.6, 0.2}: 0 of 2 pairs won -> 0
    #   user 1: ups {0.5, 0.4} vs down {0.5}: a tie (half) and a loss of 2 pairs -> 0.25
    #   user 2: one class, skipped -> mean 0.125 (its user_auc over every thumb: 0.3125)
    assert metrics["user_auc_covered_other"] == pytest.approx(0.125)
    assert table.loc["other", "user_auc_covered"] == metrics["user_auc_covered_other"]
    # the method covers every thumb: the same as its user_auc
    assert metrics["user_auc_covered"] == metrics["user_auc"] == pytest.approx(0.875)
    cov = scores["covered_other"].to_numpy()
    assert metrics["user_auc_covered_other"] == user_auc(scores["user"][cov], scores["thumb"][cov],
                                                         scores["score_other"][cov]).mean


def test_a_method_covering_no_thumb_has_no_covered_auc():
    """CF baselines on a cold-item split cover nothing: summarise must report NaN, not crash."""
    scores = hand_scores().assign(covered_other=False)
    metrics, table = summarise(scores, n_boot=10, seed=0)
    assert np.isnan(metrics["user_auc_covered_other"]) and metrics["coverage_other"] == 0.0
    assert metrics["user_auc_other"] == pytest.approx(0.3125)  # over every thumb, as before


def test_results_markdown_leads_with_user_auc_and_explains_thumbs_auc():
    scores = hand_scores()
    scores["score_user_mean"], scores["covered_user_mean"] = scores["user"].astype(float), True
    _, table = summarise(scores, n_boot=20, seed=0)
    md = evaluate.results_markdown(table)
    header = md.splitlines()[0].split("|")
    cols = [c.strip() for c in header if c.strip()]
    assert cols[1] == "user_auc" and cols[-3:] == ["thumbs_auc", "thumbs_auc_lo", "thumbs_auc_hi"]
    assert f"user_mean, which sees no cover, scores {table.loc['user_mean', 'thumbs_auc']:.4f}" in md


def test_paired_runs_is_the_paired_difference_of_two_runs_on_the_same_thumbs():
    users, items, y, s = crossed_thumbs()
    other = np.round(np.random.default_rng(4).normal(size=y.size), 1)
    base = pd.DataFrame({"user_id": [f"u{u}" for u in users], "item_id": [f"i{i}" for i in range(y.size)],
                         "user": users, "item": items, "thumb": y})
    a, b = base.assign(score_method=s), base.assign(score_method=other)
    r = evaluate.paired_runs(a.sample(frac=1.0, random_state=0), b, n_boot=100, seed=2)  # row order does not matter
    both = base.assign(score_method=s, covered_method=True, score_other=other, covered_other=True)
    # the thumbs' draws follow their order, and paired_runs sorts by (user_id, item_id) first
    m, _ = summarise(both.sort_values(["user_id", "item_id"], kind="stable"), n_boot=100, seed=2)
    assert r["diff_user_auc"] == pytest.approx(m["diff_user_auc_other"])
    assert (r["diff_lo"], r["diff_hi"]) == pytest.approx((m["diff_user_auc_lo_other"], m["diff_user_auc_hi_other"]))
    assert r["user_auc_first"] == pytest.approx(m["user_auc"]) and r["p"] == pytest.approx(m["p_other"])
    with pytest.raises(ValueError, match="different test thumbs"):
        evaluate.paired_runs(a, b.iloc[1:])
    with pytest.raises(ValueError, match="different test thumbs"):
        evaluate.paired_runs(a, b.assign(thumb=1 - b["thumb"]))
    sub = evaluate.paired_runs(a, b, n_boot=50, items=np.arange(10))
    assert sub["users"] <= r["users"]
