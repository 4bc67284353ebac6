"""Amazon Reviews "CDs & Vinyl" -> the folder format (covers come later: ``download.py``).

    python -m covers.data.adapters.amazon --reviews CDs_and_Vinyl.json.gz \\
        --meta meta_CDs_and_Vinyl.json.gz --out DIR [--up 4 --down 2] [--min-user-thumbs 1]
    python -m covers.data.adapters.download DIR

Writes ``DIR/thumbs.csv`` (user_id,item_id,thumb,timestamp), ``DIR/items.csv``
(item_id,title,artist,genre,genres), ``DIR/cover_urls.csv`` (item_id,url) and
``DIR/adapter_report.json``. Leaves ``DIR/covers/`` alone, so it can be re-run.
Inputs may be gzip or plain (detected by content). The format of each line is detected
from its keys, so these all work:

* **2018** (McAuley, "Amazon Review Data 2018"), JSON lines.
  Reviews: ``reviewerID``, ``asin``, ``overall`` (1-5), ``unixReviewTime`` (s).
  Meta: ``asin``, ``title``, ``brand`` (the artist, for music), ``category`` (list, e.g.
  ``["CDs & Vinyl", "Rock", "Classic Rock"]``), ``imageURLHighRes`` / ``imageURL`` (lists).
  Also the "ratings only" CSVs (no header): 2018 ``item,user,rating,timestamp``, 2014
  ``user,item,rating,timestamp`` (``--csv-order user,item``).
* **2014** meta (``imUrl``, ``categories`` as a list of lists, Python-literal lines).
* **2023** (McAuley Lab, "Amazon Reviews'23"), JSONL.
  Reviews: ``user_id``, ``parent_asin`` (else ``asin``), ``rating``, ``timestamp`` (ms).
  Meta: ``parent_asin``, ``title``, ``store`` (artist), ``categories``, ``main_category``,
  ``images``: list of ``{thumb, large, hi_res, variant}`` (or the Hugging Face
  dict-of-lists form).

Policies:

* item id: 2023 ``parent_asin`` (what the meta is keyed by), else ``asin``; kept as a string.
* cover URL: the ``MAIN`` image first; ``--prefer large`` (default; ~500 px, plenty for
  <= 64 px features and several times smaller than hi_res) or ``hi_res``. 2018
  ``imageURL`` entries are 40 px thumbnails (``..._SS40_.jpg``): the size token is removed
  to get the full image, which is what ``imageURLHighRes`` holds.
* genre: categories minus the store's root labels ("CDs & Vinyl", "Music", ...); ``genre``
  is the first remaining (the top-level genre), ``genres`` all of them, ``|``-separated;
  empty when there are none. HTML entities (``&amp;``) are decoded.
* a rating of an item with no meta line, or with no image URL, is dropped and counted:
  without a cover it cannot be used. Only items with at least one thumb are written (an
  unthumbed cover would only take neighbour slots in the index).
* duplicate meta lines (the 2018 file has some): the first is kept, the rest counted.
* duplicate / conflicting reviews are passed through: the folder loader counts them and
  keeps the latest.
* ``--min-user-thumbs`` (default 1: keep everyone) drops users with fewer thumbs after
  the mapping; most Amazon reviewers wrote one review, and a user with one thumb can be
  neither trained nor tested.
"""
from __future__ import annotations

import argparse
import ast
import html
import json
import re
from pathlib import Path

import pandas as pd

from covers.data.adapters import Report, Thresholds, add_threshold_args, open_text, write_csv, write_folder

ROOT_CATEGORIES = {"cds & vinyl", "music", "digital music", "vinyl", "amazon music", "cds", "cd"}
_SIZE_TOKEN = re.compile(r"\._[^/]*?_(\.[A-Za-z]{3,4})$")  # ..._SS40_.jpg -> .jpg


def _record(line: str):
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return ast.literal_eval(line)  # the 2014 files are Python dict literals


def _text(x) -> str:
    return html.unescape(str(x)).strip() if x is not None else ""


def _categories(rec: dict) -> list[str]:
    cats = rec.get("category") or rec.get("categories") or []
    if cats and isinstance(cats[0], list):  # 2014: list of category paths; the first is the main one
        cats = cats[0]
    out = []
    for c in cats:
        c = _text(c)
        if c and c.lower() not in ROOT_CATEGORIES and c not in out:
            out.append(c)
    return out


def _image_url(rec: dict, prefer: str) -> str:
    imgs = rec.get("images")
    if isinstance(imgs, dict):  # Hugging Face form: dict of lists
        keys = list(imgs)
        imgs = [dict(zip(keys, vals)) for vals in zip(*(imgs[k] or [] for k in keys))]
    if isinstance(imgs, list) and imgs and isinstance(imgs[0], dict):  # 2023
        imgs = sorted(imgs, key=lambda d: d.get("variant") != "MAIN")  # stable: MAIN first
        order = ("large", "hi_res", "thumb") if prefer == "large" else ("hi_res", "large", "thumb")
        for d in imgs:
            for k in order:
                if d.get(k):
                    return str(d[k])
    for key in ("imageURLHighRes", "imageURL", "imUrl"):  # 2018, 2014
        v = rec.get(key)
        url = (v[0] if v else "") if isinstance(v, list) else (v or "")
        if url:
            return _SIZE_TOKEN.sub(r"\1", str(url))
    return ""


def read_meta(path: Path, prefer: str, rep: Report) -> tuple[dict[str, tuple[str, str, str, str, str]], set[str]]:
    """item id -> (title, artist, genre, genres, url) for items with an image URL, and the
    ids of those without one."""
    meta: dict[str, tuple] = {}
    no_image: set[str] = set()
    seen: set[str] = set()
    with open_text(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            rep.count("meta_lines")
            try:
                rec = _record(line)
                item = str(rec.get("parent_asin") or rec["asin"]).strip()
            except Exception as exc:  # noqa: BLE001 - a bad line is counted, never fatal
                rep.count("meta_malformed_lines", example=f"{path}:line {n}: {type(exc).__name__}: {str(exc)[:80]}")
                continue
            if item in seen:
                rep.count("meta_duplicate_items", example=f"{path}:line {n}: {item}")
                continue
            seen.add(item)
            url = _image_url(rec, prefer)
            if not url:
                rep.count("meta_items_without_image_url", example=f"{path}:line {n}: {item}")
                no_image.add(item)
                continue
            cats = _categories(rec)
            artist = _text(rec.get("brand") or rec.get("store") or rec.get("author") or "")
            meta[item] = (_text(rec.get("title", "")), artist, cats[0] if cats else "", "|".join(cats), url)
    return meta, no_image


def _review_rows(path: Path, rep: Report, csv_order: str = "item,user"):
    """(user, item, rating, timestamp seconds) per review, from JSON lines or the 2018 ratings CSV."""
    with open_text(path) as f:
        first = f.read(1)
        f.seek(0)
        if first == "{":
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    r = json.loads(line)
                    if "reviewerID" in r:  # 2018
                        yield str(r["reviewerID"]), str(r["asin"]), float(r["overall"]), int(r.get("unixReviewTime") or 0)
                    else:  # 2023: ms timestamps
                        yield (str(r["user_id"]), str(r.get("parent_asin") or r["asin"]), float(r["rating"]),
                               int(r.get("timestamp") or 0) // 1000)
                except Exception as exc:  # noqa: BLE001
                    rep.count("review_malformed_lines", example=f"{path}:line {n}: {type(exc).__name__}: {str(exc)[:80]}")
        else:  # 2018 "ratings only": item,user,rating,timestamp (no header)
            for n, line in enumerate(f, 1):
                parts = line.strip().split(",")
                if not line.strip():
                    continue
                try:
                    a, b, rating, ts = parts
                    item, user = (a, b) if csv_order == "item,user" else (b, a)
                    yield user, item, float(rating), int(float(ts))
                except Exception as exc:  # noqa: BLE001
                    rep.count("review_malformed_lines", example=f"{path}:line {n}: {type(exc).__name__}: {line.strip()[:80]}")


def convert(reviews: Path, meta_path: Path, out: Path, thresholds: Thresholds = Thresholds(),
            prefer: str = "large", min_user_thumbs: int = 1, csv_order: str = "item,user") -> Report:
    rep = Report("amazon", reviews=reviews, meta=meta_path, up=thresholds.up, down=thresholds.down,
                 prefer=prefer, min_user_thumbs=min_user_thumbs, csv_order=csv_order)
    meta, no_image = read_meta(meta_path, prefer, rep)
    users, items, ratings, stamps = [], [], [], []
    for user, item, rating, ts in _review_rows(reviews, rep, csv_order):
        rep.count("reviews_read")
        if item not in meta:
            kind = "reviews_dropped_item_without_image_url" if item in no_image else "reviews_dropped_item_not_in_meta"
            rep.count(kind, example=item)
            continue
        users.append(user)
        items.append(item)
        ratings.append(rating)
        stamps.append(ts)
    thumb = thresholds.apply(ratings)
    rep.count("ratings_up", int((thumb == 1).sum()))
    rep.count("ratings_down", int((thumb == 0).sum()))
    rep.count("ratings_dropped_between_thresholds", int((thumb == -1).sum()))
    t = pd.DataFrame({"user_id": pd.array(users, dtype=str), "item_id": pd.array(items, dtype=str),
                      "thumb": thumb, "timestamp": stamps})
    t = t[t["thumb"] >= 0]
    if min_user_thumbs > 1:
        n = t.groupby("user_id")["thumb"].transform("size")
        low = n < min_user_thumbs
        rep.count("thumbs_dropped_user_below_min", int(low.sum()))
        rep.count("users_dropped_below_min", int(t.loc[low, "user_id"].nunique()))
        t = t[~low]
    kept = sorted(set(t["item_id"]))
    rows = [(i,) + meta[i] for i in kept]
    item_frame = pd.DataFrame(rows, columns=["item_id", "title", "artist", "genre", "genres", "url"])
    rep.count("meta_items_with_image_but_no_thumb", len(meta) - len(kept))
    write_folder(out, t.reset_index(drop=True), item_frame.drop(columns="url"), rep)
    write_csv(item_frame[["item_id", "url"]], Path(out) / "cover_urls.csv")
    return rep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m covers.data.adapters.amazon", description=__doc__.split("\n")[0])
    ap.add_argument("--reviews", type=Path, required=True, help="reviews JSON lines (2018/2023) or 2018 ratings CSV; .gz ok")
    ap.add_argument("--meta", type=Path, required=True, help="meta JSON lines (2014/2018/2023); .gz ok")
    ap.add_argument("--out", type=Path, required=True, help="dataset folder to write")
    add_threshold_args(ap)
    ap.add_argument("--prefer", choices=("large", "hi_res"), default="large", help="2023 image size (default large)")
    ap.add_argument("--min-user-thumbs", type=int, default=1)
    ap.add_argument("--csv-order", choices=("item,user", "user,item"), default="item,user",
                    help="column order of a ratings-only CSV: 2018 item,user (default), 2014 user,item")
    a = ap.parse_args(argv)
    for p in (a.reviews, a.meta):
        if not p.is_file():
            ap.error(f"{p} is not a file")
    try:
        th = Thresholds(a.up, a.down)
    except ValueError as exc:
        ap.error(str(exc))
    a.out.mkdir(parents=True, exist_ok=True)
    convert(a.reviews, a.meta, a.out, th, a.prefer, a.min_user_thumbs, a.csv_order).write(a.out)
    print(f"next: python -m covers.data.adapters.download {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
