"""Fair tuning: every method's few key hyper-parameters chosen the same way, never on test.

A validation split is carved from the *train* thumbs by the run's own splitter (so a cold-item
run tunes on cold validation items, a temporal run on the latest train thumbs); each point of a
method's grid (its class's ``tune_grid``, the configured value always included, overridable per
method with ``eval.tune_grids``) is fitted on the rest of train and scored on it by per-user AUC;
the best point (the first in grid order on ties) is refitted on all train thumbs by the caller.
The cover scorer and every baseline go through the same function, with the same budget of
care: a baseline tuned less carefully than the method would flatter the method.

Pure functions: no I/O, no MLflow.
"""
from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from covers.evaluation.metrics import user_auc
from covers.scorers.base import Context, Scorer
from covers.split import Split, Splitter

log = logging.getLogger(__name__)


def validation_split(splitter: Splitter, train: pd.DataFrame) -> Split:
    """The splitter applied to the train thumbs. Users it leaves out (too few train thumbs) keep
    their thumbs on the validation-train side, so every method still learns from them — except
    on items the splitter kept out of its own train (``cold_items``' held-out albums stay cold)."""
    val = splitter.split(train)
    n = int(train["item"].max()) + 1
    key = train["user"].to_numpy(np.int64) * n + train["item"].to_numpy(np.int64)
    in_val = np.isin(key, val.test["user"].to_numpy(np.int64) * n + val.test["item"].to_numpy(np.int64))
    in_split = np.isin(key, val.train["user"].to_numpy(np.int64) * n + val.train["item"].to_numpy(np.int64))
    held_items = np.setdiff1d(val.test["item"].to_numpy(), val.train["item"].to_numpy())
    keep = in_split | (~in_val & ~np.isin(train["item"].to_numpy(), held_items))
    return Split(train.loc[keep].reset_index(drop=True), val.test, val.n_users_filtered)


def grid_of(scorer: Scorer, override: dict[str, Any] | None = None) -> dict[str, list]:
    """The values tried per parameter: the class's grid (or the override), plus the configured value."""
    grid = dict(type(scorer).tune_grid if override is None else override)
    params = scorer.get_params()
    for p in grid:
        if p not in params:
            raise ValueError(f"eval.tune_grids: {type(scorer).__name__} has no parameter {p!r} "
                             f"(it has {', '.join(params)})")
    out = {}
    for p, values in grid.items():
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        out[p] = values + ([params[p]] if params[p] not in values else [])
    return out


def candidates(scorer: Scorer, grid: dict[str, list]) -> list[Scorer]:
    """One unfitted clone of ``scorer`` per grid point, in grid order."""
    names = list(grid)
    base = scorer.get_params()
    return [type(scorer)(**{**base, **dict(zip(names, point))}) for point in itertools.product(*grid.values())]


@dataclass
class Tuned:
    scorer: Scorer  # unfitted, with the chosen values
    chosen: dict[str, Any]
    table: pd.DataFrame  # one row per grid point: its values and validation user_auc


def tune(name: str, scorer: Scorer, grid: dict[str, list], val: Split, ctx: Context) -> Tuned:
    """Fit every grid point on ``val.train``, score ``val.test`` by per-user AUC, keep the best."""
    rows, clones = [], candidates(scorer, grid)
    y = val.test["thumb"].to_numpy()
    users = val.test["user"].to_numpy()
    for c in clones:
        t0 = time.perf_counter()
        s = c.fit(val.train, ctx).score(val.test).scores
        ua = user_auc(users, y, s)
        rows.append({"method": name, **{p: getattr(c, p) for p in grid}, "val_user_auc": ua.mean,
                     "val_users": int(ua.users.size), "seconds": time.perf_counter() - t0})
    table = pd.DataFrame(rows)
    score = table["val_user_auc"].fillna(-np.inf).to_numpy()
    best = int(np.argmax(score))  # first on ties
    chosen = {p: getattr(clones[best], p) for p in grid}
    log.info("tuned %s on %d validation users: %s (validation user_auc %.4f)", name, rows[best]["val_users"],
             chosen, rows[best]["val_user_auc"])
    return Tuned(type(scorer)(**{**scorer.get_params(), **chosen}), chosen, table)
