"""Check a folder-format dataset before running the harness on it.

    python -m covers validate DIR [--decode-sample N] [--size 32] [--mode gray] [--n-jobs -1]

Loads ``DIR`` exactly as ``dataset=folder`` does (``on_error=skip``), decodes every cover
(or a seeded random sample of N) at a small size on threads, exactly as the pipeline does
(``FileCovers.decode(..., on_error="skip")``), and prints: items / users / thumbs / up-rate,
every skip kind with its count and first examples (file:line and what is wrong), what the
undecodable covers are, the cover formats and modes, users with one kind of thumb, and the
decoding throughput. Exit status: 0 usable, 1 not usable (the reasons are printed), 2 usage
error. ``main(argv)`` takes the arguments after ``validate``.

"Usable" means a run can produce a ``user_auc``: the folder loads, at least two covers
decode, and at least one user has both a thumb up and a thumb down on decodable covers.
Problems that only lose data (skipped rows, some undecodable covers) are reported, and
flagged as warnings when they are large, but do not make the dataset unusable.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from covers.data.folder import DatasetError, FolderDataset, one_class_users
from covers.utils import resolve_n_jobs

CHUNK = 4096  # covers decoded per call: bounds memory (pixels are thrown away)



def _short(text: str, root: str) -> str:
    return text.replace(root + "/", "")


def _examples(title: str, rows: list[tuple[str, str]], n: int, count: int, root: str) -> list[str]:
    lines = [f"  {title:<24}{count:>8}"]
    for where, what in rows[:n]:
        lines.append(f"      {_short(where, root)}: {_short(what, root)}")
    if count > n:
        lines.append(f"      ... {count - n} more")
    return lines


def _headers(paths: list[str]) -> tuple[Counter, Counter, list[tuple[int, int]]]:
    """Format, mode and size of each readable cover (header only, no decoding)."""
    formats, modes, sizes = Counter(), Counter(), []
    with warnings.catch_warnings():  # single-threaded here, so the filter change is safe
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        for p in paths:
            try:
                with Image.open(p) as im:
                    formats[im.format or "?"] += 1
                    modes[im.mode] += 1
                    sizes.append(im.size)
            except Exception:  # noqa: BLE001 - the decode pass names what is wrong
                pass
    return formats, modes, sizes


def _counter(c: Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in c.most_common())


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m covers validate",
                                 description="Check a folder-format dataset (covers/, thumbs.csv, items.csv).")
    ap.add_argument("dir", help="the dataset folder")
    ap.add_argument("--decode-sample", type=int, default=None, metavar="N",
                    help="decode a seeded random sample of N covers (default: all; 0: none)")
    ap.add_argument("--size", type=int, default=32, help="decode size in pixels (default 32)")
    ap.add_argument("--mode", choices=("gray", "rgb"), default="gray")
    ap.add_argument("--n-jobs", type=int, default=-1, help="decoding threads (-1: all cores)")
    ap.add_argument("--examples", type=int, default=3, help="examples shown per problem kind")
    ap.add_argument("--seed", type=int, default=0, help="seed of the decode sample")
    a = ap.parse_args(argv)
    if a.size < 1 or a.examples < 0 or (a.decode_sample is not None and a.decode_sample < 0):
        ap.error("--size must be >= 1, --examples and --decode-sample >= 0")
    if not Path(a.dir).is_dir():
        ap.error(f"{a.dir} is not a folder")
    return a


def main(argv: list[str] | None = None) -> int:
    try:
        a = parse(argv)
    except SystemExit as exc:  # argparse: 2 on a usage error (message already printed), 0 for --help
        return int(exc.code or 0)
    root = str(Path(a.dir).expanduser().resolve())
    print(f"validate {root}")
    t0 = time.perf_counter()
    try:
        ds = FolderDataset(root, on_error="skip").load()
    except DatasetError as exc:
        print(f"  cannot load: {_short(str(exc), root)}")
        print("verdict: NOT USABLE")
        return 1
    st = ds.stats()
    per_user = ds.thumbs.groupby("user_id").size()
    print(f"  loaded in {time.perf_counter() - t0:.2f} s")
    genres = ds.genres()
    n_genres = len(set(map(str, genres))) if genres is not None else 0
    print(f"  items {st['n_items']}" + (f" ({n_genres} genres)" if genres is not None else " (no genre column)"))
    print(f"  users {st['n_users']}, thumbs {st['n_thumbs']}, up-rate {st['up_rate']:.3f}, thumbs per user: "
          f"min {per_user.min()} / median {per_user.median():g} / max {per_user.max()}")
    warn: list[str] = []
    reasons: list[str] = []
    one = one_class_users(ds.thumbs)
    if len(one):
        print(f"  users with only one kind of thumb: {len(one)} (kept; user_auc cannot score them)")
        for r in one.head(a.examples).itertuples():
            print(f"      {r.user_id}: {r.n_thumbs} thumb(s), all {r.thumb}")
    single = int((per_user < 2).sum())
    if single:
        warn.append(f"{single} users have a single thumb (nothing to train on and test with)")

    sk = ds.skipped
    print(f"skipped while loading: {sk.total}" + (f" ({sk.summary()})" if sk.total else ""))
    frame = sk.frame()
    for kind, count in sorted(sk.counts.items()):
        rows = frame.loc[frame["kind"] == kind, ["where", "what"]].itertuples(index=False)
        print("\n".join(_examples(kind, [tuple(r) for r in rows], a.examples, count, root)))
    n_rows = st["n_thumbs"] + sum(v for k, v in sk.counts.items() if "thumb" in k)
    if n_rows and sk.total > 0.5 * n_rows:
        warn.append(f"more than half the thumbs rows were skipped ({sk.total} of {n_rows})")

    n = ds.n_items
    if a.decode_sample is None or a.decode_sample >= n:
        idx = np.arange(n)
    else:
        idx = np.sort(np.random.default_rng(a.seed).choice(n, size=a.decode_sample, replace=False))
    bad_items: list[int] = []
    if len(idx):
        paths = [ds.covers.describe(int(i)) for i in idx]
        formats, modes, sizes = _headers(paths)
        workers = resolve_n_jobs(a.n_jobs) if len(idx) >= 64 else 1  # FileCovers.decode: threads from 64 on
        failed: list[tuple[int, str]] = []
        t1 = time.perf_counter()
        for s in range(0, len(idx), CHUNK):
            chunk = idx[s:s + CHUNK]
            _, bad = ds.covers.decode(chunk, a.size, a.mode, n_jobs=a.n_jobs, on_error="skip")
            failed += [(int(chunk[p]), msg) for p, msg in bad]
        secs = time.perf_counter() - t1
        what = "every cover" if len(idx) == n else f"a sample of {len(idx)} of {n} covers"
        print(f"decoded {what} at {a.size}px {a.mode} on {workers} thread(s) in {secs:.2f} s: "
              f"{len(idx) / max(secs, 1e-9):.0f} covers/s, {len(idx) - len(failed)} ok, {len(failed)} undecodable")
        small = sum(1 for w, h in sizes if min(w, h) < a.size)
        print(f"  formats: {_counter(formats)}; modes: {_counter(modes)}")
        if sizes:
            px = np.array([w * h for w, h in sizes])
            lo, hi = sizes[int(px.argmin())], sizes[int(px.argmax())]
            print(f"  sizes: smallest {lo[0]}x{lo[1]}, median {np.median(px) ** 0.5:.0f}^2 px, "
                  f"largest {hi[0]}x{hi[1]}; smaller than {a.size}px (upscaled): {small}")
        if failed:
            print("\n".join(_examples("undecodable_cover", [(ds.covers.describe(i), m.split(": cannot decode cover: ")[-1])
                                                           for i, m in failed], a.examples, len(failed), root)))
        bad_items = [i for i, _ in failed]
        if len(failed) == len(idx):
            reasons.append(f"none of the {len(idx)} decoded covers could be decoded")
        elif len(failed) > 0.05 * len(idx):
            warn.append(f"{100 * len(failed) / len(idx):.1f}% of decoded covers are undecodable")
    else:
        print("decoding skipped (--decode-sample 0)")

    t = ds.thumbs[~ds.thumbs["item"].isin(bad_items)]
    both = t.groupby("user_id")["thumb"].agg(["min", "max"])
    n_both = int((both["min"] != both["max"]).sum())
    items_left = n - len(bad_items)
    print(f"usable: {items_left} items, {len(t)} thumbs, {t['user_id'].nunique()} users "
          f"({n_both} with both thumbs up and down)")
    if items_left < 2:
        reasons.append(f"only {items_left} decodable cover(s); an index needs at least 2")
    if n_both == 0:
        reasons.append("no user has both a thumb up and a thumb down on a decodable cover: user_auc is undefined")
    for w in warn:
        print(f"warning: {w}")
    if reasons:
        for r in reasons:
            print(f"not usable: {r}")
        print("verdict: NOT USABLE")
        return 1
    print("verdict: USABLE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
