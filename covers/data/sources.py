"""Where cover pixels come from: files on disk, or rendered on demand.

Both go through :func:`covers.data.images.finish` (RGB -> antialiased resize -> gray), so
a procedural cover and the same cover saved losslessly and read back give identical pixels.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import numpy as np

from covers.data.images import CoverDecodeError, decode_cover, finish
from covers.utils import resolve_n_jobs



class CoverSource:
    """Random access to N covers as uint8 pixels at any size."""

    def __len__(self) -> int:
        raise NotImplementedError

    def describe(self, i: int) -> str:
        """How a message should name cover i (its file, or its procedural id)."""
        raise NotImplementedError

    def one(self, i: int, size: int, mode: str) -> np.ndarray:
        raise NotImplementedError

    def subset(self, keep: np.ndarray) -> "CoverSource":
        raise NotImplementedError

    def decode(self, indices: Sequence[int], size: int, mode: str = "gray", n_jobs: int = -1,
               on_error: str = "fail") -> tuple[np.ndarray, list[tuple[int, str]]]:
        """Pixels of ``indices`` (threads: Pillow releases the GIL) and the (position, message)
        of those that failed; ``on_error="fail"`` raises on the first instead. Failed rows are zero."""
        if on_error not in ("skip", "fail"):
            raise ValueError(f"on_error must be 'skip' or 'fail', got {on_error!r}")
        idx = list(indices)
        shape = (size, size) if mode == "gray" else (size, size, 3)
        out = np.zeros((len(idx),) + shape, dtype=np.uint8)
        failed: list[tuple[int, str]] = []

        def work(pos: int) -> None:
            try:
                out[pos] = self.one(idx[pos], size, mode)
            except CoverDecodeError as exc:
                if on_error == "fail":
                    raise
                failed.append((pos, str(exc)))

        w = resolve_n_jobs(n_jobs)
        if w == 1 or len(idx) < 64:
            for p in range(len(idx)):
                work(p)
        else:
            with ThreadPoolExecutor(w) as pool:
                list(pool.map(work, range(len(idx))))
        return out, sorted(failed)


class FileCovers(CoverSource):
    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = [str(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def describe(self, i: int) -> str:
        return self.paths[i]

    def one(self, i: int, size: int, mode: str) -> np.ndarray:
        return decode_cover(self.paths[i], size, mode)

    def subset(self, keep: np.ndarray) -> "FileCovers":
        return FileCovers([p for p, k in zip(self.paths, keep) if k])


class ProceduralCovers(CoverSource):
    """Covers rendered on demand by ``render(seed, index, style, image_size, **kw) -> PIL.Image``.

    Deterministic per item, so a million-cover world needs no cover files to be reproducible.
    ``kw`` is ``world`` (the same for every cover) plus, per cover, ``per_item`` (one array per
    keyword, in the order of ``styles``: compact at a million covers, where dicts would not be).
    """

    def __init__(self, render: Callable, seed: int, styles: Sequence[str], image_size: int,
                 indices: Sequence[int] | None = None, per_item: dict[str, np.ndarray] | None = None,
                 world: dict | None = None) -> None:
        self.render = render
        self.seed = seed
        self.styles = list(styles)
        self.image_size = image_size
        self.indices = list(range(len(self.styles))) if indices is None else list(indices)
        self.per_item = {k: np.asarray(v) for k, v in (per_item or {}).items()}
        self.world = dict(world or {})
        bad = {k: len(v) for k, v in self.per_item.items() if len(v) != len(self.styles)}
        if bad:
            raise ValueError(f"ProceduralCovers: per_item arrays {bad} do not match {len(self.styles)} styles")

    def __len__(self) -> int:
        return len(self.styles)

    def describe(self, i: int) -> str:
        return f"procedural cover #{self.indices[i]} (seed {self.seed}, style {self.styles[i]})"

    def one(self, i: int, size: int, mode: str) -> np.ndarray:
        kw = {k: v[i].item() for k, v in self.per_item.items()}
        return finish(self.render(self.seed, self.indices[i], self.styles[i], self.image_size, **kw, **self.world),
                      size, mode)

    def subset(self, keep: np.ndarray) -> "ProceduralCovers":
        keep = np.asarray(keep, bool)
        return ProceduralCovers(self.render, self.seed, [s for s, k in zip(self.styles, keep) if k], self.image_size,
                                [i for i, k in zip(self.indices, keep) if k],
                                {name: v[keep] for name, v in self.per_item.items()}, self.world)
