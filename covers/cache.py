"""The one on-disk cache: content-addressed entries, one locking and atomic-write discipline.

Every kind of entry goes through :class:`Cache`: feature matrices (``features/<key>.npy``) and
their failure lists (``failed/<key>.csv``), built indexes (``index/<key>.ann``), generated
worlds (``worlds/<name>/``, a folder) and remembered cover digests (``digests/<key>.parquet``).
The rules are the same for all of them:

* **Keys** are hashes (:func:`key_of`) of everything that determines the entry - content
  fingerprints and the parts' result parameters (:meth:`covers.utils.Part.result_params`) -
  never of what does not (paths of outputs, thread counts, batch sizes).
* **Locking**: an entry is built while holding ``<entry>.lock`` (``flock``), so parallel sweep
  jobs that need the same entry compute it once; the others wait and find it done.
* **Atomic publishing**: a builder writes a temporary name next to the entry, which is renamed
  into place (``os.replace``) only when complete, so a killed build never leaves a truncated
  entry under the real name. Resumable builders that keep their own progress next to the entry
  (streaming extraction's ``.partial`` matrix, the world generator) publish it themselves, by
  the same rename, and say so (``publishes=True``).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator


def key_of(*parts: Any) -> str:
    """Stable hash of JSON-able parts (dict keys sorted)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock on ``path`` (created if needed), across processes (flock: local
    file systems and NFSv4)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def atomic_write_bytes(path: Path, write: Callable[[Any], None], suffix: str = "") -> None:
    """Call ``write(fileobj)`` on a temp file next to ``path``, fsync it, then rename it into place."""
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


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


class Cache:
    """Entries ``<root>/<kind>/<key><suffix>``. ``Cache(None)`` is disabled: nothing is kept."""

    def __init__(self, root: str | Path | None) -> None:
        self.root = Path(root) if root is not None else None

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def entry(self, kind: str, key: str, suffix: str = "") -> Path:
        if self.root is None:
            raise ValueError(f"no cache directory (paths.cache_dir) for the {kind} entry {key}")
        return self.root / kind / f"{key}{suffix}"

    @contextmanager
    def locked(self, kind: str, key: str, suffix: str = "") -> Iterator[Path]:
        """Hold the entry's lock; yields its path."""
        p = self.entry(kind, key, suffix)
        with file_lock(p.with_name(p.name + ".lock")):
            yield p

    def get_or_build(self, kind: str, key: str, build: Callable[[Path], Any], suffix: str = "",
                     publishes: bool = False) -> tuple[Path, bool]:
        """(entry path, hit). On a miss, under the entry's lock, ``build(tmp)`` writes a temporary
        path next to the entry (a file or a folder), which is then renamed into place; with
        ``publishes=True`` ``build(entry)`` is given the entry itself and must make it appear
        atomically (by its own rename)."""
        p = self.entry(kind, key, suffix)
        if p.exists():
            return p, True
        with self.locked(kind, key, suffix):
            if p.exists():  # another process built it while we waited
                return p, True
            if publishes:
                build(p)
            else:
                tmp = p.with_name(f"{p.name}.tmp-{os.getpid()}")
                _remove(tmp)
                try:
                    build(tmp)
                    if not tmp.exists():
                        raise RuntimeError(f"building the {kind} cache entry {p.name} wrote nothing at {tmp}")
                    if tmp.is_file():
                        with open(tmp, "rb") as f:
                            os.fsync(f.fileno())
                    os.replace(tmp, p)
                except BaseException:
                    _remove(tmp)
                    raise
            if not p.exists():
                raise RuntimeError(f"building the {kind} cache entry {p} did not create it")
        return p, False

    def replace(self, kind: str, key: str, write: Callable[[Any], None], suffix: str = "") -> Path:
        """Rewrite a (non content-addressed, updated) entry atomically under its lock, e.g. the
        remembered digests of a folder."""
        with self.locked(kind, key, suffix) as p:
            atomic_write_bytes(p, write)
        return p
