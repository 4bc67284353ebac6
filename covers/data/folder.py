"""The documented folder format (``dataset=folder dataset.path=DIR``).

    DIR/covers/<item_id>.<ext>      any format Pillow reads; sub-folders allowed
    DIR/thumbs.csv | thumbs.parquet user_id,item_id,thumb[,timestamp]
                                    thumb: 1/0, 1/-1, up/down, true/false, yes/no
    DIR/items.csv                   optional: item_id + any metadata (genre, ...)

Ids are strings. Problems are never dropped silently: each one is recorded in a
:class:`SkipReport` naming the file or row, and ``on_error="fail"`` turns the
first one into an exception instead.

Policies (documented, because they decide numbers):
- a thumb naming an item with no cover is skipped (``thumb_unknown_item``);
- an exact duplicate thumb is kept once (``duplicate_thumb``);
- conflicting thumbs of one user on one item keep the latest (by timestamp when
  there is one, else by file order) (``conflicting_thumb``);
- an ``items.csv`` row without a cover is skipped (``missing_cover``); a cover
  without an ``items.csv`` row is kept with empty metadata.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from covers.data.base import Dataset, SkipReport
from covers.data.sources import FileCovers

THUMB_VALUES = {
    "1": 1, "0": 0, "-1": 0, "1.0": 1, "0.0": 0, "-1.0": 0,
    "up": 1, "down": 0, "true": 1, "false": 0, "yes": 1, "no": 0,
}
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


class DatasetError(ValueError):
    """The dataset cannot be used as given (message names the file and row)."""


class FolderDataset:
    """Loads ``DIR`` in the folder format into a :class:`Dataset`."""

    def __init__(self, path: str, on_error: str = "skip", name: str | None = None) -> None:
        if on_error not in ("skip", "fail"):
            raise ValueError(f"on_error must be 'skip' or 'fail', got {on_error!r}")
        self.path = path
        self.on_error = on_error
        self.name = name

    def params(self) -> dict:
        return {"class": type(self).__name__, "path": str(self.path), "on_error": self.on_error}

    def _problem(self, report: SkipReport, kind: str, where: str, what: str) -> None:
        if self.on_error == "fail":
            raise DatasetError(f"{where}: {what}")
        report.add(kind, where, what)

    def load(self, cache_dir: str | Path | None = None) -> Dataset:
        root = Path(self.path).expanduser().resolve()
        if not root.is_dir():
            raise DatasetError(f"dataset folder {root} does not exist")
        report = SkipReport()
        covers = self._find_covers(root, report)
        thumbs = self._read_thumbs(root, report)
        items = self._read_items(root, covers, report)
        thumbs = self._clean_thumbs(thumbs, set(items["item_id"]), report)
        items = items.reset_index(drop=True)
        item_code = pd.Series(np.arange(len(items)), index=items["item_id"])
        thumbs["item"] = item_code.loc[thumbs["item_id"]].to_numpy()
        users = np.sort(thumbs["user_id"].unique())
        thumbs["user"] = pd.Series(np.arange(len(users)), index=users).loc[thumbs["user_id"]].to_numpy()
        paths = [str(covers[i]) for i in items["item_id"]]
        return Dataset(
            name=self.name or root.name,
            root=root,
            items=items,
            thumbs=thumbs.reset_index(drop=True),
            covers=FileCovers(paths),
            fingerprint=fingerprint(root, paths),
            skipped=report,
        )

    def _find_covers(self, root: Path, report: SkipReport) -> dict[str, Path]:
        cdir = root / "covers"
        if not cdir.is_dir():
            raise DatasetError(f"{root}: no covers/ folder (expected {cdir})")
        covers: dict[str, Path] = {}
        for p in sorted(cdir.rglob("*")):
            if not p.is_file() or p.name.startswith("."):
                continue
            if p.suffix.lower() not in IMAGE_EXTS:
                self._problem(report, "not_an_image_file", str(p), f"extension {p.suffix!r} is not an image format")
                continue
            if p.stem in covers:
                self._problem(report, "duplicate_cover_id", str(p), f"item id {p.stem!r} already has cover {covers[p.stem]}")
                continue
            covers[p.stem] = p
        if not covers:
            raise DatasetError(f"{cdir}: no cover images found")
        return covers

    def _read_thumbs(self, root: Path, report: SkipReport) -> pd.DataFrame:
        csv, pq = root / "thumbs.csv", root / "thumbs.parquet"
        if csv.exists():
            src = csv
            raw = pd.read_csv(csv, dtype=str, keep_default_na=False)
            offset = 2  # header is line 1
        elif pq.exists():
            src = pq
            raw = pd.read_parquet(pq).astype(str)
            offset = 0
        else:
            raise DatasetError(f"{root}: no thumbs.csv or thumbs.parquet")
        missing = {"user_id", "item_id", "thumb"} - set(raw.columns)
        if missing:
            raise DatasetError(f"{src}: missing column(s) {sorted(missing)}; has {list(raw.columns)}")
        raw["src_line"] = np.arange(len(raw)) + offset
        thumb = raw["thumb"].str.strip().str.lower().map(THUMB_VALUES)
        bad = thumb.isna() | (raw["user_id"].str.strip() == "") | (raw["item_id"].str.strip() == "")
        for r in raw.loc[bad].itertuples():
            self._problem(report, "malformed_thumb_row", f"{src}:{'line' if offset else 'row'} {r.src_line}",
                          f"cannot read user_id={r.user_id!r} item_id={r.item_id!r} thumb={r.thumb!r}")
        out = raw.loc[~bad, ["user_id", "item_id", "src_line"]].copy()
        out["user_id"] = out["user_id"].str.strip()
        out["item_id"] = out["item_id"].str.strip()
        out["thumb"] = thumb[~bad].astype(np.int8)
        for col, kind in (("timestamp", np.int64), ("true_score", np.float64)):
            if col in raw:
                vals = pd.to_numeric(raw.loc[~bad, col], errors="coerce")
                if vals.isna().any():
                    rows = raw.loc[~bad].loc[vals.isna(), "src_line"].tolist()
                    raise DatasetError(f"{src}: column {col!r} unreadable on line(s) {rows[:10]}")
                out[col] = vals.astype(kind)
        out.attrs["source"] = str(src)
        return out

    def _read_items(self, root: Path, covers: dict[str, Path], report: SkipReport) -> pd.DataFrame:
        ipath = root / "items.csv"
        ids = pd.DataFrame({"item_id": sorted(covers)})
        if not ipath.exists():
            return ids
        meta = pd.read_csv(ipath, dtype={"item_id": str}, keep_default_na=False)
        if "item_id" not in meta:
            raise DatasetError(f"{ipath}: missing column 'item_id'; has {list(meta.columns)}")
        dup = meta["item_id"].duplicated()
        for i in np.flatnonzero(dup):
            self._problem(report, "duplicate_item_row", f"{ipath}:line {i + 2}", f"item {meta['item_id'].iat[i]!r} listed twice; first kept")
        meta = meta.loc[~dup]
        nocover = ~meta["item_id"].isin(covers)
        for i in np.flatnonzero(nocover):
            self._problem(report, "missing_cover", f"{ipath}:line {int(meta.index[i]) + 2}", f"item {meta['item_id'].iat[i]!r} has no file under covers/")
        return ids.merge(meta.loc[~nocover], on="item_id", how="left")

    def _clean_thumbs(self, t: pd.DataFrame, known: set[str], report: SkipReport) -> pd.DataFrame:
        src = t.attrs.get("source", "thumbs")
        unknown = ~t["item_id"].isin(known)
        for r in t.loc[unknown].itertuples():
            self._problem(report, "thumb_unknown_item", f"{src}:line {r.src_line}", f"item {r.item_id!r} has no cover")
        t = t.loc[~unknown]
        order = ["timestamp", "src_line"] if "timestamp" in t else ["src_line"]
        t = t.sort_values(order, kind="stable")
        exact = t.duplicated(["user_id", "item_id", "thumb"], keep="last")
        for r in t.loc[exact].itertuples():
            self._problem(report, "duplicate_thumb", f"{src}:line {r.src_line}", f"user {r.user_id!r} item {r.item_id!r} repeated; one kept")
        t = t.loc[~exact]
        conflict = t.duplicated(["user_id", "item_id"], keep="last")
        for r in t.loc[conflict].itertuples():
            self._problem(report, "conflicting_thumb", f"{src}:line {r.src_line}", f"user {r.user_id!r} item {r.item_id!r} thumbed both ways; latest kept")
        t = t.loc[~conflict].sort_values("src_line", kind="stable")
        return t.drop(columns="src_line")


def fingerprint(root: Path, cover_paths: list[str]) -> str:
    """Content hash of the thumbs, items and every cover's bytes (not their mtimes)."""
    h = hashlib.blake2b(digest_size=16)
    for name in ("thumbs.csv", "thumbs.parquet", "items.csv"):
        p = root / name
        if p.exists():
            h.update(name.encode())
            h.update(hashlib.blake2b(p.read_bytes(), digest_size=16).digest())
    for p in cover_paths:
        h.update(str(Path(p).relative_to(root)).encode())
        h.update(hashlib.blake2b(Path(p).read_bytes(), digest_size=16).digest())
    return h.hexdigest()
