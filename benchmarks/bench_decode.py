"""Benchmark cover decoding (covers.data.images): covers/s, JPEG draft on/off, peak RSS.

    python benchmarks/bench_decode.py [--covers DIR] [--n 2000] [--sizes 16 32 64] [--repeat 2]

For each size (16, 32, 64 px), mode (gray, rgb) and JPEG draft mode (on, off) it decodes
the same N covers three ways and prints covers/s:

* ``1 thread``   ``FileCovers.decode(..., n_jobs=1)``, one core;
* ``threads``    ``FileCovers.decode(..., n_jobs=-1)``: a thread per core (the pipeline's
  way; Pillow releases the GIL while decoding and resizing);
* ``processes``  a process pool of one worker per core, ``decode_cover`` per file, the
  pixels pickled back (the pool is started once, before timing; its start-up is printed).

Then the mean absolute pixel difference between draft and full decoding, and the peak RSS
of this process and of the pool workers. The file cache is warmed first (every file read
once), so the numbers are decoding, not disk. Best of ``--repeat``; on a shared, noisy box
compare numbers from one run, not across runs. The default folder is the read-only
discogs-5genre set (300x300 JPEGs); nothing in it is written or committed.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain clone
from covers.data import images  # noqa: E402
from covers.data.folder import IMAGE_EXTS  # noqa: E402
from covers.data.sources import FileCovers  # noqa: E402

DEFAULT_COVERS = "/work/shared/real-covers/discogs-5genre"


def _decode_chunk(args: tuple[list[str], int, str, bool]) -> np.ndarray:
    paths, size, mode, draft = args
    return np.stack([images.decode_cover(p, size, mode, draft=draft) for p in paths])


def best(fn, repeat: int) -> tuple[float, object]:
    t, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        t = min(t, time.perf_counter() - t0)
    return t, out


def rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux: KiB


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--covers", type=Path, default=Path(DEFAULT_COVERS))
    ap.add_argument("--n", type=int, default=2000, help="covers decoded per configuration (sorted paths, first N)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--modes", nargs="+", default=["gray", "rgb"], choices=["gray", "rgb"])
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args(argv)
    paths = sorted(str(p) for p in a.covers.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS)[: a.n]
    if not paths:
        raise SystemExit(f"no images under {a.covers}")
    nbytes = sum(len(Path(p).read_bytes()) for p in paths)  # warm the file cache
    workers = os.cpu_count() or 1
    print(f"{len(paths)} covers from {a.covers} ({nbytes / 1e6:.1f} MB, cache warmed); {workers} cores; "
          f"Python {sys.version.split()[0]}; Pillow {images.Image.__version__}; best of {a.repeat}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"peak RSS before decoding: {rss_mb(resource.RUSAGE_SELF):.0f} MB")
    covers = FileCovers(paths)
    chunk = max(1, len(paths) // (workers * 8))
    t0 = time.perf_counter()
    pool = ProcessPoolExecutor(workers)
    list(pool.map(_decode_chunk, [(paths[:1], 8, "gray", True)] * workers))
    print(f"process pool of {workers} started in {time.perf_counter() - t0:.2f} s (not in the numbers below)\n")

    head = f"{'size':>4} {'mode':>4} {'draft':>5} | {'1 thread':>9} {'threads':>9} {'processes':>9} | " \
           f"{'x thr':>5} {'x proc':>6} | {'draft vs full |d|':>17}"
    print("covers/s")
    print(head)
    print("-" * len(head))
    saved = images.JPEG_DRAFT
    try:
        for size in a.sizes:
            for mode in a.modes:
                pix = {}
                for draft in (True, False):
                    images.JPEG_DRAFT = draft  # module switch: FileCovers.decode's threads see it too
                    t1, _ = best(lambda: covers.decode(range(len(paths)), size, mode, n_jobs=1), a.repeat)
                    tt, (px, failed) = best(lambda: covers.decode(range(len(paths)), size, mode, n_jobs=-1), a.repeat)
                    jobs = [(paths[i:i + chunk], size, mode, draft) for i in range(0, len(paths), chunk)]
                    tp, _ = best(lambda: list(pool.map(_decode_chunk, jobs)), a.repeat)
                    pix[draft] = px
                    n = len(paths)
                    diff = (f"{np.abs(pix[True].astype(np.int16) - px.astype(np.int16)).mean():17.3f}"
                            if not draft else f"{'':>17}")
                    print(f"{size:>4} {mode:>4} {'on' if draft else 'off':>5} | {n / t1:9.0f} {n / tt:9.0f} {n / tp:9.0f} | "
                          f"{t1 / tt:5.2f} {t1 / tp:6.2f} | {diff}" + (f"  ({len(failed)} failed)" if failed else ""))
    finally:
        images.JPEG_DRAFT = saved
        pool.shutdown()
    print(f"\npeak RSS: this process {rss_mb(resource.RUSAGE_SELF):.0f} MB, "
          f"largest pool worker {rss_mb(resource.RUSAGE_CHILDREN):.0f} MB")
    print(f"load average now {os.getloadavg()[0]:.1f} (a shared box: multi-core speed-ups are only as good as the idle cores)")
    print("|d|: mean absolute difference in gray levels (0-255) between draft and full decoding, same covers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
