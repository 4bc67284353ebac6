"""The dataset contract: what every ``conf/dataset/<choice>.yaml`` part is and hands the pipeline.

A :class:`Dataset` part (``FolderDataset``, ``SyntheticWorld``) is configuration only; its
:meth:`Dataset.load` returns a :class:`Catalogue`: the items in feature-matrix order, the
thumbs with integer codes, a source of cover pixels, a content fingerprint (the root of every
cache key) and the :class:`SkipReport` of everything it could not use.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from covers.data.sources import CoverSource
from covers.utils import Part

ON_ERROR = ("skip", "fail")


@dataclass
class SkipReport:
    """Everything a loader could not use, counted and listed - never dropped silently."""

    counts: dict[str, int] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)  # {"kind", "where", "what"}

    def add(self, kind: str, where: str, what: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.rows.append({"kind": kind, "where": where, "what": what})

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["kind", "where", "what"])

    def summary(self) -> str:
        if not self.counts:
            return "nothing skipped"
        return ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items()))


@dataclass
class Catalogue:
    """A catalogue of covers plus thumbs, with integer codes for fast evaluation.

    ``items`` rows are in feature-matrix order (row i of the features is item i);
    ``thumbs`` carries ``user`` and ``item`` integer codes next to the string ids.
    """

    name: str
    root: Path
    items: pd.DataFrame  # item_id (str) + metadata (genre, ...)
    thumbs: pd.DataFrame  # user_id, item_id, thumb (0/1), user, item, [timestamp, true_score]
    covers: CoverSource  # pixels of item i, at any size
    fingerprint: str
    skipped: SkipReport = field(default_factory=SkipReport)
    on_error: str = "skip"  # a cover that cannot be decoded: skip it (counted, listed) or fail the run

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_users(self) -> int:
        return int(self.thumbs["user"].max()) + 1 if len(self.thumbs) else 0

    def stats(self) -> dict[str, float]:
        t = self.thumbs
        return {
            "n_items": self.n_items,
            "n_users": int(t["user_id"].nunique()),
            "n_thumbs": len(t),
            "up_rate": float(t["thumb"].mean()) if len(t) else float("nan"),
            "n_skipped": self.skipped.total,
        }

    def genres(self) -> list[frozenset] | None:
        """Each item's genres, the one reading of them: the pipe-separated ``genres`` column if
        present, else ``genre``; an empty cell is no genre. None when the items have neither."""
        col = "genres" if "genres" in self.items else "genre" if "genre" in self.items else None
        if col is None:
            return None
        sep = "|" if col == "genres" else None
        return [frozenset() if v != v or v is None else
                frozenset(x for x in (str(v).split(sep) if sep else [str(v)]) if x) for v in self.items[col]]

    def artists(self) -> np.ndarray | None:
        """Each item's artist as an integer code (-1: unknown); None without an ``artist`` column.
        See :func:`item_artists`."""
        return item_artists(self.items)


def item_artists(items: pd.DataFrame | None) -> np.ndarray | None:
    """The one reading of the items' ``artist`` column: int64 codes in item order, numbered by
    sorted artist name, -1 where the artist is unknown (an empty or whitespace-only cell, or no
    metadata row). Names are compared exactly after stripping whitespace ("The Cure" and "the
    cure" are two artists). None when ``items`` is None or has no ``artist`` column."""
    if items is None or "artist" not in items:
        return None
    names = items["artist"].astype(object).where(items["artist"].notna(), "").astype(str).str.strip()
    known = (names != "").to_numpy()
    codes = np.full(len(names), -1, dtype=np.int64)
    codes[known] = np.unique(names[known].to_numpy(), return_inverse=True)[1]
    return codes


def drop_items(ds: Catalogue, bad: np.ndarray) -> Catalogue:
    """A copy of ``ds`` without the items at positions ``bad`` (and their thumbs), re-coded."""
    bad = np.asarray(bad, dtype=np.int64)
    if bad.size == 0:
        return ds
    keep = np.ones(ds.n_items, dtype=bool)
    keep[bad] = False
    new_code = np.cumsum(keep) - 1
    thumbs = ds.thumbs.loc[keep[ds.thumbs["item"].to_numpy()]].copy()
    thumbs["item"] = new_code[thumbs["item"].to_numpy()]
    users = np.sort(thumbs["user_id"].unique())
    thumbs["user"] = pd.Series(np.arange(len(users)), index=users).loc[thumbs["user_id"]].to_numpy()
    return Catalogue(
        name=ds.name,
        root=ds.root,
        items=ds.items.loc[keep].reset_index(drop=True),
        thumbs=thumbs.reset_index(drop=True),
        covers=ds.covers.subset(keep),
        fingerprint=ds.fingerprint,
        skipped=ds.skipped,
        on_error=ds.on_error,
    )


class Dataset(Part, ABC):
    """A dataset part: ``load(cache_dir)`` -> :class:`Catalogue`.

    ``cache_dir`` is where a part may keep what it derives (generated worlds, cover digests);
    ``on_error`` says what a problem in the data does: ``skip`` (counted, listed in
    ``skipped.csv``, the run goes on) or ``fail`` (the run stops at the first one). It covers
    loading (bad rows) and decoding (undecodable covers) alike: the catalogue carries it.
    """

    on_error: str

    def check(self) -> None:
        if self.on_error not in ON_ERROR:
            raise ValueError(f"{type(self).__name__}: on_error must be one of {ON_ERROR}, got {self.on_error!r}")

    @abstractmethod
    def load(self, cache_dir: str | Path | None = None) -> Catalogue:
        """Read (or generate, then read) the catalogue. Calls :meth:`check` first."""
