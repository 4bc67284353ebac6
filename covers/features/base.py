"""The contract every feature extractor follows.

An extractor is instantiated from ``conf/features/<name>.yaml`` (``_target_``),
declares the square image side (``size``) and colour ``mode`` ("gray" or "rgb")
it wants its input in, and turns a batch of uint8 images into float32 vectors.
The pipeline does the decoding and resizing (``covers.data.images``) so that
every extractor sees exactly the same pixels for the same ``size``/``mode``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

MODES = ("gray", "rgb")


class FeatureExtractor:
    """Base class: stores and validates ``size`` and ``mode``.

    Subclasses implement :meth:`transform` and, if they take more parameters,
    extend :meth:`params` so cache keys see everything that shapes the output.
    """

    #: smallest image side the extractor accepts (GIST's reference needs 8)
    min_size: int = 1

    def __init__(self, size: int = 16, mode: str = "gray") -> None:
        self.size = size
        self.mode = mode
        self._validate_base()

    def _validate_base(self) -> None:
        if not isinstance(self.size, (int, np.integer)) or isinstance(self.size, bool):
            raise ValueError(f"{type(self).__name__}: size must be an int, got {self.size!r}")
        if self.size < self.min_size:
            raise ValueError(
                f"{type(self).__name__}: size must be >= {self.min_size}, got {self.size}"
            )
        if self.mode not in MODES:
            raise ValueError(f"{type(self).__name__}: mode must be one of {MODES}, got {self.mode!r}")

    def params(self) -> dict[str, Any]:
        """Everything that determines the output (used in cache keys and logs)."""
        return {"class": type(self).__name__, "size": int(self.size), "mode": self.mode}

    def check_images(self, images: np.ndarray) -> np.ndarray:
        """Validate a batch: uint8, (N, H, W) for gray or (N, H, W, 3) for rgb."""
        images = np.asarray(images)
        if images.dtype != np.uint8:
            raise ValueError(f"{type(self).__name__}: expected uint8 images, got {images.dtype}")
        want_ndim = 3 if self.mode == "gray" else 4
        if images.ndim != want_ndim or (self.mode == "rgb" and images.shape[-1] != 3):
            shape = "(N, H, W)" if self.mode == "gray" else "(N, H, W, 3)"
            raise ValueError(
                f"{type(self).__name__}(mode={self.mode!r}): expected images of shape {shape}, "
                f"got {images.shape}"
            )
        if min(images.shape[1:3]) < self.min_size:
            raise ValueError(
                f"{type(self).__name__}: images must be at least {self.min_size}x{self.min_size}, "
                f"got {images.shape[1]}x{images.shape[2]}"
            )
        return images

    def n_features(self) -> int:
        """Length of one output vector."""
        raise NotImplementedError

    def transform(self, images: np.ndarray) -> np.ndarray:
        """uint8 images -> float32 array of shape (N, n_features())."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items() if k != "class")
        return f"{type(self).__name__}({args})"
