"""Streaming, parallel, resumable feature extraction into an on-disk matrix.

:func:`extract` decodes and featurises ``source`` (a :class:`~covers.data.sources.CoverSource`)
in row chunks of ``chunk_size`` covers and writes each chunk's float32 rows into one ``.npy``
file opened with :func:`numpy.lib.format.open_memmap`. Peak memory is about
``chunk_size x workers x (pixels + features of one cover)`` plus the source itself, whatever
the number of covers: no process ever holds the whole matrix.

Files, for a cache entry ``<dir>/<key>.npy``::

    <key>.npy.partial          the matrix being filled (a valid .npy of the final shape)
    <key>.npy.partial.done/    one marker per finished chunk, ``<start>-<stop>.json``,
                               holding that chunk's undecodable covers [[index, message], ...]
    <key>.npy                  the finished matrix (``.partial`` renamed into place)

A chunk's marker is written (atomically: temp file + rename) only after its rows have been
written and flushed (``msync``), so a marker always means "these rows are complete". Run the
same extraction again after a crash or a ``kill -9`` and it resumes: the chunks with a marker
are kept, every other row range is computed again, whatever it holds (a half-written chunk
is never reused). The chunk size may differ between the runs: ranges, not chunk numbers, are
recorded. When every row is covered, the list of failed covers is written (``failed_path``),
the ``.partial`` file is renamed to the entry atomically and the markers are removed.

Where chunks run is the ``engine``'s business (:mod:`covers.features.engines`): worker processes on
this machine (:class:`~covers.features.engines.local.LocalEngine`, the default) or a Dask cluster
(:class:`~covers.features.engines.dask.DaskEngine`). Every engine runs the same
:func:`compute_chunk`, so the output is bit-identical whichever engine and however many
workers. Workers get a single-threaded copy of the extractor (``n_jobs=1``) and BLAS limited
to one thread, so N workers use N cores, not N x cores.

What a worker does with one chunk is in :mod:`covers.features.chunks` (which the engines
import; this module imports the engines: no cycle).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from covers.features.chunks import ChunkJob, single_threaded

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 2048


# --------------------------------------------------------------------------- bookkeeping
def partial_paths(out_path: str | Path) -> tuple[Path, Path]:
    out = Path(out_path)
    return out.with_name(out.name + ".partial"), out.with_name(out.name + ".partial.done")


def _read_done(done_dir: Path, n: int) -> list[tuple[int, int, list[tuple[int, str]]]]:
    """Finished chunks (start, stop, failed) recorded in ``done_dir``, in row order."""
    out = []
    if not done_dir.is_dir():
        return out
    for p in done_dir.iterdir():
        if p.name.startswith(".") or not p.name.endswith(".json"):
            continue
        try:
            a, b = (int(x) for x in p.name[:-5].split("-"))
            failed = [(int(i), str(m)) for i, m in json.loads(p.read_text())]
        except (ValueError, json.JSONDecodeError):
            continue  # not ours, or damaged: its rows are simply computed again
        if 0 <= a < b <= n:
            out.append((a, b, failed))
    return sorted(out)


def _todo(done: list[tuple[int, int, Any]], n: int, chunk: int) -> list[tuple[int, int]]:
    """Row ranges not covered by ``done``, cut into chunks of at most ``chunk`` rows."""
    covered = np.zeros(n + 1, dtype=np.int64)
    for a, b, _ in done:
        covered[a] += 1
        covered[b] -= 1
    free = np.cumsum(covered)[:n] == 0
    ranges = []
    edges = np.flatnonzero(np.diff(np.r_[0, free.astype(np.int8), 0]))
    for a, b in zip(edges[::2], edges[1::2]):
        ranges += [(int(s), int(min(s + chunk, b))) for s in range(int(a), int(b), chunk)]
    return ranges


def _open_partial(partial: Path, done_dir: Path, shape: tuple[int, int]) -> bool:
    """Make sure ``partial`` is a float32 .npy of ``shape``; True if an old one was kept (resume)."""
    if partial.exists():
        try:
            mm = np.load(partial, mmap_mode="r")
            ok = mm.shape == shape and mm.dtype == np.float32
            del mm
        except (ValueError, OSError):
            ok = False
        if ok:
            done_dir.mkdir(exist_ok=True)
            return True
        log.warning("discarding %s: not a float32 matrix of shape %s", partial, shape)
        partial.unlink()
    shutil.rmtree(done_dir, ignore_errors=True)
    fd, tmp = tempfile.mkstemp(dir=partial.parent, prefix=partial.name + ".tmp-")
    os.close(fd)
    try:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
        del mm
        os.replace(tmp, partial)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    done_dir.mkdir(exist_ok=True)
    return False


class _Progress:
    """tqdm bar (rate and ETA) on a terminal; a log line every ``every`` seconds otherwise."""

    def __init__(self, total: int, initial: int, desc: str, progress: bool | None, every: float = 30.0) -> None:
        from tqdm.auto import tqdm

        self.total, self.done, self.desc, self.every = total, initial, desc, every
        self.t0 = self.last = time.perf_counter()
        self.start = initial
        self.bar = tqdm(total=total, initial=initial, desc=desc, unit="cover", mininterval=1.0, smoothing=0.1,
                        disable=(None if progress is None else not progress))
        self.log = self.bar.disable and progress is not False

    def update(self, n: int) -> None:
        self.done += n
        self.bar.update(n)
        now = time.perf_counter()
        if self.log and now - self.last >= self.every:
            self.last = now
            rate = (self.done - self.start) / max(now - self.t0, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            log.info("%s: %d/%d covers (%.0f%%), %.0f covers/s, ETA %.0fs", self.desc, self.done, self.total,
                     100.0 * self.done / max(self.total, 1), rate, eta)

    def close(self) -> None:
        self.bar.close()


# --------------------------------------------------------------------------- the entry point
@dataclass
class ExtractResult:
    path: Path  # the finished matrix
    failed: list[tuple[int, str]]  # (cover index, message), sorted
    n_chunks: int  # chunks that make up the matrix (resumed + computed)
    resumed_chunks: int  # chunks found done from an earlier, interrupted run
    computed_chunks: int
    resumed_rows: int
    seconds: float
    engine: str = "local"
    info: dict = field(default_factory=dict)


def extract(source: Any, extractor: Any, out_path: str | Path, *, failed_path: str | Path | None = None,
            chunk_size: int | None = None, n_jobs: int = -1, on_error: str = "skip", engine: Any = None,
            progress: bool | None = None, desc: str | None = None) -> ExtractResult:
    """Featurise every cover of ``source`` into the float32 ``.npy`` at ``out_path`` (see the module doc).

    ``engine``: a :class:`~covers.features.engines.base.Engine`; default: ``LocalEngine(n_jobs)``.
    ``chunk_size``: rows per chunk, default the engine's. ``failed_path``: where the
    CSV ``index,message`` of undecodable covers goes (written before the matrix is renamed into
    place, so an existing matrix always has its list). Returns once the matrix is complete.
    """
    if on_error not in ("skip", "fail"):
        raise ValueError(f"on_error must be 'skip' or 'fail', got {on_error!r}")
    if engine is None:
        from covers.features.engines.local import LocalEngine

        engine = LocalEngine(n_jobs=n_jobs, chunk_size=DEFAULT_CHUNK if chunk_size is None else chunk_size)
    chunk_size = engine.chunk_size if chunk_size is None else chunk_size
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    t0 = time.perf_counter()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    n, d = len(source), int(extractor.n_features())
    partial, done_dir = partial_paths(out)
    if n == 0:  # nothing to map: an empty matrix
        from covers.cache import atomic_write_bytes

        if failed_path is not None:
            atomic_write_bytes(Path(failed_path), lambda f: f.write(b"index,message\n"))
        atomic_write_bytes(out, lambda f: np.save(f, np.zeros((0, d), np.float32)))
        return ExtractResult(path=out, failed=[], n_chunks=0, resumed_chunks=0, computed_chunks=0, resumed_rows=0,
                             seconds=time.perf_counter() - t0, engine=engine.name)
    resumed = _open_partial(partial, done_dir, (n, d))
    done = _read_done(done_dir, n) if resumed else []
    todo = _todo(done, n, int(chunk_size))
    resumed_rows = sum(b - a for a, b, _ in done)
    if done:
        log.info("resuming %s: %d chunks (%d of %d covers) already done", out.name, len(done), resumed_rows, n)
    job = ChunkJob(source=source, extractor=single_threaded(extractor), on_error=on_error, n_features=d,
                   partial=str(partial), done_dir=str(done_dir))
    desc = desc or f"features {type(extractor).__name__} {getattr(extractor, 'size', '')}px {getattr(extractor, 'mode', '')}"
    bar = _Progress(n, resumed_rows, desc, progress)
    failed = [f for _, _, fl in done for f in fl]
    computed = 0
    try:
        if todo:
            for a, b, fl in engine.run(job, todo):
                failed += fl
                computed += 1
                bar.update(b - a)
    finally:
        bar.close()
    # everything is covered: publish the failures, then the matrix, atomically and in that order
    failed.sort()
    if failed_path is not None:
        import pandas as pd

        from covers.cache import atomic_write_bytes

        frame = pd.DataFrame(failed, columns=["index", "message"])
        atomic_write_bytes(Path(failed_path), lambda f: f.write(frame.to_csv(index=False).encode()))
    with open(partial, "r+b") as f:
        os.fsync(f.fileno())
    os.replace(partial, out)
    shutil.rmtree(done_dir, ignore_errors=True)
    secs = time.perf_counter() - t0
    rate = (n - resumed_rows) / secs if secs > 0 else float("nan")
    log.info("%s: %d covers (%d resumed) in %.1fs, %.0f covers/s, %d failed, engine %s", desc, n, resumed_rows,
             secs, rate, len(failed), engine.name)
    return ExtractResult(path=out, failed=failed, n_chunks=len(done) + computed, resumed_chunks=len(done),
                         computed_chunks=computed, resumed_rows=resumed_rows, seconds=secs,
                         engine=engine.name)


def extract_array(source: Any, extractor: Any, **kw: Any) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """:func:`extract` into a temporary file, returned memory-mapped (the file is unlinked at once;
    the mapping keeps its pages until the array is dropped). For runs without a cache dir."""
    d = tempfile.mkdtemp(prefix="covers-features-")
    try:
        res = extract(source, extractor, Path(d) / "features.npy", **kw)
        X = np.load(res.path, mmap_mode="r")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return X, res.failed
