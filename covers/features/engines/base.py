"""The engine contract: where extraction chunks run.

An engine's :meth:`Engine.run` runs :func:`covers.features.extract.run_chunk` (or
:func:`~covers.features.extract.compute_chunk` + :func:`~covers.features.extract.write_chunk`)
for every ``(start, stop)`` row range and yields ``(start, stop, failed)`` as each chunk is
finished, i.e. its rows are written and flushed and its done-marker exists. Engines only decide
where the same code runs, so every engine gives a bit-identical matrix: all of an engine's
parameters are speed parameters, and no engine is part of a cache key or the config hash.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterator, Sequence

from covers.utils import Part


class Engine(Part, ABC):
    #: shown in logs and the run's tags
    name: str = "engine"
    #: rows per chunk (``chunk_size``): bounds each worker's memory and the work lost to a crash
    chunk_size: int

    @abstractmethod
    def run(self, job, ranges: Sequence[tuple[int, int]]) -> Iterator[tuple[int, int, list]]:
        """Compute every range of ``job`` (a :class:`~covers.features.extract.ChunkJob`), yielding as each is done."""

    def check(self) -> None:
        self._require_int("chunk_size")
