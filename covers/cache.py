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
from pathlib import Path
from typing import Any, Callable

import numpy as np


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
    """``get_or_compute(kind, key, fn)`` -> (array, hit: bool)."""

    def __init__(self, root: str | Path | None, enabled: bool = True) -> None:
        self.root = Path(root) if root is not None else None
        self.enabled = enabled and root is not None

    def path(self, kind: str, key: str) -> Path:
        assert self.root is not None
        return self.root / kind / f"{key}.npy"

    def get_or_compute(self, kind: str, key: str, fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, bool]:
        if not self.enabled:
            return fn(), False
        p = self.path(kind, key)
        if p.exists():
            return np.load(p, allow_pickle=False), True
        arr = np.ascontiguousarray(fn())
        atomic_write_bytes(p, lambda f: np.save(f, arr, allow_pickle=False))
        return arr, False
