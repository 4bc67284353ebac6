"""What every dataset hands the pipeline."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from covers.data.sources import CoverSource


@dataclass
class SkipReport:
    """Everything a loader could not use, counted and listed - never dropped silently."""

    counts: dict[str, int] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)  # {"kind", "where", "what"}

    def add(self, kind: str, where: str, what: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.rows.append({"kind": kind, "where": where, "what": what})

    def add_many(self, kind: str, items: list[tuple[str, str]]) -> None:
        for where, what in items:
            self.add(kind, where, what)

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
class Dataset:
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

    def genres(self) -> np.ndarray | None:
        return self.items["genre"].to_numpy() if "genre" in self.items else None


def drop_items(ds: Dataset, bad: np.ndarray) -> Dataset:
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
    return Dataset(
        name=ds.name,
        root=ds.root,
        items=ds.items.loc[keep].reset_index(drop=True),
        thumbs=thumbs.reset_index(drop=True),
        covers=ds.covers.subset(keep),
        fingerprint=ds.fingerprint,
        skipped=ds.skipped,
    )
