"""Cover-kNN scorer: the seed experiment's way of turning image similarity into a thumb prediction."""
from __future__ import annotations

import numpy as np
import pandas as pd

from covers.data.base import item_artists
from covers.scorers.base import Context, Scorer, Scores, lookup, signed_train_lookup


def drop_same_artist(nb_ids: np.ndarray, artists: np.ndarray | None) -> np.ndarray:
    """A copy of ``nb_ids`` with each neighbour by its row item's own (known) artist set to -1,
    the empty slot every reader of neighbours already skips."""
    if artists is None or not (np.asarray(artists) >= 0).any():
        raise ValueError("KNNScorer: exclude_same_artist=true needs item artists (an 'artist' column in items.csv "
                         + ("naming at least one artist)" if artists is not None else "; this dataset has none)"))
    artists = np.asarray(artists, dtype=np.int64)
    if len(artists) != len(nb_ids):
        raise ValueError(f"KNNScorer: {len(artists)} item artists for {len(nb_ids)} items' neighbours")
    nb_art = np.where(nb_ids >= 0, artists[np.maximum(nb_ids, 0)], -1)
    same = (nb_art == artists[:, None]) & (artists[:, None] >= 0)
    return np.where(same, -1, nb_ids)


class KNNScorer(Scorer):
    """Similarity-weighted vote of the user's own train thumbs among the item's neighbours.

    For a test thumb (u, i) with index neighbours j in N_k(i) and similarities
    s_ij (negative similarities clipped to 0), and t_uj = +1 / -1 for a train
    thumb up / down of u on j (0 if u never thumbed j)::

        score(u, i) = sum_j s_ij t_uj / (sum_j s_ij |t_uj| + shrinkage)

    ``shrinkage`` > 0 pulls scores backed by little evidence towards 0. A thumb
    with no thumbed neighbour gets 0 and counts as not covered. Neighbours come
    from the index, so ``n_trees`` and ``search_k`` change the outcome.

    ``exclude_same_artist``: neighbours by the queried album's own artist get weight 0 (as if
    the index had not returned them), so the vote uses other artists' albums only: albums of
    one artist share a look and their fans, and a kNN that only finds the artist says nothing
    about covers. Needs the items' ``artist`` column (``ctx.items``); an album or neighbour of
    unknown artist is never excluded.
    """

    speed_params = ("chunk",)
    tune_grid = {"k": (10, 25, 50, 100, 200), "shrinkage": (0.0, 1.0, 10.0, 50.0, 200.0)}

    def __init__(self, k: int = 50, shrinkage: float = 1.0, exclude_same_artist: bool = False,
                 chunk: int = 200_000) -> None:
        self.k = k
        self.shrinkage = shrinkage
        self.exclude_same_artist = exclude_same_artist
        self.chunk = chunk

    def check(self) -> None:
        self._require_int("k", "chunk")
        if not self.shrinkage >= 0:
            raise ValueError(f"{type(self).__name__}: shrinkage must be >= 0, got {self.shrinkage!r}")
        if not isinstance(self.exclude_same_artist, bool):
            raise ValueError(f"{type(self).__name__}: exclude_same_artist must be true or false, "
                             f"got {self.exclude_same_artist!r}")

    def neighbours_needed(self) -> int:
        return self.k

    def fit(self, train: pd.DataFrame, ctx: Context) -> "KNNScorer":
        self.check()
        if ctx.neighbours is None:
            raise ValueError("KNNScorer needs the index's neighbours in the context")
        if ctx.neighbours.ids.shape[1] < self.k:
            raise ValueError(f"index returned {ctx.neighbours.ids.shape[1]} neighbours, scorer needs k={self.k}")
        self.n_items_ = ctx.n_items
        self.nb_ids_ = ctx.neighbours.ids[:, : self.k]
        if self.exclude_same_artist:
            self.nb_ids_ = drop_same_artist(self.nb_ids_, item_artists(ctx.items))
        self.nb_sims_ = np.clip(ctx.neighbours.sims[:, : self.k], 0.0, None)
        self.keys_, self.vals_ = signed_train_lookup(train, ctx.n_items)
        return self

    def score(self, test: pd.DataFrame) -> Scores:
        users = test["user"].to_numpy(np.int64)
        items = test["item"].to_numpy(np.int64)
        scores = np.zeros(len(test))
        covered = np.zeros(len(test), dtype=bool)
        for s in range(0, len(test), self.chunk):
            u, it = users[s:s + self.chunk], items[s:s + self.chunk]
            nb = self.nb_ids_[it]
            q = u[:, None] * self.n_items_ + nb
            t = np.where(nb >= 0, lookup(self.keys_, self.vals_, q), 0.0)
            w = self.nb_sims_[it]
            num = (w * t).sum(1)
            den = (w * np.abs(t)).sum(1)
            scores[s:s + self.chunk] = num / (den + self.shrinkage) if self.shrinkage > 0 else np.divide(
                num, den, out=np.zeros_like(num), where=den > 0)
            covered[s:s + self.chunk] = (t != 0).any(1)
        return Scores(scores, covered)
