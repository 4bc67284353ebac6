"""The documented folder format (``dataset=folder dataset.path=DIR``).

    DIR/covers/<item_id>.<ext>      any format Pillow reads; sub-folders allowed
    DIR/thumbs.csv | thumbs.parquet user_id,item_id,thumb[,timestamp][,true_score]
                                    thumb: 1/0, 1/-1, up/down, true/false, yes/no
                                    timestamp: unix seconds or ISO 8601 (read as UTC)
    DIR/items.csv                   optional: item_id + any metadata (genre, artist, ...)
                                    artist: a name (string); empty = unknown artist

Ids are strings (``007`` stays ``007``). CSVs are UTF-8 (a BOM is fine). Problems are
never dropped silently: each one is recorded in a :class:`SkipReport` naming the file and
line (``row`` for parquet) and what is wrong, and ``on_error="fail"`` turns the first one
into an exception instead.

Policies (documented, because they decide numbers):

- a thumb naming an item with no cover is skipped (``thumb_unknown_item``);
- a thumbs row that cannot be read - a thumb value not listed above, an empty id, a wrong
  number of fields, an unreadable timestamp / true_score - is skipped
  (``malformed_thumb_row``); blank lines are not rows and are ignored;
- an exact duplicate thumb is kept once (``duplicate_thumb``);
- conflicting thumbs of one user on one item keep the latest (by timestamp when
  there is one, else by file order) (``conflicting_thumb``);
- an ``items.csv`` row without a cover is skipped (``missing_cover``), one that cannot be
  read (empty id, wrong number of fields) too (``malformed_item_row``), a repeated item
  keeps its first row (``duplicate_item_row``); a cover without an ``items.csv`` row is kept
  with empty metadata;
- an ``artist`` cell is stripped of whitespace; an empty one is an unknown artist. A placeholder
  that names no artist (:data:`ARTIST_PLACEHOLDERS`: ``nan``, ``None``, ``Unknown``,
  ``Various Artists``, ...) is read as unknown and reported (``placeholder_artist``): kept as a
  name it would make every such album one artist, and artist-aware evaluation
  (``split=cold_artists``, ``scorer.exclude_same_artist``) would treat them as one;
- a file under covers/ whose extension is not an image format is skipped
  (``not_an_image_file``); two files with one stem keep the first in path order
  (``duplicate_cover_id``). Files that have an image extension but are empty, truncated or
  not images are found when decoded: the pipeline drops them as ``undecodable_cover``
  (``CoverSource.decode(..., on_error="skip")``); ``python -m covers validate`` finds
  them before a run.
- users whose thumbs are all up (or all down) are **kept**, not skipped: their thumbs
  still train and count in ``thumbs_auc``; only ``user_auc`` cannot score them, and the
  evaluation already counts those per split (``users_skipped_one_class``). They are
  logged here and listed by ``validate`` (:func:`one_class_users`), and are not in the
  SkipReport, whose every row is something the run did not use.

Each kind lists its first :data:`LIST_LIMIT` rows; beyond that one summary row says how
many more there are, and the count stays exact (a 25M-rating catalogue with millions of
thumbs on cover-less items would otherwise make a gigabyte-sized ``skipped.csv``).
"""
from __future__ import annotations

import csv
import hashlib
import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import features as pil_features

from covers.data.base import Catalogue, Dataset, SkipReport
from covers.data.digests import cover_digests, file_digest
from covers.data.sources import FileCovers

log = logging.getLogger(__name__)

THUMB_VALUES = {
    "1": 1, "0": 0, "-1": 0, "1.0": 1, "0.0": 0, "-1.0": 0,
    "up": 1, "down": 0, "true": 1, "false": 0, "yes": 1, "no": 0,
}
IMAGE_EXTS = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff",
              ".ppm", ".pgm"} | ({".avif"} if pil_features.check("avif") else set())
#: ``artist`` values that name no artist (compared lower-case): read as unknown, and reported
ARTIST_PLACEHOLDERS = frozenset({"nan", "none", "null", "n/a", "unknown", "unknown artist", "[unknown]",
                                 "various", "various artists", "[various artists]"})
#: rows listed per skip kind; the counts are always exact
LIST_LIMIT = 10_000


class DatasetError(ValueError):
    """The dataset cannot be used as given (message names the file and row)."""


def one_class_users(thumbs: pd.DataFrame) -> pd.DataFrame:
    """Users whose thumbs are all up or all down: ``user_id, n_thumbs, thumb`` (kept in the data)."""
    g = thumbs.groupby("user_id", sort=True)["thumb"].agg(["size", "min", "max"])
    one = g[g["min"] == g["max"]]
    return pd.DataFrame({"user_id": one.index.astype(str), "n_thumbs": one["size"].to_numpy(),
                         "thumb": np.where(one["min"].to_numpy() == 1, "up", "down")})


def read_csv_rows(path: Path, columns_hint: str) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """``path`` as strings + ``src_line`` (1-based file line), and the rows with a wrong
    number of fields as (line, what). Fast pandas parse; a ragged file is re-read with the
    csv module so that every bad row is named instead of failing the whole file."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, index_col=False,
                              skip_blank_lines=False, encoding="utf-8-sig")
        ragged = any(issubclass(w.category, pd.errors.ParserWarning) for w in caught)
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                           "re-save it as UTF-8") from exc
    except pd.errors.EmptyDataError as exc:
        raise DatasetError(f"{path}: empty file; expected a header line ({columns_hint})") from exc
    except pd.errors.ParserError:
        ragged = True
    if not ragged:
        raw["src_line"] = np.arange(len(raw)) + 2  # header is line 1; blank lines are kept as rows
        blank = (raw.drop(columns="src_line") == "").all(axis=1)
        return raw.loc[~blank].reset_index(drop=True), []
    bad: list[tuple[int, str]] = []
    rows, lines = [], []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader)
        for row in reader:
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                bad.append((reader.line_num, f"{len(row)} fields, the header has {len(header)}: {row[:6]!r}"))
                continue
            rows.append(row)
            lines.append(reader.line_num)
    raw = pd.DataFrame(rows, columns=header, dtype=str) if rows else pd.DataFrame(columns=header, dtype=str)
    raw["src_line"] = np.asarray(lines, dtype=np.int64)
    return raw, bad


def _timestamps(vals: pd.Series) -> pd.Series:
    """Unix seconds, or ISO 8601 dates (UTC) -> int seconds; NaN where unreadable."""
    out = pd.to_numeric(vals, errors="coerce")
    text = out.isna() & (vals.str.strip() != "")
    if text.any():
        dt = pd.to_datetime(vals[text], errors="coerce", utc=True, format="ISO8601")
        out.loc[text] = (dt - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    return out


class FolderDataset(Dataset):
    """Loads ``DIR`` in the folder format into a :class:`~covers.data.base.Catalogue`."""

    def __init__(self, path: str, on_error: str = "skip", name: str | None = None) -> None:
        self.path = path
        self.on_error = on_error
        self.name = name

    def _problem(self, report: SkipReport, kind: str, where: str, what: str) -> None:
        if self.on_error == "fail":
            raise DatasetError(f"{where}: {what}")
        report.add(kind, where, what)

    def _problems(self, report: SkipReport, kind: str, n: int, first: list[tuple[str, str]], src: str) -> None:
        """``n`` problems of one kind, of which ``first`` are the first LIST_LIMIT (where, what)."""
        for where, what in first[:LIST_LIMIT]:
            self._problem(report, kind, where, what)
        rest = n - min(len(first), LIST_LIMIT)
        if rest > 0:
            report.counts[kind] = report.counts.get(kind, 0) + rest
            report.rows.append({"kind": kind, "where": src,
                                "what": f"... and {rest} more {kind} rows (not listed; the count is exact)"})

    def load(self, cache_dir: str | Path | None = None) -> Catalogue:
        self.check()
        root = Path(self.path).expanduser().resolve()
        if not root.is_dir():
            raise DatasetError(f"dataset folder {root} does not exist")
        report = SkipReport()
        covers = self._find_covers(root, report)
        thumbs = self._read_thumbs(root, report)
        items, listed = self._read_items(root, covers, report)
        n_read = len(thumbs)
        thumbs = self._clean_thumbs(thumbs, set(items["item_id"]), listed, report)
        if thumbs.empty:
            raise DatasetError(f"{thumbs.attrs.get('source', root)}: no usable thumbs "
                               f"({n_read} readable rows; skipped: {report.summary()}); first problems: "
                               + "; ".join(f"{r['where']}: {r['what']}" for r in report.rows[:3]))
        items = items.reset_index(drop=True)
        item_code = pd.Series(np.arange(len(items)), index=items["item_id"])
        thumbs["item"] = item_code.loc[thumbs["item_id"]].to_numpy()
        users = np.sort(thumbs["user_id"].unique())
        thumbs["user"] = pd.Series(np.arange(len(users)), index=users).loc[thumbs["user_id"]].to_numpy()
        one = one_class_users(thumbs)
        if len(one):
            log.info("%s: %d of %d users have only one kind of thumb (kept; user_auc cannot score them)",
                     root, len(one), len(users))
        paths = [str(covers[i]) for i in items["item_id"]]
        return Catalogue(
            name=self.name or root.name,
            root=root,
            items=items,
            thumbs=thumbs.reset_index(drop=True),
            covers=FileCovers(paths),
            fingerprint=fingerprint(root, paths, cache_dir),
            skipped=report,
            on_error=self.on_error,
        )

    def _find_covers(self, root: Path, report: SkipReport) -> dict[str, Path]:
        cdir = root / "covers"
        if not cdir.is_dir():
            raise DatasetError(f"{root}: no covers/ folder (expected {cdir})")
        covers: dict[str, Path] = {}
        for p in sorted(cdir.rglob("*")):
            if not p.is_file() or p.name.startswith("."):  # hidden: .DS_Store, downloader temp files
                continue
            if p.suffix.lower() not in IMAGE_EXTS:
                self._problem(report, "not_an_image_file", str(p), f"extension {p.suffix!r} is not an image format")
                continue
            if p.stem in covers:
                self._problem(report, "duplicate_cover_id", str(p), f"item id {p.stem!r} already has cover {covers[p.stem]}")
                continue
            covers[p.stem] = p
        if not covers:
            raise DatasetError(f"{cdir}: no cover images found (extensions read: {' '.join(sorted(IMAGE_EXTS))})")
        return covers

    def _read_thumbs(self, root: Path, report: SkipReport) -> pd.DataFrame:
        csv_path, pq = root / "thumbs.csv", root / "thumbs.parquet"
        if csv_path.exists():
            src, unit = csv_path, "line"
            raw, ragged = read_csv_rows(csv_path, "user_id,item_id,thumb[,timestamp]")
        elif pq.exists():
            src, unit = pq, "row"
            raw = pd.read_parquet(pq)
            raw = raw.astype(object).where(raw.notna(), "").astype(str)  # nulls -> "" (malformed), not "None"
            raw["src_line"] = np.arange(len(raw))
            ragged = []
        else:
            raise DatasetError(f"{root}: no thumbs.csv or thumbs.parquet")
        missing = {"user_id", "item_id", "thumb"} - set(raw.columns)
        if missing:
            raise DatasetError(f"{src}: missing column(s) {sorted(missing)}; has {[c for c in raw.columns if c != 'src_line']}")
        for c in ("user_id", "item_id", "thumb"):
            raw[c] = raw[c].str.strip()
        thumb = raw["thumb"].str.lower().map(THUMB_VALUES)
        unreadable = thumb.isna() | (raw["user_id"] == "") | (raw["item_id"] == "")
        bad = unreadable.copy()
        extra: dict[str, pd.Series] = {}
        col_bad: dict[str, pd.Series] = {}
        for col, parse in (("timestamp", _timestamps), ("true_score", lambda v: pd.to_numeric(v, errors="coerce"))):
            if col in raw:
                vals = parse(raw[col].str.strip())
                col_bad[col] = vals.isna() & ~bad
                bad |= col_bad[col]
                extra[col] = vals

        def why(i) -> str:  # built for the listed rows only: a huge file may have millions
            if unreadable.at[i]:
                return f"cannot read user_id={raw.at[i, 'user_id']!r} item_id={raw.at[i, 'item_id']!r} thumb={raw.at[i, 'thumb']!r}"
            col = next(c for c, m in col_bad.items() if m.at[i])
            return f"{col} {raw.at[i, col]!r} is not a number{' or an ISO date' if col == 'timestamp' else ''}"

        listed = [(f"{src}:line {ln}", what) for ln, what in ragged]
        listed += [(f"{src}:{unit} {raw.at[i, 'src_line']}", why(i)) for i in raw.index[bad][:LIST_LIMIT]]
        self._problems(report, "malformed_thumb_row", len(ragged) + int(bad.sum()), listed, str(src))
        out = raw.loc[~bad, ["user_id", "item_id", "src_line"]].copy()
        out["thumb"] = thumb[~bad].astype(np.int8)
        if "timestamp" in extra:
            out["timestamp"] = extra["timestamp"][~bad].astype(np.int64)
        if "true_score" in extra:
            out["true_score"] = extra["true_score"][~bad].astype(np.float64)
        out.attrs.update(source=str(src), unit=unit)
        return out

    def _read_items(self, root: Path, covers: dict[str, Path], report: SkipReport) -> tuple[pd.DataFrame, set[str]]:
        """Items with a cover (+ metadata) and the ids ``items.csv`` lists (for messages)."""
        ipath = root / "items.csv"
        ids = pd.DataFrame({"item_id": sorted(covers)})
        if not ipath.exists():
            return ids, set()
        meta, ragged = read_csv_rows(ipath, "item_id,genre,...")
        if "item_id" not in meta:
            raise DatasetError(f"{ipath}: missing column 'item_id'; has {[c for c in meta.columns if c != 'src_line']}")
        meta["item_id"] = meta["item_id"].str.strip()
        empty = meta["item_id"] == ""
        listed = [(f"{ipath}:line {ln}", what) for ln, what in ragged]
        listed += [(f"{ipath}:line {ln}", "empty item_id") for ln in meta.loc[empty, "src_line"][:LIST_LIMIT]]
        self._problems(report, "malformed_item_row", len(ragged) + int(empty.sum()), listed, str(ipath))
        meta = meta.loc[~empty]
        dup = meta["item_id"].duplicated()
        self._problems(report, "duplicate_item_row", int(dup.sum()),
                       [(f"{ipath}:line {ln}", f"item {i!r} listed twice; first kept")
                        for ln, i in zip(meta.loc[dup, "src_line"][:LIST_LIMIT], meta.loc[dup, "item_id"])], str(ipath))
        meta = meta.loc[~dup]
        listed_ids = set(meta["item_id"])
        nocover = ~meta["item_id"].isin(covers)
        self._problems(report, "missing_cover", int(nocover.sum()),
                       [(f"{ipath}:line {ln}", f"item {i!r} has no file under covers/")
                        for ln, i in zip(meta.loc[nocover, "src_line"][:LIST_LIMIT], meta.loc[nocover, "item_id"])], str(ipath))
        meta = meta.loc[~nocover]
        if "artist" in meta:
            meta = self._read_artists(meta, ipath, report)
        meta = meta.drop(columns="src_line")
        return ids.merge(meta, on="item_id", how="left"), listed_ids

    def _read_artists(self, meta: pd.DataFrame, ipath: Path, report: SkipReport) -> pd.DataFrame:
        """``artist`` stripped; placeholders (:data:`ARTIST_PLACEHOLDERS`) reported and emptied (unknown)."""
        meta = meta.assign(artist=meta["artist"].str.strip())
        bad = meta["artist"].str.lower().isin(ARTIST_PLACEHOLDERS)
        self._problems(report, "placeholder_artist", int(bad.sum()),
                       [(f"{ipath}:line {ln}", f"item {i!r}: artist {a!r} names no artist; read as unknown")
                        for ln, i, a in zip(meta.loc[bad, "src_line"][:LIST_LIMIT], meta.loc[bad, "item_id"],
                                            meta.loc[bad, "artist"])], str(ipath))
        meta.loc[bad, "artist"] = ""
        return meta

    def _clean_thumbs(self, t: pd.DataFrame, known: set[str], listed: set[str], report: SkipReport) -> pd.DataFrame:
        src, unit = t.attrs.get("source", "thumbs"), t.attrs.get("unit", "line")
        attrs = dict(t.attrs)

        def where(rows: pd.DataFrame) -> list[str]:
            return [f"{src}:{unit} {ln}" for ln in rows["src_line"][:LIST_LIMIT]]

        unknown = ~t["item_id"].isin(known)
        first = t.loc[unknown].head(LIST_LIMIT)
        whats = []
        for i in first["item_id"]:
            stem = Path(i).stem
            if i in listed:
                whats.append(f"item {i!r} has no cover file under covers/ (it is in items.csv)")
            elif stem != i and stem in known:
                whats.append(f"item {i!r} has no cover (did you mean {stem!r}? ids are cover file names without the extension)")
            else:
                whats.append(f"item {i!r} has no cover file under covers/")
        self._problems(report, "thumb_unknown_item", int(unknown.sum()), list(zip(where(first), whats)), src)
        t = t.loc[~unknown]
        order = ["timestamp", "src_line"] if "timestamp" in t else ["src_line"]
        t = t.sort_values(order, kind="stable")
        exact = t.duplicated(["user_id", "item_id", "thumb"], keep="last")
        rows = t.loc[exact]
        self._problems(report, "duplicate_thumb", len(rows),
                       [(w, f"user {u!r} item {i!r} repeated; one kept")
                        for w, u, i in zip(where(rows), rows["user_id"], rows["item_id"])], src)
        t = t.loc[~exact]
        conflict = t.duplicated(["user_id", "item_id"], keep="last")
        rows = t.loc[conflict]
        self._problems(report, "conflicting_thumb", len(rows),
                       [(w, f"user {u!r} item {i!r} thumbed both ways; latest kept")
                        for w, u, i in zip(where(rows), rows["user_id"], rows["item_id"])], src)
        t = t.loc[~conflict].sort_values("src_line", kind="stable").drop(columns="src_line")
        t.attrs.update(attrs)
        return t


def fingerprint(root: Path, cover_paths: list[str], cache_dir: str | Path | None = None) -> str:
    """Content hash of the thumbs, items and every cover's bytes (not their mtimes). With a
    ``cache_dir``, covers unchanged in size and mtime since the last run are not read again."""
    h = hashlib.blake2b(digest_size=16)
    for name in ("thumbs.csv", "thumbs.parquet", "items.csv"):
        p = root / name
        if p.exists():
            h.update(name.encode())
            h.update(file_digest(p))
    for p, d in zip(cover_paths, cover_digests(root, cover_paths, cache_dir)):
        h.update(str(Path(p).relative_to(root)).encode())
        h.update(d)
    return h.hexdigest()
