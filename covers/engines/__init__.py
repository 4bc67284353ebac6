"""Where extraction chunks run: ``engine=local`` (worker processes here) or ``engine=dask``.

An engine has ``name`` and ``run(job, ranges)``: it runs :func:`covers.extract.run_chunk`
(or :func:`~covers.extract.compute_chunk` + :func:`~covers.extract.write_chunk`) for every
``(start, stop)`` row range and yields ``(start, stop, failed)`` as each chunk is finished,
i.e. its rows are written and flushed and its done-marker exists. Engines only decide where
the same code runs, so every engine gives a bit-identical matrix; they are not part of any
cache key (like ``n_jobs``).
"""
from __future__ import annotations

from covers.engines.local import LocalEngine

__all__ = ["LocalEngine", "DaskEngine", "default_engine"]


def __getattr__(name: str):
    if name == "DaskEngine":  # imported lazily: dask is only needed when it is used
        from covers.engines.dask_engine import DaskEngine

        return DaskEngine
    raise AttributeError(name)


def default_engine(n_jobs: int = -1) -> LocalEngine:
    return LocalEngine(n_jobs=n_jobs)
