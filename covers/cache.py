"""A tiny content-addressed on-disk cache for expensive arrays.

Keys are hashes of everything that determines a result (dataset fingerprint +
parameters), never of things that don't (paths, n_jobs). Writes go to a
temporary file in the same directory and are moved into place with
``os.replace``, which is atomic on POSIX: a run killed mid-write leaves at most
a ``*.tmp-*`` file that is never read as an entry.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import numpy as np


@contextmanager
def file_lock(path: Path):
    """Exclusive advisory lock on ``path`` (created if needed), across processes.

    Parallel sweep jobs often need the same cache entry; the first computes it while the
    others wait here and then find it done, instead of computing it 8 times at once or
    tripping over each other's temporary files. (flock: local filesystems and NFSv4.)
    """
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def key_of(*parts: Any) -> str:
    """Stable hash of JSON-able parts (dict keys sorted)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


def atomic_write_bytes(path: Path, write: Callable[[Any], None], suffix: str = "") -> None:
    """Call ``write(fileobj)`` on a temp file next to ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".tmp-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ArrayCache:
    """``get_or_compute(kind, key, fn)`` -> (array, hit: bool).

    ``mmap_mode="r"`` returns entries memory-mapped instead of read into memory (for matrices
    larger than is comfortable in RAM); ``get_or_build`` is for producers that write the entry
    file themselves (streaming, resumable: :mod:`covers.extract`).
    """

    def __init__(self, root: str | Path | None, enabled: bool = True) -> None:
        self.root = Path(root) if root is not None else None
        self.enabled = enabled and root is not None

    def path(self, kind: str, key: str) -> Path:
        assert self.root is not None
        return self.root / kind / f"{key}.npy"

    def get_or_compute(self, kind: str, key: str, fn: Callable[[], np.ndarray],
                       mmap_mode: str | None = None) -> tuple[np.ndarray, bool]:
        if not self.enabled:
            return fn(), False
        p = self.path(kind, key)
        if p.exists():
            return np.load(p, allow_pickle=False, mmap_mode=mmap_mode), True
        with file_lock(p.with_name(p.name + ".lock")):
            if p.exists():  # another process computed it while we waited
                return np.load(p, allow_pickle=False, mmap_mode=mmap_mode), True
            arr = np.ascontiguousarray(fn())
            atomic_write_bytes(p, lambda f: np.save(f, arr, allow_pickle=False))
        return arr, False

    def get_or_build(self, kind: str, key: str, build: Callable[[Path], Any],
                     mmap_mode: str | None = "r") -> tuple[np.ndarray, bool]:
        """Like ``get_or_compute``, but ``build(path)`` writes the entry ``path`` itself (it must
        appear atomically, e.g. by ``os.replace``); the entry is then loaded (memory-mapped by default)."""
        if not self.enabled:
            raise ValueError("get_or_build needs an enabled cache (a root directory)")
        p = self.path(kind, key)
        if p.exists():
            return np.load(p, allow_pickle=False, mmap_mode=mmap_mode), True
        p.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(p.with_name(p.name + ".lock")):
            if p.exists():  # another process built it while we waited
                return np.load(p, allow_pickle=False, mmap_mode=mmap_mode), True
            build(p)
            if not p.exists():
                raise RuntimeError(f"build() did not create the cache entry {p}")
        return np.load(p, allow_pickle=False, mmap_mode=mmap_mode), False
