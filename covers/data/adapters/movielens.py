"""MovieLens ratings + your own folder of posters -> the folder format.

    python -m covers.data.adapters.movielens --ratings ml-25m/ratings.csv --movies ml-25m/movies.csv \\
        --posters POSTERS_DIR --out DIR [--links ml-25m/links.csv --poster-key tmdbId] \\
        [--up 4 --down 2] [--copy] [--force]

Reads both MovieLens layouts (plain or gzip):

* ml-latest / ml-25m / ml-20m: ``ratings.csv`` (``userId,movieId,rating,timestamp``, a
  header, 0.5-5 stars in halves) and ``movies.csv`` (``movieId,title,genres``, quoted titles);
* ml-1m / ml-10m: ``ratings.dat`` (``UserID::MovieID::Rating::Timestamp``, no header) and
  ``movies.dat`` (``MovieID::Title::Genres``; ml-1m is Latin-1, read as such when not UTF-8).

(ml-100k's tab-separated ``u.data`` / ``u.item`` are not read.)

Genres are pipe-separated: ``genre`` is the first, ``genres`` all of them; "(no genres
listed)" gives empty ones. ``year`` is parsed from the title's trailing "(1995)".

MovieLens ships no images. Posters come from a folder you supply, one image per movie,
named (the stem) by ``--poster-key``: ``movieId`` (default), or via ``links.csv``
(``movieId,imdbId,tmdbId``) ``tmdbId`` - what TMDB-based poster scrapes are usually
named by - or ``imdbId`` (``tt0114709``, ``0114709`` and ``114709`` all match).
Posters are symlinked (``--copy`` to copy) to ``DIR/covers/<movieId>.<ext>``.
Ratings of movies without a poster are dropped and counted; only movies with a poster and
at least one thumb are written.
"""
from __future__ import annotations

import argparse
import io
import re
from pathlib import Path

import pandas as pd

from covers.data.adapters import (Report, Thresholds, add_threshold_args, fresh_covers_dir, is_gzip, place_cover,
                             read_bytes, write_folder)
from covers.data.folder import IMAGE_EXTS

NO_GENRES = "(no genres listed)"


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # ml-1m movies.dat


def _dat(path: Path, names: list[str]) -> pd.DataFrame:
    # "::" needs pandas' slow python engine; a tab never occurs in these files, so swap it in
    text = _text(read_bytes(path)).replace("::", "\t")
    return pd.read_csv(io.StringIO(text), sep="\t", header=None, names=names, dtype=str,
                       keep_default_na=False, quoting=3)


def read_ratings(path: Path) -> pd.DataFrame:
    """``user_id, item_id, rating, timestamp`` (ids as strings) from ratings.csv or ratings.dat."""
    if ".dat" in path.name:
        r = _dat(path, ["user_id", "item_id", "rating", "timestamp"])
    else:
        r = pd.read_csv(path, dtype=str, keep_default_na=False, compression="gzip" if is_gzip(path) else None)
        r = r.rename(columns={"userId": "user_id", "movieId": "item_id"})
    missing = {"user_id", "item_id", "rating"} - set(r.columns)
    if missing:
        raise SystemExit(f"{path}: missing column(s) {sorted(missing)}; has {list(r.columns)}")
    return r


def read_movies(path: Path) -> pd.DataFrame:
    if ".dat" in path.name:
        m = _dat(path, ["item_id", "title", "genres"])
    else:
        m = pd.read_csv(io.StringIO(_text(read_bytes(path))), dtype=str, keep_default_na=False)
        m = m.rename(columns={"movieId": "item_id"})
    m["genres"] = m["genres"].where(m["genres"] != NO_GENRES, "")
    m["genre"] = m["genres"].str.split("|").str[0]
    m["year"] = m["title"].str.extract(r"\((\d{4})\)\s*$", expand=False).fillna("")
    return m[["item_id", "title", "year", "genre", "genres"]].drop_duplicates("item_id")


def _norm_imdb(x: str) -> str:
    return re.sub(r"^tt", "", str(x).strip()).lstrip("0")


def find_posters(folder: Path, key: str, links: pd.DataFrame | None, rep: Report) -> dict[str, Path]:
    """movieId -> poster file."""
    files: dict[str, Path] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTS:
            stem = _norm_imdb(p.stem) if key == "imdbId" else p.stem.strip()
            if stem in files:
                rep.count("posters_duplicate_key", example=f"{p} (kept {files[stem]})")
                continue
            files[stem] = p
    rep.count("poster_files", len(files))
    if key == "movieId":
        return files
    if links is None:
        raise SystemExit(f"--poster-key {key} needs --links (links.csv: movieId,imdbId,tmdbId)")
    out = {}
    for mid, k in zip(links["movieId"], links[key]):
        k = _norm_imdb(k) if key == "imdbId" else str(k).strip()
        if k and k in files:
            out[str(mid)] = files[k]
    return out


def convert(ratings: Path, movies: Path, posters: Path, out: Path, thresholds: Thresholds = Thresholds(),
            links: Path | None = None, poster_key: str = "movieId", copy: bool = False, force: bool = False) -> Report:
    rep = Report("movielens", ratings=ratings, movies=movies, posters=posters, links=links, poster_key=poster_key,
                 up=thresholds.up, down=thresholds.down, copy=copy)
    r = read_ratings(ratings)
    rep.count("ratings_read", len(r))
    rating = pd.to_numeric(r["rating"], errors="coerce")
    bad = rating.isna()
    if bad.any():
        rep.count("ratings_malformed", int(bad.sum()), example=f"{ratings}: rating {r.loc[bad, 'rating'].iat[0]!r}")
    r, rating = r[~bad], rating[~bad]
    link_frame = pd.read_csv(io.BytesIO(read_bytes(links)), dtype=str, keep_default_na=False) if links else None
    poster_of = find_posters(posters, poster_key, link_frame, rep)
    has = r["item_id"].isin(list(poster_of))
    rep.count("ratings_dropped_no_poster", int((~has).sum()))
    rep.count("movies_rated_without_poster", int(r.loc[~has, "item_id"].nunique()))
    r, rating = r[has], rating[has]
    thumb = thresholds.apply(rating.to_numpy())
    rep.count("ratings_up", int((thumb == 1).sum()))
    rep.count("ratings_down", int((thumb == 0).sum()))
    rep.count("ratings_dropped_between_thresholds", int((thumb == -1).sum()))
    t = pd.DataFrame({"user_id": r["user_id"].to_numpy(), "item_id": r["item_id"].to_numpy(), "thumb": thumb})
    if "timestamp" in r:
        t["timestamp"] = r["timestamp"].to_numpy()
    t = t[t["thumb"] >= 0].reset_index(drop=True)

    meta = read_movies(movies)
    ids = sorted(set(t["item_id"]), key=lambda s: (len(s), s))
    items = pd.DataFrame({"item_id": ids}).merge(meta, on="item_id", how="left").fillna("")
    nometa = ~pd.Series(ids).isin(meta["item_id"])
    if nometa.any():
        rep.count("movies_not_in_movies_file", int(nometa.sum()), example=str(pd.Series(ids)[nometa].iat[0]))
    if link_frame is not None:
        items = items.merge(link_frame.rename(columns={"movieId": "item_id"}), on="item_id", how="left").fillna("")
    cdir = fresh_covers_dir(out, force)
    for i in ids:
        src = poster_of[i]
        place_cover(src, cdir / f"{i}{src.suffix.lower()}", copy)
    write_folder(out, t, items, rep)
    return rep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m covers.data.adapters.movielens", description=__doc__.split("\n")[0])
    ap.add_argument("--ratings", type=Path, required=True, help="ratings.csv or ratings.dat (.gz ok)")
    ap.add_argument("--movies", type=Path, required=True, help="movies.csv or movies.dat (.gz ok)")
    ap.add_argument("--posters", type=Path, required=True, help="folder of poster images named by --poster-key")
    ap.add_argument("--links", type=Path, help="links.csv (movieId,imdbId,tmdbId), for --poster-key tmdbId/imdbId")
    ap.add_argument("--poster-key", choices=("movieId", "tmdbId", "imdbId"), default="movieId")
    ap.add_argument("--out", type=Path, required=True)
    add_threshold_args(ap)
    ap.add_argument("--copy", action="store_true", help="copy posters instead of symlinking them")
    ap.add_argument("--force", action="store_true", help="replace an existing DIR/covers/")
    a = ap.parse_args(argv)
    for p in (a.ratings, a.movies) + ((a.links,) if a.links else ()):
        if not p.is_file():
            ap.error(f"{p} is not a file")
    if not a.posters.is_dir():
        ap.error(f"{a.posters} is not a folder")
    try:
        th = Thresholds(a.up, a.down)
    except ValueError as exc:
        ap.error(str(exc))
    convert(a.ratings, a.movies, a.posters, a.out, th, a.links, a.poster_key, a.copy, a.force).write(a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
