"""covers.data.base: the Catalogue every dataset part loads (its one reading of genres, dropping
items with their thumbs and re-coding the rest) and the SkipReport of what it could not use."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from covers.data.base import Catalogue, SkipReport, drop_items
from covers.data.sources import FileCovers


def catalogue(items: pd.DataFrame, thumbs: pd.DataFrame | None = None) -> Catalogue:
    thumbs = thumbs if thumbs is not None else pd.DataFrame(columns=["user_id", "item_id", "thumb", "user", "item"])
    return Catalogue(name="t", root=Path("/t"), items=items, thumbs=thumbs,
                     covers=FileCovers([f"/t/{i}.png" for i in items["item_id"]]), fingerprint="f")


def test_genres_one_reading():
    multi = catalogue(pd.DataFrame({"item_id": list("abcd"), "genre": ["Rock", "Pop", "", "Jazz"],
                                    "genres": ["Rock|Classic Rock", "Pop", "", np.nan]}))
    assert multi.genres() == [frozenset({"Rock", "Classic Rock"}), frozenset({"Pop"}), frozenset(), frozenset()]
    single = catalogue(pd.DataFrame({"item_id": list("abc"), "genre": ["rock|pop", np.nan, "jazz"]}))
    assert single.genres() == [frozenset({"rock|pop"}), frozenset(), frozenset({"jazz"})]  # no split of 'genre'
    assert catalogue(pd.DataFrame({"item_id": ["a"]})).genres() is None


def test_drop_items_recodes_items_and_users():
    items = pd.DataFrame({"item_id": list("abcd"), "genre": list("wxyz")})
    thumbs = pd.DataFrame({"user_id": ["u1", "u1", "u2", "u3"], "item_id": ["a", "b", "c", "b"], "thumb": [1, 0, 1, 1],
                           "user": [0, 0, 1, 2], "item": [0, 1, 2, 1]})
    ds = catalogue(items, thumbs)
    ds.skipped.add("undecodable_cover", "/t/b.png", "zero-byte file")
    kept = drop_items(ds, np.array([1]))
    assert kept.items["item_id"].tolist() == ["a", "c", "d"] and kept.covers.paths == ["/t/a.png", "/t/c.png", "/t/d.png"]
    assert kept.thumbs[["user_id", "item_id", "user", "item"]].values.tolist() == [["u1", "a", 0, 0], ["u2", "c", 1, 1]]
    assert kept.n_users == 2 and kept.n_items == 3 and kept.skipped is ds.skipped and kept.fingerprint == "f"
    assert drop_items(ds, np.array([], dtype=int)) is ds


def test_skip_report():
    r = SkipReport()
    assert r.summary() == "nothing skipped" and r.total == 0 and list(r.frame().columns) == ["kind", "where", "what"]
    r.add("duplicate_thumb", "thumbs.csv:line 3", "u1 a again")
    r.add("missing_cover", "items.csv:line 2", "no file")
    r.add("duplicate_thumb", "thumbs.csv:line 9", "u2 b again")
    assert r.counts == {"duplicate_thumb": 2, "missing_cover": 1} and r.total == 3
    assert r.summary() == "duplicate_thumb: 2, missing_cover: 1"
    assert r.frame()["where"].tolist() == ["thumbs.csv:line 3", "items.csv:line 2", "thumbs.csv:line 9"]
