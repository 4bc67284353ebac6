"""Train/test splits of the thumbs.

Only the held-out thumbs are scored, and every scorer reads the train side
only, so nothing a test thumb says can leak into its own score.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import pandas as pd

from covers.utils import Part


@dataclass
class Split:
    train: pd.DataFrame
    test: pd.DataFrame
    n_users_filtered: int  # users dropped for having fewer than min_thumbs

    def stats(self) -> dict[str, float]:
        out: dict[str, float] = {"users_filtered": self.n_users_filtered}
        for side, t in (("train", self.train), ("test", self.test)):
            out[f"{side}_thumbs"] = len(t)
            out[f"{side}_users"] = int(t["user"].nunique())
            out[f"{side}_items"] = int(t["item"].nunique())
            out[f"{side}_up_rate"] = float(t["thumb"].mean()) if len(t) else float("nan")
        return out


class Splitter(Part, ABC):
    """The split contract: ``split(thumbs) -> Split`` (calls :meth:`check` first). Deterministic
    for its parameters (a seed where it draws); every test thumb's (user, item) is absent from
    the train side. The thumbs carry ``user``, ``item``, ``thumb`` and whatever the catalogue has
    beside them (``timestamp``; ``artist``, the item's artist code, see :func:`with_artists`);
    both sides keep every column, so a validation split of the train side can split again."""

    @abstractmethod
    def split(self, thumbs: pd.DataFrame) -> Split:
        """Train and test thumbs."""

    def _check_frac(self, name: str) -> None:
        v = getattr(self, name)
        if not 0.0 < v < 1.0:
            raise ValueError(f"{type(self).__name__}: {name} must be in (0, 1), got {v!r}")

    def _check_min_thumbs(self) -> None:
        if not self.min_thumbs >= 2:
            raise ValueError(f"{type(self).__name__}: min_thumbs must be >= 2 (one to train, one to test), "
                             f"got {self.min_thumbs!r}")


def _positions_in_user(users_sorted: np.ndarray, test_frac: float):
    """For thumbs sorted by user: each one's position within its user, and its user's thumb
    count and test count (round(frac * n), at least one, at most all but one), per thumb."""
    start = np.r_[0, np.flatnonzero(users_sorted[1:] != users_sorted[:-1]) + 1]
    sizes = np.diff(np.r_[start, len(users_sorted)])
    pos = np.arange(len(users_sorted)) - np.repeat(start, sizes)
    n_test = np.clip(np.rint(sizes * test_frac), 1, sizes - 1).astype(np.int64)
    return pos, np.repeat(sizes, sizes), np.repeat(n_test, sizes)


class UserHoldout(Splitter):
    """Hold out ``test_frac`` of each user's thumbs (at least one, at most all but one).

    Users with fewer than ``min_thumbs`` thumbs are left out of both sides and
    counted: with one or two thumbs there is nothing to learn from and test on.
    """

    def __init__(self, test_frac: float = 0.2, min_thumbs: int = 5, seed: int = 0) -> None:
        self.test_frac = test_frac
        self.min_thumbs = min_thumbs
        self.seed = seed

    def check(self) -> None:
        self._check_frac("test_frac")
        self._check_min_thumbs()

    def split(self, thumbs: pd.DataFrame) -> Split:
        self.check()
        counts = thumbs.groupby("user")["user"].transform("size").to_numpy()
        keep = counts >= self.min_thumbs
        n_filtered = int(thumbs.loc[~keep, "user"].nunique())
        t = thumbs.loc[keep]
        rng = np.random.default_rng(self.seed)
        # rank of each thumb inside its user by a random key = a seeded per-user shuffle
        order = np.lexsort((rng.random(len(t)), t["user"].to_numpy()))
        pos, sizes, n_test = _positions_in_user(t["user"].to_numpy()[order], self.test_frac)
        is_test = np.empty(len(t), dtype=bool)
        is_test[order] = pos < n_test
        return Split(t.loc[~is_test].reset_index(drop=True), t.loc[is_test].reset_index(drop=True), n_filtered)


def _filter_small_users(thumbs: pd.DataFrame, min_thumbs: int) -> tuple[pd.DataFrame, int]:
    counts = thumbs.groupby("user")["user"].transform("size").to_numpy()
    keep = counts >= min_thumbs
    return thumbs.loc[keep], int(thumbs.loc[~keep, "user"].nunique())


class Temporal(Splitter):
    """Hold out each user's latest ``test_frac`` of thumbs by timestamp (ties broken by file order).

    Needs a ``timestamp`` column; without one it says so instead of inventing an order.
    """

    def __init__(self, test_frac: float = 0.2, min_thumbs: int = 5) -> None:
        self.test_frac = test_frac
        self.min_thumbs = min_thumbs

    def check(self) -> None:
        self._check_frac("test_frac")
        self._check_min_thumbs()

    def split(self, thumbs: pd.DataFrame) -> Split:
        self.check()
        if "timestamp" not in thumbs:
            raise ValueError("split=temporal needs a 'timestamp' column in the thumbs; this dataset has none "
                             "(use split=user_holdout or split=cold_items)")
        t, n_filtered = _filter_small_users(thumbs, self.min_thumbs)
        order = np.lexsort((np.arange(len(t)), t["timestamp"].to_numpy(), t["user"].to_numpy()))
        pos, sizes, n_test = _positions_in_user(t["user"].to_numpy()[order], self.test_frac)
        is_test = np.empty(len(t), dtype=bool)
        is_test[order] = pos >= sizes - n_test  # the last n_test of each user
        return Split(t.loc[~is_test].reset_index(drop=True), t.loc[is_test].reset_index(drop=True), n_filtered)


class ColdItems(Splitter):
    """Hold out a seeded ``item_frac`` of the thumbed items entirely: all their thumbs in test, none in train.

    The case collaborative filtering is blind to and cover features are meant for.
    """

    def __init__(self, item_frac: float = 0.2, min_thumbs: int = 5, seed: int = 0) -> None:
        self.item_frac = item_frac
        self.min_thumbs = min_thumbs
        self.seed = seed

    def check(self) -> None:
        self._check_frac("item_frac")
        self._check_min_thumbs()

    def split(self, thumbs: pd.DataFrame) -> Split:
        self.check()
        t, n_filtered = _filter_small_users(thumbs, self.min_thumbs)
        items = np.unique(t["item"].to_numpy())
        rng = np.random.default_rng(self.seed)
        cold = rng.choice(items, size=max(1, int(round(self.item_frac * items.size))), replace=False)
        is_test = np.isin(t["item"].to_numpy(), cold)
        return Split(t.loc[~is_test].reset_index(drop=True), t.loc[is_test].reset_index(drop=True), n_filtered)


def with_artists(thumbs: pd.DataFrame, artists: np.ndarray | None) -> pd.DataFrame:
    """The thumbs with an ``artist`` column, their item's artist code (-1: unknown), when the
    catalogue has artists (:meth:`~covers.data.base.Catalogue.artists`); else as they are."""
    if artists is None:
        return thumbs
    return thumbs.assign(artist=np.asarray(artists, dtype=np.int64)[thumbs["item"].to_numpy()])


class ColdArtists(Splitter):
    """Hold out every album of a seeded ``artist_frac`` of the thumbed artists: all their thumbs
    in test, none in train, so no test album's artist is seen in training.

    ``cold_items`` lets a cover kNN find a held-out album's sibling by the same artist, which
    shares both its look and its fans (Oramas et al., TISMIR 2018, split with no artist overlap
    for this reason); here that route is closed. An album of unknown artist (-1) counts as its
    own artist: it is drawn alone, as in ``cold_items``. Needs the thumbs' ``artist`` column
    (:func:`with_artists`, which the pipeline adds when the items have an ``artist`` column).
    """

    def __init__(self, artist_frac: float = 0.2, min_thumbs: int = 5, seed: int = 0) -> None:
        self.artist_frac = artist_frac
        self.min_thumbs = min_thumbs
        self.seed = seed

    def check(self) -> None:
        self._check_frac("artist_frac")
        self._check_min_thumbs()

    def split(self, thumbs: pd.DataFrame) -> Split:
        self.check()
        if "artist" not in thumbs:
            raise ValueError("split=cold_artists needs item artists: an 'artist' column in items.csv (none in this "
                             "dataset; use split=cold_items)")
        art = thumbs["artist"].to_numpy(np.int64)
        if not (art >= 0).any():
            raise ValueError("split=cold_artists needs item artists: the 'artist' column of this dataset names no "
                             "artist (every cell empty; use split=cold_items)")
        t, n_filtered = _filter_small_users(thumbs, self.min_thumbs)
        a, it = t["artist"].to_numpy(np.int64), t["item"].to_numpy(np.int64)
        group = np.where(a >= 0, a, -1 - it)  # an unknown artist's album is its own artist
        groups = np.unique(group)
        rng = np.random.default_rng(self.seed)
        cold = rng.choice(groups, size=max(1, int(round(self.artist_frac * groups.size))), replace=False)
        is_test = np.isin(group, cold)
        return Split(t.loc[~is_test].reset_index(drop=True), t.loc[is_test].reset_index(drop=True), n_filtered)
