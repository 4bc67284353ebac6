"""``engine=dask``: chunks as tasks on a Dask cluster (``dask.distributed``).

``address: null`` starts a ``LocalCluster`` on loopback (``n_workers`` processes of
``threads_per_worker`` threads; 2 x 1 by default) for the extraction and closes it after;
``address: tcp://scheduler:8786`` uses a running cluster (the client is closed, the cluster
is left alone). The :class:`~covers.features.extract.ChunkJob` (cover source + extractor) is scattered
to every worker once; tasks carry only a row range.

Two ways to get the rows back (``transfer``):

* ``file`` (default): each worker writes its chunk into the ``.partial`` matrix and its
  done-marker itself. Needs the cache dir (``paths.cache_dir``) on a file system every worker
  sees at the same path (NFS, Lustre, a shared volume), and the covers readable by the workers
  (``dataset=folder``: the same paths; ``dataset=synthetic`` renders them anywhere).
* ``return``: workers return their chunk (float32 rows + failures) to the client, which writes
  and marks it. No shared file system for the cache; costs the rows' bytes over the network
  (1M x 256 floats = 1 GiB for 16x16 pixels).

Either way the matrix is bit-identical to ``engine=local``'s. The workers need this package
and its dependencies installed (same versions), as for any Dask code.
"""
from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from typing import Iterator, Sequence

from covers.features.engines.base import Engine
from covers.features.chunks import ChunkJob, compute_chunk, run_chunk, write_chunk

TRANSFERS = ("file", "return")


class DaskEngine(Engine):
    name = "dask"
    speed_params = ("address", "n_workers", "threads_per_worker", "transfer", "memory_limit", "host", "dashboard",
                    "chunk_size")

    def __init__(self, address: str | None = None, n_workers: int = 2, threads_per_worker: int = 1,
                 transfer: str = "file", memory_limit: str | int | None = "auto", host: str = "127.0.0.1",
                 dashboard: bool = False, chunk_size: int = 2048) -> None:
        self.address = address
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.chunk_size = chunk_size
        self.transfer = transfer
        self.memory_limit = memory_limit
        self.host = host
        self.dashboard = dashboard

    def check(self) -> None:
        super().check()
        if self.transfer not in TRANSFERS:
            raise ValueError(f"DaskEngine: transfer must be one of {TRANSFERS}, got {self.transfer!r}")
        if self.address is None and (int(self.n_workers) < 1 or int(self.threads_per_worker) < 1):
            raise ValueError("DaskEngine: n_workers and threads_per_worker must be >= 1")

    @contextlib.contextmanager
    def client(self):
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # an optional extra: say which
            raise ImportError("engine=dask needs Dask's distributed scheduler: pip install -e .[cluster]") from exc

        if self.address:
            with Client(self.address) as c:
                yield c
            return
        import dask

        scratch = tempfile.mkdtemp(prefix="covers-dask-")  # workers' spill dir and locks, removed afterwards
        try:
            with dask.config.set({"temporary-directory": scratch}), \
                    LocalCluster(n_workers=int(self.n_workers), threads_per_worker=int(self.threads_per_worker), processes=True,
                                 host=self.host, dashboard_address=":0" if self.dashboard else None,
                                 worker_dashboard_address=None, scheduler_kwargs={"dashboard": self.dashboard},
                                 memory_limit=self.memory_limit, local_directory=scratch,
                                 silence_logs=logging.ERROR) as cluster, \
                    Client(cluster) as c:
                yield c
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def run(self, job: ChunkJob, ranges: Sequence[tuple[int, int]]) -> Iterator[tuple[int, int, list]]:
        from distributed import as_completed

        self.check()
        with self.client() as client:
            job_f = client.scatter(job, broadcast=True, hash=False)
            starts = [a for a, _ in ranges]
            stops = [b for _, b in ranges]
            fn = run_chunk if self.transfer == "file" else compute_chunk
            futures = client.map(fn, [job_f] * len(ranges), starts, stops, pure=False,
                                 key=[f"covers-chunk-{a}-{b}-{id(job)}" for a, b in ranges])
            span = {f.key: (a, b) for f, a, b in zip(futures, starts, stops)}
            try:
                for fut in as_completed(futures):
                    res = fut.result()
                    if self.transfer == "file":
                        yield res
                    else:
                        a, b = span[fut.key]
                        feats, failed = res
                        write_chunk(job.partial, job.done_dir, a, b, feats, failed)
                        yield a, b, failed
                    fut.release()
            finally:
                client.cancel(futures)
