"""Any folder of genre-labelled covers -> a folder-format dataset with simulated users.

    python -m covers.data.adapters.labelled --images DIR --labels labels.csv --out OUT \\
        [--n-users 600 --mean-thumbs 50 --seed 0 --signal 2.0 --quality-weight 0.7] \\
        [--multi-genre pick|first|drop] [--copy] [--force]

Real covers, synthetic users: the thumbs come from the cover world's user model
(:func:`covers.data.synthetic.simulate_thumbs`: genre-preference mixtures, generosity,
popularity-driven exposure, logistic thumbs), driven by each cover's *label*, and keep
``true_score`` so the ``oracle`` baseline (the ceiling) works. What the run then measures
is how much of a genre-driven taste the cover pixels can recover on real artwork.

Labels CSV: one row per image, a path column (``image_path``, ``path``, ``file``,
``filename`` or ``image``; relative to ``--images``, else to the CSV's folder) and a genre
column (``genre`` or ``label``). Other columns are carried into ``items.csv`` (from the
item's first row). This reads ``discogs-5genre/labels.csv`` as it is.

Policies:

* **one file, one item**: rows are grouped by the image's *content* (a hash of its bytes),
  so a file that sits in two genre folders (548 of the 5,000 discogs images do) is one
  cover, not two identical covers that would be each other's nearest neighbour.
* **multi-genre covers** get all their labels in ``genres`` (``|``-separated, sorted) and
  ``n_genres``, and one ``genre`` - the user model has one genre per item - chosen by
  ``--multi-genre``: ``pick`` (default) one of its labels by a seeded hash of the item id
  (deterministic, and it spreads the multi-label covers over their genres instead of
  piling them into the alphabetically first one: with ``first``, "Electronic" would take
  185 of the 250 multi-genre discogs covers); ``first``: the alphabetically first;
  ``drop``: leave multi-genre covers out (cleanest genre signal, fewer covers).
* item id: the file's stem, made file-name safe; a stem used by two different files
  gets ``-<8 hex of its hash>`` appended.
* covers are symlinked to their source (absolute paths; the source may be read-only);
  ``--copy`` copies them. Missing files, non-images (by extension), rows without a genre
  are dropped and counted in ``adapter_report.json``.
"""
from __future__ import annotations

import argparse
import hashlib
import re
from collections import Counter
from pathlib import Path

import pandas as pd

from covers.data.adapters import Report, fresh_covers_dir, place_cover, write_folder
from covers.data.folder import IMAGE_EXTS
from covers.data.synthetic import simulate_thumbs

PATH_COLUMNS = ("image_path", "path", "file", "filename", "image")
GENRE_COLUMNS = ("genre", "label")
OURS = ("item_id", "genre", "genres", "n_genres", "source")


def _pick(item_id: str, genres: list[str], seed: int) -> str:
    h = hashlib.blake2b(f"{seed}:{item_id}".encode(), digest_size=8).digest()
    return genres[int.from_bytes(h, "big") % len(genres)]


def _safe(stem: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "cover"
    return s[:150]


def build_items(images: Path, labels: Path, multi_genre: str, seed: int, rep: Report) -> tuple[pd.DataFrame, dict[str, Path]]:
    lab = pd.read_csv(labels, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    pcol = next((c for c in PATH_COLUMNS if c in lab), None)
    gcol = next((c for c in GENRE_COLUMNS if c in lab), None)
    if pcol is None or gcol is None:
        raise SystemExit(f"{labels}: needs a path column (one of {PATH_COLUMNS}) and a genre column "
                         f"(one of {GENRE_COLUMNS}); has {list(lab.columns)}")
    rep.count("label_rows", len(lab))
    groups: dict[str, dict] = {}
    for n, row in enumerate(lab.to_dict("records"), 2):
        rel, genre = row[pcol].strip(), row[gcol].strip()
        where = f"{labels}:line {n}"
        if not genre:
            rep.count("rows_without_genre", example=where)
            continue
        path = next((p for p in (images / rel, labels.parent / rel) if p.is_file()), None)
        if path is None:
            rep.count("rows_image_missing", example=f"{where}: {rel}")
            continue
        if path.suffix.lower() not in IMAGE_EXTS:
            rep.count("rows_not_an_image_file", example=f"{where}: {rel}")
            continue
        digest = hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
        g = groups.setdefault(digest, {"paths": [], "genres": set(), "row": row, "rel": rel})
        g["paths"].append(path)
        g["genres"].add(genre)
    rep.count("distinct_images", len(groups))
    rep.count("rows_merged_same_file", sum(len(g["paths"]) - 1 for g in groups.values()))

    rows, sources, used = [], {}, set()
    combos: Counter = Counter()
    for digest, g in sorted(groups.items(), key=lambda kv: str(sorted(kv[1]["paths"])[0])):
        first = sorted(g["paths"])[0]
        item_id = _safe(first.stem)
        if item_id in used:
            item_id = f"{item_id}-{digest[:8]}"
        genres = sorted(g["genres"])
        if len(genres) > 1:
            combos["|".join(genres)] += 1
            if multi_genre == "drop":
                rep.count("multi_genre_dropped", example=f"{g['rel']}: {'|'.join(genres)}")
                continue
        used.add(item_id)
        genre = genres[0] if multi_genre == "first" or len(genres) == 1 else _pick(item_id, genres, seed)
        extra = {(f"label_{k}" if k in OURS else k): v for k, v in g["row"].items() if k not in (pcol, gcol)}
        rows.append({"item_id": item_id, "genre": genre, "genres": "|".join(genres), "n_genres": len(genres),
                     "source": g["rel"], **extra})
        sources[item_id] = first
    rep.count("multi_genre_images", sum(combos.values()))
    items = pd.DataFrame(rows)
    rep.params["multi_genre_combinations"] = dict(combos.most_common())
    rep.params["items_per_genre"] = items["genre"].value_counts().sort_index().to_dict() if len(items) else {}
    return items, sources


def convert(images: Path, labels: Path, out: Path, *, n_users: int = 600, mean_thumbs: float = 50, seed: int = 0,
            signal: float = 2.0, quality_weight: float = 0.7, noise: float = 0.5, multi_genre: str = "pick",
            copy: bool = False, force: bool = False) -> Report:
    if multi_genre not in ("pick", "first", "drop"):
        raise ValueError(f"multi_genre must be pick, first or drop, got {multi_genre!r}")
    sim = dict(n_users=n_users, mean_thumbs_per_user=mean_thumbs, seed=seed, signal=signal,
               quality_weight=quality_weight, noise=noise)
    rep = Report("labelled", images=images, labels=labels, multi_genre=multi_genre, copy=copy, simulate_thumbs=sim)
    items, sources = build_items(Path(images), Path(labels), multi_genre, seed, rep)
    if items.empty:
        raise SystemExit(f"{labels}: no usable labelled images (see the counts above)")
    thumbs = simulate_thumbs(items[["item_id", "genre"]], **sim)
    cdir = fresh_covers_dir(out, force)
    for item_id, src in sources.items():
        place_cover(src, cdir / f"{item_id}{src.suffix.lower()}", copy)
    write_folder(out, thumbs, items, rep)
    rep.params["up_rate"] = round(float(thumbs["thumb"].mean()), 4)
    return rep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m covers.data.adapters.labelled", description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=Path, help="folder the label paths are relative to (default: the CSV's folder)")
    ap.add_argument("--labels", type=Path, required=True, help="CSV: a path column and a genre column")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n-users", type=int, default=600)
    ap.add_argument("--mean-thumbs", type=float, default=50, help="mean thumbs per user")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--signal", type=float, default=2.0, help="weight of genre preference in the thumbs")
    ap.add_argument("--quality-weight", type=float, default=0.7)
    ap.add_argument("--noise", type=float, default=0.5)
    ap.add_argument("--multi-genre", choices=("pick", "first", "drop"), default="pick")
    ap.add_argument("--copy", action="store_true", help="copy covers instead of symlinking them")
    ap.add_argument("--force", action="store_true", help="replace an existing OUT/covers/")
    a = ap.parse_args(argv)
    if not a.labels.is_file():
        ap.error(f"{a.labels} is not a file")
    images = a.images or a.labels.parent
    if not images.is_dir():
        ap.error(f"{images} is not a folder")
    rep = convert(images, a.labels, a.out, n_users=a.n_users, mean_thumbs=a.mean_thumbs, seed=a.seed,
                  signal=a.signal, quality_weight=a.quality_weight, noise=a.noise, multi_genre=a.multi_genre,
                  copy=a.copy, force=a.force)
    rep.write(a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
