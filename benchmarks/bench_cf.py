"""The collaborative-filtering baselines at catalogue scale: fit and score time, peak memory.

    python benchmarks/bench_cf.py --items 1000000

On the procedural synthetic world of ``--items`` covers (users scale with it: 40k at a million),
split by user_holdout, each of the default config's CF baselines (item_knn_cf, als, bpr; the
parameters of conf/baselines/default.yaml) is fitted on the train thumbs and scores the test
thumbs. Printed per baseline: fit s, score s, coverage, and the process's peak RSS after it
(cumulative: the world and split are already in memory). Thumbs only: no covers are rendered.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time

from hydra.utils import instantiate
from omegaconf import OmegaConf

from covers.data.world import SyntheticWorld
from covers.scorers.base import Context
from covers.split import UserHoldout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--baselines", nargs="+", default=["item_knn_cf", "als", "bpr"])
    a = ap.parse_args()
    conf = OmegaConf.load("conf/baselines/default.yaml")
    cache = tempfile.mkdtemp(prefix="covers-bench-cf-")
    try:
        t = time.perf_counter()
        ds = SyntheticWorld(n_items=a.items, n_users=None).load(cache)
        sp = UserHoldout().split(ds.thumbs)
        ctx = Context(int(ds.thumbs["user"].max() + 1), len(ds.items))
        print(f"world {a.items} covers, {ctx.n_users} users, {len(sp.train)} train / {len(sp.test)} test thumbs "
              f"({time.perf_counter() - t:.0f} s to generate and split)")
        print(f"{'baseline':<14}{'fit s':>8}{'score s':>9}{'coverage':>10}{'peak RSS GiB':>14}")
        for name in a.baselines:
            cfg = OmegaConf.to_container(conf[name], resolve=False)
            cfg = {k: (0 if v == "${seed}" else v) for k, v in cfg.items()}  # seed 0, as the default run
            scorer = instantiate(cfg)
            t = time.perf_counter()
            scorer.fit(sp.train, ctx)
            fit = time.perf_counter() - t
            t = time.perf_counter()
            s = scorer.score(sp.test)
            score = time.perf_counter() - t
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
            print(f"{name:<14}{fit:>8.1f}{score:>9.1f}{s.covered.mean():>10.3f}{rss:>14.2f}", flush=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
