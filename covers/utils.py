"""Low-level helpers every stage may import. Imports nothing of ours (a leaf of the package).

* :func:`resolve_n_jobs` - the one meaning of ``n_jobs`` (-1 = every core this process may use).
* :func:`mp_context` - where worker processes come from.
* :func:`release_rows` - drop pages of a memory-mapped matrix after a pass over it.
* :class:`JobKilled` - the exception a job's work raises when its process was killed by a signal.
* :data:`PROJECT_ROOT` - the checkout, for default stores and caches.
"""
from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class JobKilled(RuntimeError):
    """A job's work died from a signal (SIGKILL by the OOM killer, a segfault): its run ends KILLED."""


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, as taskset/cgroups/SLURM set it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def resolve_n_jobs(n_jobs: Any) -> int:
    """``n_jobs`` as a number of workers: -1 (or None) = :func:`available_cores`; an int >= 1 = itself.

    Anything else (0, -2, 1.5, "4", True) is an error: joblib's ``-2`` = "all but one" is not
    supported, and saying so beats guessing.
    """
    if n_jobs is None or (not isinstance(n_jobs, bool) and n_jobs == -1):
        return available_cores()
    if isinstance(n_jobs, bool) or not (isinstance(n_jobs, int) or _is_int(n_jobs)) or int(n_jobs) < 1:
        raise ValueError(f"n_jobs must be -1 (every available core) or an int >= 1, got {n_jobs!r}")
    return int(n_jobs)


def _is_int(v: Any) -> bool:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        return False
    return isinstance(v, np.integer)


def mp_context(preload: tuple[str, ...] = ("covers.features.extract",)):
    """forkserver where available (POSIX), else spawn; the server preloads ``preload`` so forks are cheap.

    Not a plain fork: the parent may hold MLflow connections, tqdm threads and a large heap.
    """
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload))
        return ctx
    return mp.get_context("spawn")


def release_rows(X: Any, start: int = 0, stop: int | None = None) -> None:
    """Drop rows ``start:stop`` of a memory-mapped matrix (a whole ``np.memmap`` / ``np.load(...,
    mmap_mode=...)``, not a slice of one) from this process's resident memory: the pages stay in
    the page cache (written back first if dirty) and are faulted in again on the next access.
    After a pass over a mapped matrix, its pages then stop counting against the process. No-op
    for anything else."""
    import mmap

    mm = getattr(X, "_mmap", None)
    if mm is None or not isinstance(getattr(X, "base", None), mmap.mmap) or not hasattr(mm, "madvise"):
        return
    if X.ndim == 0 or len(X) == 0 or not X.flags.c_contiguous:
        return
    stop = len(X) if stop is None else min(stop, len(X))
    row = X.strides[0]
    base = int(getattr(X, "offset", 0)) % mmap.ALLOCATIONGRANULARITY
    lo = (base + start * row) // mmap.PAGESIZE * mmap.PAGESIZE
    hi = min(base + stop * row, len(mm))
    if hi > lo:
        mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)


class Part:
    """scikit-learn's estimator conventions, for every swappable part (dataset, extractor, index,
    splitter, scorer, engine):

    * ``__init__`` stores its keyword arguments under their own names and nothing else, so
      :meth:`get_params` can read them back and a part pickles to what its config said;
    * parameters are validated by :meth:`check`, which the stage method (``load``, ``transform``,
      ``build``, ``split``, ``fit``, ``run``) calls first; learned state ends in ``_``;
    * ``speed_params`` names the parameters that change only speed or memory (threads, batch
      sizes), never a result: they are left out of :meth:`result_params`, which is what cache
      keys, the config hash, run names and resume are made of (:mod:`covers.config`).
    """

    speed_params: tuple[str, ...] = ()

    @classmethod
    def param_names(cls) -> list[str]:
        import inspect

        if cls.__init__ is object.__init__:
            return []
        sig = inspect.signature(cls.__init__)
        return [p.name for p in list(sig.parameters.values())[1:] if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    @classmethod
    def speed_param_names(cls) -> tuple[str, ...]:
        """The parameters that change only speed or memory (what :mod:`covers.config` drops)."""
        return tuple(cls.speed_params)

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.param_names()}

    def result_params(self) -> dict[str, Any]:
        """Everything that determines this part's output: its class and every non-speed parameter."""
        return {"class": type(self).__name__,
                **{k: v for k, v in self.get_params().items() if k not in self.speed_param_names()}}

    def check(self) -> None:
        """Raise ValueError (naming the part and the parameter) for parameters it cannot work with."""

    def _require_n_jobs(self, *names: str) -> None:
        """Each named parameter must be a valid ``n_jobs`` (:func:`resolve_n_jobs`)."""
        for name in names:
            try:
                resolve_n_jobs(getattr(self, name))
            except ValueError:
                raise ValueError(f"{type(self).__name__}: {name} must be -1 (every available core) or an int >= 1, "
                                 f"got {getattr(self, name)!r}") from None

    def _require_int(self, *names: str, minimum: int = 1, also: tuple[int, ...] = (), why: str = "") -> None:
        """Each named parameter must be an int >= ``minimum`` (or one of ``also``, e.g. -1 = automatic)."""
        for name in names:
            v = getattr(self, name)
            if isinstance(v, bool) or not (isinstance(v, int) or _is_int(v)) or (v < minimum and v not in also):
                alt = "".join(f" or {a}" for a in also)
                raise ValueError(f"{type(self).__name__}: {name} must be an int >= {minimum}{alt}{why}, got {v!r}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"
