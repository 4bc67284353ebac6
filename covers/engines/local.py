"""``engine=local``: chunks on a pool of worker processes on this machine.

Processes, not threads: decoding and drawing covers is Python + Pillow work that holds the
GIL part of the time. Workers are forked from a small ``forkserver`` process (not from the
parent, which may hold MLflow/tqdm threads and a large heap), get the
:class:`~covers.extract.ChunkJob` (source + single-threaded extractor) once when they start,
then receive only row ranges. Each writes its chunk straight into the shared ``.partial``
matrix and marks it done; the parent only counts.
"""
from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Iterator, Sequence

from covers.extract import ChunkJob, run_chunk

_JOB: ChunkJob | None = None


def resolve_n_jobs(n_jobs: int | None) -> int:
    """-1/None -> the cores this process may use; else max(1, n_jobs)."""
    if n_jobs in (-1, None):
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, int(n_jobs))


def _init(job: ChunkJob) -> None:
    global _JOB
    _JOB = job
    try:  # BLAS/OpenMP pools of one thread: the processes are the parallelism
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover
        pass


def _run(start: int, stop: int):
    assert _JOB is not None
    return run_chunk(_JOB, start, stop)


def mp_context():
    """forkserver where available (POSIX), else spawn; preloads the package so forks are cheap."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["covers.extract", "covers.engines.local"])
        return ctx
    return mp.get_context("spawn")


class LocalEngine:
    name = "local"

    def __init__(self, n_jobs: int = -1, max_pending: int | None = None) -> None:
        self.n_jobs = n_jobs
        self.max_pending = max_pending  # chunks queued ahead per worker (default 4)

    def workers(self, n_chunks: int) -> int:
        return max(1, min(resolve_n_jobs(self.n_jobs), n_chunks))

    def run(self, job: ChunkJob, ranges: Sequence[tuple[int, int]]) -> Iterator[tuple[int, int, list]]:
        w = self.workers(len(ranges))
        if w == 1:  # in this process: no pickling, no start-up
            for a, b in ranges:
                yield run_chunk(job, a, b)
            return
        ahead = w * (self.max_pending or 4)
        todo = list(ranges)[::-1]
        pool = ProcessPoolExecutor(w, mp_context=mp_context(), initializer=_init, initargs=(job,))
        try:
            pending = set()
            while todo or pending:
                while todo and len(pending) < ahead:
                    a, b = todo.pop()
                    pending.add(pool.submit(_run, a, b))
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    yield f.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
