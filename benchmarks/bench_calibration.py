"""Are the intervals as wide as the truth? Many worlds, one estimate each, against their spread.

    python benchmarks/bench_calibration.py --worlds 20 --regimes on,off,shuffled

Each world is the default synthetic world with its own ``dataset.seed`` (new albums, new users, new
thumbs), run through the default parts (pixel features, Annoy, the kNN cover scorer,
``baselines=simple``). Per method it records the estimate (user_auc, thumbs_auc, and the paired
user_auc difference of the cover method to every baseline) and the sd each interval implies. Over
the worlds the estimates' own sd is the truth an interval should match, and the cross-world mean
is the value the 95% interval should cover in 95% of the worlds.

Regimes: ``on`` the default world; ``off`` thumbs that ignore the covers' genre (``signal=0``);
``shuffled`` the default world with the cover features permuted across albums before the index is
built (covers carry no information about their own album).

Printed per regime and method: mean estimate, empirical sd across worlds, mean implied sd and
their ratio, and the coverage of the 95% interval, for the calibrated estimator
(:mod:`covers.evaluation.intervals`) and, for comparison, the pigeonhole bootstrap and the
users-only bootstrap. Worlds are generated once into the cache (``--cache``) and reused.
The time and peak memory of the whole process tree are printed at the end.
"""
from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def world_rows(regime: str, seed: int, cache: str, n_boot: int) -> list[dict]:
    from hydra import compose, initialize_config_dir

    import covers.app.task as task
    from covers import pipeline
    from covers.cache import Cache
    from covers.evaluation import evaluate
    from covers.evaluation.intervals import ThumbsAUCFrame, UserAUCFrame, normal_interval, replicates
    from covers.evaluation.metrics import paired_user_comparison, percentile_interval, pigeonhole_replicates, user_auc
    from covers.norm import fit_transform_rows
    from covers.scorers.base import Context

    overrides = [f"paths.cache_dir={cache}", f"dataset.seed={seed}", "baselines=simple"]
    if regime == "off":
        overrides.append("+dataset.signal=0")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    parts = task.build_parts(cfg)
    ds = parts.dataset.load(cache)
    ds, X = pipeline.feature_matrix(ds, parts.features, parts.engine, Cache(cache), {})
    Xn = fit_transform_rows(parts.norm, X, ds.covers.describe)
    if regime == "shuffled":  # each album gets another album's cover
        Xn = Xn[np.random.default_rng([seed, 7]).permutation(len(Xn))]
    parts.index.build(Xn)
    methods = {evaluate.UNDER_TEST: parts.scorer, **parts.baselines}
    nb = parts.index.neighbours(max(m.neighbours_needed() for m in methods.values()) or 1)
    split = parts.split.split(ds.thumbs)
    ctx = Context(n_users=ds.n_users, n_items=ds.n_items, neighbours=nb, features=Xn, items=ds.items)
    scores = evaluate.score_methods(parts.scorer, parts.baselines, split, ctx, {})
    users, items, y = scores["user"].to_numpy(), scores["item"].to_numpy(), scores["thumb"].to_numpy()
    rows, reps, pig, per_user = [], {}, {}, {}
    for name in evaluate.method_names(scores):
        s = scores[f"score_{name}"].to_numpy()
        per_user[name] = ua = user_auc(users, y, s)
        reps[name] = r = replicates(UserAUCFrame, users, items, y, s, n_boot, seed)
        pig[name] = p = pigeonhole_replicates(users, items, y, s, n_boot, seed)
        lo, hi = normal_interval(ua.mean, r.sd())
        plo, phi = percentile_interval(p)
        rows.append(dict(regime=regime, seed=seed, stat="user_auc", method=name, estimate=ua.mean, sd=r.sd(),
                         lo=lo, hi=hi, sd_pigeonhole=float(np.nanstd(p, ddof=1)), lo_pigeonhole=plo,
                         hi_pigeonhole=phi, sd_users=float(np.nanstd(r.users, ddof=1))))
        t = replicates(ThumbsAUCFrame, users, items, y, s, n_boot, seed)
        est = evaluate.thumbs_auc(y, s)
        lo, hi = normal_interval(est, t.sd())
        rows.append(dict(regime=regime, seed=seed, stat="thumbs_auc", method=name, estimate=est, sd=t.sd(),
                         lo=lo, hi=hi, sd_users=float(np.nanstd(t.users, ddof=1))))
    for name in reps:
        if name == evaluate.UNDER_TEST:
            continue
        c = paired_user_comparison(per_user[evaluate.UNDER_TEST], per_user[name])
        d = reps[evaluate.UNDER_TEST] - reps[name]
        lo, hi = normal_interval(c.diff, d.sd())
        dp = pig[evaluate.UNDER_TEST] - pig[name]
        plo, phi = percentile_interval(dp)
        rows.append(dict(regime=regime, seed=seed, stat="diff_user_auc", method=f"covers - {name}", estimate=c.diff,
                         sd=d.sd(), lo=lo, hi=hi, sd_pigeonhole=float(np.nanstd(dp, ddof=1)), lo_pigeonhole=plo,
                         hi_pigeonhole=phi, sd_users=float(np.nanstd(d.users, ddof=1))))
    return rows


def summary(df: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (regime, stat, method), g in df.groupby(["regime", "stat", "method"], sort=False):
        truth, emp = g["estimate"].mean(), g["estimate"].std(ddof=1)
        row = dict(regime=regime, stat=stat, method=method, worlds=len(g), mean=truth, empirical_sd=emp,
                   implied_sd=g["sd"].mean(), ratio=g["sd"].mean() / emp if emp > 0 else np.nan,
                   coverage=float(((g["lo"] <= truth) & (truth <= g["hi"])).mean()))
        if "sd_pigeonhole" in g and g["sd_pigeonhole"].notna().any():
            row["ratio_pigeonhole"] = g["sd_pigeonhole"].mean() / emp if emp > 0 else np.nan
            row["coverage_pigeonhole"] = float(((g["lo_pigeonhole"] <= truth) & (truth <= g["hi_pigeonhole"])).mean())
        row["ratio_users_only"] = g["sd_users"].mean() / emp if emp > 0 else np.nan
        out.append(row)
    return pd.DataFrame(out)


def tree_peak_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + kids) / 1024  # an upper bound of the tree's peak: the two maxima added


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worlds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1000, help="world seeds first-seed .. first-seed+worlds-1")
    ap.add_argument("--regimes", default="on,off,shuffled")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--cache", default=str(ROOT / ".cache"), help="where worlds and features are cached")
    ap.add_argument("--csv", default=None, help="every world's rows, appended as each world ends; a rerun with "
                    "the same file skips the worlds already in it (so a stopped run resumes)")
    a = ap.parse_args()
    if a.worlds < 3:
        ap.error("--worlds must be at least 3: an sd across worlds needs them")
    t0 = time.perf_counter()
    csv = Path(a.csv) if a.csv else None
    done = pd.read_csv(csv) if csv is not None and csv.exists() and csv.stat().st_size else pd.DataFrame()
    have = set(zip(done["regime"], done["seed"])) if len(done) else set()
    rows = done.to_dict("records")
    wanted = set()
    for regime in a.regimes.split(","):
        if regime not in ("on", "off", "shuffled"):
            ap.error(f"unknown regime {regime!r}: use on, off, shuffled")
        for seed in range(a.first_seed, a.first_seed + a.worlds):
            wanted.add((regime, seed))
            if (regime, seed) in have:
                continue
            t = time.perf_counter()
            new = world_rows(regime, seed, a.cache, a.n_boot)
            rows += new
            if csv is not None:  # one world at a time, so a stopped run loses at most one world
                pd.DataFrame(new).to_csv(csv, mode="a", header=not csv.exists() or not csv.stat().st_size, index=False)
            print(f"  {regime} world seed {seed}: {time.perf_counter() - t:.1f} s", flush=True)
    df = pd.DataFrame(rows)
    df = df[[(r, s) in wanted for r, s in zip(df["regime"], df["seed"])]]
    pd.set_option("display.width", 200)
    table = summary(df)
    for regime, g in table.groupby("regime", sort=False):
        print(f"\n## regime: {regime}  ({a.worlds} worlds, seeds {a.first_seed}-{a.first_seed + a.worlds - 1}, "
              f"{a.n_boot} replicates per scheme)")
        print(g.drop(columns="regime").to_markdown(index=False, floatfmt=".4f"))
    ok = table["ratio"].dropna().between(0.9, 1.2) & table.loc[table["ratio"].notna(), "coverage"].between(0.90, 0.98)
    print(f"\ntarget (ratio in [0.9, 1.2] and coverage in [90%, 98%]): {int(ok.sum())}/{len(ok)} rows meet it "
          f"(rows with no spread across worlds, e.g. user_mean's constant 0.5, have no ratio)")
    print(f"wall {time.perf_counter() - t0:.0f} s, peak memory (process + children) {tree_peak_mib():.0f} MiB")


if __name__ == "__main__":
    main()
