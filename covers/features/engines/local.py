"""``engine=local``: chunks on a pool of worker processes on this machine.

Processes, not threads: decoding and drawing covers is Python + Pillow work that holds the
GIL part of the time. Workers are forked from a small ``forkserver`` process (not from the
parent, which may hold MLflow/tqdm threads and a large heap), get the
:class:`~covers.features.extract.ChunkJob` (source + single-threaded extractor) once when they start,
then receive only row ranges. Each writes its chunk straight into the shared ``.partial``
matrix and marks it done; the parent only counts.
"""
from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Iterator, Sequence

from covers.features.engines.base import Engine
from covers.features.chunks import ChunkJob, run_chunk
from covers.utils import mp_context, resolve_n_jobs

_JOB: ChunkJob | None = None


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


class LocalEngine(Engine):
    name = "local"
    speed_params = ("n_jobs", "chunk_size", "max_pending")

    def __init__(self, n_jobs: int = -1, chunk_size: int = 2048, max_pending: int = 4) -> None:
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.max_pending = max_pending  # chunks queued ahead per worker

    def check(self) -> None:
        super().check()
        self._require_n_jobs("n_jobs")
        self._require_int("max_pending")

    def workers(self, n_chunks: int) -> int:
        return max(1, min(resolve_n_jobs(self.n_jobs), n_chunks))

    def run(self, job: ChunkJob, ranges: Sequence[tuple[int, int]]) -> Iterator[tuple[int, int, list]]:
        self.check()
        w = self.workers(len(ranges))
        if w == 1:  # in this process: no pickling, no start-up
            for a, b in ranges:
                yield run_chunk(job, a, b)
            return
        ahead = w * self.max_pending
        todo = list(ranges)[::-1]
        pool = ProcessPoolExecutor(w, mp_context=mp_context(("covers.features.chunks", "covers.features.engines.local")), initializer=_init, initargs=(job,))
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
