"""Evaluation at scale: score a million test thumbs and compute every metric and interval.

    python benchmarks/bench_eval.py --test-thumbs 1000000 --items 1000000 --users 40000 --boot 1000

Prints the wall time of each stage (kNN scoring from a precomputed neighbour table, per-user AUC,
the calibrated intervals of user_auc and thumbs_auc, paired comparisons) and the
peak RSS. Synthetic inputs; no MLflow, no images: this isolates covers.evaluation's cost.
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from covers.evaluation.evaluate import score_methods, summarise
from covers.index.base import Neighbours
from covers.scorers.base import Context
from covers.scorers.baselines import PopularityScorer, RandomScorer
from covers.scorers.knn import KNNScorer
from covers.split import Split


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--test-thumbs", type=int, default=1_000_000)
    ap.add_argument("--train-per-test", type=int, default=4)
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=40_000)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--boot", type=int, default=1000)
    a = ap.parse_args()
    rng = np.random.default_rng(0)

    def thumbs(n):
        return pd.DataFrame({"user": rng.integers(0, a.users, n), "item": rng.integers(0, a.items, n),
                             "thumb": rng.integers(0, 2, n).astype(np.int8)}).assign(user_id="u", item_id="i")

    test, train = thumbs(a.test_thumbs), thumbs(a.test_thumbs * a.train_per_test)
    nb = Neighbours(rng.integers(0, a.items, (a.items, a.k)), rng.random((a.items, a.k)), 0.0)
    ctx = Context(a.users, a.items, nb)
    baselines = {"random": RandomScorer(0), "popularity": PopularityScorer()}
    t0 = time.perf_counter()
    scores = score_methods(KNNScorer(a.k), baselines, Split(train, test, 0), ctx, {})
    t1 = time.perf_counter()
    _, table = summarise(scores, None, a.boot, 0)
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"{a.test_thumbs:,} test thumbs, {len(train):,} train thumbs, {a.items:,} items, {a.users:,} users, k={a.k}")
    print(f"  fit + score 3 methods (kNN, random, popularity): {t1 - t0:7.1f} s  ({a.test_thumbs / (t1 - t0):,.0f} thumbs/s)")
    print(f"  metrics + intervals ({a.boot} bootstrap replicates, 3 methods): {t2 - t1:7.1f} s")
    print(f"  peak RSS {peak:.2f} GiB")
    print(table[["user_auc", "user_auc_lo", "user_auc_hi", "thumbs_auc", "coverage"]].round(4).to_string())


if __name__ == "__main__":
    main()
