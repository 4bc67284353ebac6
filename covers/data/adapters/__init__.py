"""Adapters: public data -> the folder format (``covers/``, ``thumbs.csv``, ``items.csv``).

    python -m covers.data.adapters.amazon    --reviews F --meta F --out DIR [--up 4 --down 2]
    python -m covers.data.adapters.download  DIR [--rate 2]            # covers for cover_urls.csv
    python -m covers.data.adapters.movielens --ratings F --movies F --posters DIR --out DIR
    python -m covers.data.adapters.labelled  --images DIR --labels CSV --out DIR [--n-users 600]

Ratings become thumbs by two thresholds (:class:`Thresholds`): ``rating >= up`` is a thumb
up, ``rating <= down`` a thumb down, and anything in between is dropped - a 3 of 5 says
neither "I like it" nor "I don't", and counting it as either would add label noise the
covers cannot explain. Defaults 4 and 2 (of 5 stars); both are options of every adapter.

Every adapter prints what it read, kept and dropped (and why) and writes the same as JSON
to ``DIR/adapter_report.json``. Ids are written as strings, exactly as in the source
(Amazon ASINs such as ``0001393774`` keep their leading zeros). Files are written
atomically (temp file + ``os.replace``), so an interrupted adapter never leaves a
half-written ``thumbs.csv``.
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

DEFAULT_UP = 4.0
DEFAULT_DOWN = 2.0


@dataclass(frozen=True)
class Thresholds:
    """``rating >= up`` -> 1 (up), ``rating <= down`` -> 0 (down), otherwise dropped (-1)."""

    up: float = DEFAULT_UP
    down: float = DEFAULT_DOWN

    def __post_init__(self) -> None:
        if not self.down < self.up:
            raise ValueError(f"thresholds need down < up, got down={self.down} up={self.up}")

    def apply(self, ratings) -> np.ndarray:
        r = np.asarray(ratings, dtype=np.float64)
        return np.where(r >= self.up, 1, np.where(r <= self.down, 0, -1)).astype(np.int8)


class Report:
    """Counts of what an adapter read, kept and dropped, with a few examples per kind."""

    def __init__(self, adapter: str, **params: Any) -> None:
        self.adapter = adapter
        self.params = {k: (str(v) if isinstance(v, Path) else v) for k, v in params.items()}
        self.counts: dict[str, int] = {}
        self.examples: dict[str, list[str]] = {}
        self.t0 = time.perf_counter()

    def count(self, kind: str, n: int = 1, example: str | None = None) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + int(n)
        if example is not None and len(self.examples.setdefault(kind, [])) < 5:
            self.examples[kind].append(example)

    def as_dict(self) -> dict[str, Any]:
        return {"adapter": self.adapter, "params": self.params, "counts": self.counts,
                "examples": self.examples, "seconds": round(time.perf_counter() - self.t0, 3)}

    def write(self, out: Path, file: IO[str] | None = None) -> Path:
        file = file or sys.stdout
        path = Path(out) / "adapter_report.json"
        atomic_write_text(path, json.dumps(self.as_dict(), indent=2) + "\n")
        print(f"{self.adapter}: wrote {out}", file=file)
        for k, v in self.counts.items():
            print(f"  {k:<34}{v:>12}", file=file)
            for ex in self.examples.get(k, [])[:3]:
                print(f"      e.g. {ex}", file=file)
        print(f"  report: {path}", file=file)
        return path


def add_threshold_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--up", type=float, default=DEFAULT_UP, help=f"rating >= UP is a thumb up (default {DEFAULT_UP:g})")
    ap.add_argument("--down", type=float, default=DEFAULT_DOWN,
                    help=f"rating <= DOWN is a thumb down (default {DEFAULT_DOWN:g}); in between is dropped")


def open_text(path: str | os.PathLike, encoding: str = "utf-8") -> IO[str]:
    """A text stream of ``path``, gunzipped when it is gzip (by its magic bytes, not its name)."""
    gz = is_gzip(path)
    raw = gzip.open(path, "rb") if gz else open(path, "rb")
    return io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")


def is_gzip(path: str | os.PathLike) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def read_bytes(path: str | os.PathLike) -> bytes:
    gz = is_gzip(path)
    with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
        return f.read()


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """``frame`` -> ``path`` (atomically), ids and all as written (no float-ification)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)


def fresh_covers_dir(out: Path, force: bool) -> Path:
    """``out/covers`` empty and ready; an existing non-empty one needs ``force`` (then it is
    replaced), so re-running an adapter never mixes covers of two runs."""
    cdir = Path(out) / "covers"
    if cdir.exists() and any(cdir.iterdir()):
        if not force:
            raise SystemExit(f"{cdir} is not empty; pass --force to replace it")
        shutil.rmtree(cdir)
    cdir.mkdir(parents=True, exist_ok=True)
    return cdir


def place_cover(src: Path, dst: Path, copy: bool) -> None:
    """Symlink (absolute; read-only sources stay where they are) or copy ``src`` to ``dst``."""
    if copy:
        shutil.copyfile(src, dst)
    else:
        os.symlink(Path(src).resolve(), dst)


def write_folder(out: Path, thumbs: pd.DataFrame, items: pd.DataFrame, rep=None) -> None:
    """Write thumbs.csv and items.csv; with a report, count what was written into it."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(thumbs, out / "thumbs.csv")
    write_csv(items, out / "items.csv")
    if rep is not None:
        rep.count("items_written", len(items))
        rep.count("users_written", int(thumbs["user_id"].nunique()))
        rep.count("thumbs_written", len(thumbs))
