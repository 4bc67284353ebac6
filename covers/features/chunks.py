"""What a worker does with one chunk of covers: decode, featurise, write its rows, mark it done.

Every engine (:mod:`covers.features.engines`) runs these same functions, so the matrix is
bit-identical whichever engine and however many workers; :mod:`covers.features.extract`
decides which chunks are still to do and publishes the finished matrix.

Testing hook: ``COVERS_EXTRACT_SLOWDOWN=<seconds>`` in a worker's environment sleeps that
long after each chunk (used to kill an extraction mid-way in the tests).
"""
from __future__ import annotations

import copy
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

SLOWDOWN_ENV = "COVERS_EXTRACT_SLOWDOWN"


# --------------------------------------------------------------------------- what a worker needs
@dataclass(frozen=True)
class ChunkJob:
    """Everything a worker needs besides the row range; pickled once per worker, not per chunk."""

    source: Any  # CoverSource
    extractor: Any  # FeatureExtractor, single-threaded copy
    on_error: str
    n_features: int
    partial: str = ""  # path of the .partial matrix (engines that write it from the workers)
    done_dir: str = ""


def single_threaded(extractor: Any) -> Any:
    """A copy of ``extractor`` that does not start threads of its own (``n_jobs=1``)."""
    ex = copy.copy(extractor)
    if "n_jobs" in type(ex).param_names():
        ex.n_jobs = 1
    return ex


def compute_chunk(job: ChunkJob, start: int, stop: int) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Features of covers ``start:stop`` (float32) and the (index, message) of those that failed.

    Failed covers are decoded as zeros (their rows are dropped by the caller), exactly as
    :meth:`CoverSource.decode` does in memory.
    """
    try:
        from threadpoolctl import threadpool_limits
        limit = threadpool_limits(1)
    except ImportError:  # pragma: no cover
        limit = None
    try:
        ex = job.extractor
        pix, bad = job.source.decode(range(start, stop), ex.size, ex.mode, 1, job.on_error)
        feats = np.ascontiguousarray(ex.transform(pix), dtype=np.float32)
    finally:
        if limit is not None:
            limit.restore_original_limits()
    if feats.shape != (stop - start, job.n_features):
        raise ValueError(f"{type(ex).__name__} returned shape {feats.shape} for {stop - start} covers, "
                         f"expected ({stop - start}, {job.n_features})")
    slow = float(os.environ.get(SLOWDOWN_ENV, "0") or 0)
    if slow > 0:
        time.sleep(slow)
    return feats, [(start + int(i), str(m)) for i, m in bad]


def write_chunk(partial: str | Path, done_dir: str | Path, start: int, stop: int, feats: np.ndarray,
                failed: Sequence[tuple[int, str]]) -> None:
    """Write rows ``start:stop`` of the partial matrix, flush them, then mark the chunk done."""
    mm = np.load(partial, mmap_mode="r+")
    try:
        mm[start:stop] = feats
        mm.flush()  # msync: the rows are on disk before the marker says so
    finally:
        del mm  # unmap: a worker's resident memory stays one chunk
    done = Path(done_dir)
    tmp = done / f".{start}-{stop}.json.tmp-{os.getpid()}"
    tmp.write_text(json.dumps([[int(i), m] for i, m in failed]))
    os.replace(tmp, done / f"{start}-{stop}.json")


def run_chunk(job: ChunkJob, start: int, stop: int) -> tuple[int, int, list[tuple[int, str]]]:
    """compute + write + mark, in the worker (engines whose workers share the file system)."""
    feats, failed = compute_chunk(job, start, stop)
    write_chunk(job.partial, job.done_dir, start, stop, feats, failed)
    return start, stop, failed
