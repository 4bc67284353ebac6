"""What scorers and baselines share: fit on train thumbs, score test thumbs.

Baselines are ordinary scorers going through the same pipeline (as in Cornac's
``most_pop``): the only difference is what they read from the context.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import pandas as pd

from covers.index.base import Neighbours
from covers.utils import Part


class NotApplicable(ValueError):
    """The scorer needs an input this dataset does not have (e.g. the oracle's true scores)."""


@dataclass
class Context:
    """Everything a scorer may read besides the train thumbs. Never the test thumbs."""

    n_users: int
    n_items: int
    neighbours: Neighbours | None = None
    features: np.ndarray | None = None
    items: pd.DataFrame | None = None


@dataclass
class Scores:
    scores: np.ndarray  # float64, one per test thumb
    covered: np.ndarray  # bool: the method had evidence for this thumb (else a neutral score)


class Scorer(Part, ABC):
    """The scorer contract, for the cover method under test (``conf/scorer``) and every baseline
    (``conf/baseline``) alike: ``fit(train, ctx) -> self`` reads the train thumbs and the context
    only (never a test thumb); ``score(test) -> Scores`` gives one float per test thumb and
    whether the method had evidence for it.

    ``neighbours_needed``: how many index neighbours per item the scorer reads from
    ``ctx.neighbours`` (0: none); the pipeline queries the index for at least that many.

    ``tune_grid``: the few hyper-parameters that matter and a small grid of values for each;
    with ``eval.tune=true`` every method (cover scorer and baselines alike) is tuned over it on
    a validation split of the train thumbs (:mod:`covers.evaluation.tuning`).
    """

    tune_grid: dict[str, tuple] = {}

    def neighbours_needed(self) -> int:
        return 0

    @abstractmethod
    def fit(self, train: pd.DataFrame, ctx: Context) -> "Scorer":
        """Learn from the train thumbs (calls :meth:`check` first); returns self."""

    @abstractmethod
    def score(self, test: pd.DataFrame) -> Scores:
        """Scores of the test thumbs (user, item codes), in their order."""


def signed_train_lookup(train: pd.DataFrame, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted keys user * n_items + item with their thumbs as +1/-1, for vectorised lookups."""
    keys = train["user"].to_numpy(np.int64) * n_items + train["item"].to_numpy(np.int64)
    vals = np.where(train["thumb"].to_numpy() > 0, 1.0, -1.0)
    order = np.argsort(keys, kind="stable")
    return keys[order], vals[order]


def lookup(keys: np.ndarray, vals: np.ndarray, query: np.ndarray) -> np.ndarray:
    """vals at ``query`` keys, 0 where a key is absent (vectorised by binary search)."""
    if keys.size == 0:
        return np.zeros(query.shape)
    pos = np.searchsorted(keys, query)
    pos = np.minimum(pos, keys.size - 1)
    return np.where(keys[pos] == query, vals[pos], 0.0)
