"""The contract every feature extractor follows.

An extractor is instantiated from ``conf/features/<name>.yaml`` (``_target_``),
declares the square image side (``size``) and colour ``mode`` ("gray" or "rgb")
it wants its input in, and turns a batch of uint8 images into float32 vectors.
The pipeline does the decoding and resizing (``covers.data.images``) so that
every extractor sees exactly the same pixels for the same ``size``/``mode``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from covers.utils import Part

MODES = ("gray", "rgb")


class FeatureExtractor(Part, ABC):
    """The extractor contract: ``size``/``mode`` of the pixels it wants, ``n_features()``, and
    ``transform(uint8 images) -> float32 (N, n_features())``, row by row (a cover's vector never
    depends on the other covers of its batch, so chunked extraction is exact).

    ``__init__`` only stores; :meth:`check` validates and is called by :meth:`n_features` (the
    first thing extraction asks). Parameters listed in ``speed_params`` (threads, batch sizes)
    are not in :meth:`~covers.utils.Part.result_params`, the features' cache key.
    """

    #: smallest image side the extractor accepts (GIST's reference needs 8)
    min_size: int = 1

    def __init__(self, size: int = 16, mode: str = "gray") -> None:
        self.size = size
        self.mode = mode

    def check(self) -> None:
        if not isinstance(self.size, (int, np.integer)) or isinstance(self.size, bool):
            raise ValueError(f"{type(self).__name__}: size must be an int, got {self.size!r}")
        if self.size < self.min_size:
            raise ValueError(
                f"{type(self).__name__}: size must be >= {self.min_size}, got {self.size}"
            )
        if self.mode not in MODES:
            raise ValueError(f"{type(self).__name__}: mode must be one of {MODES}, got {self.mode!r}")

    def check_images(self, images: np.ndarray) -> np.ndarray:
        """Validate the parameters (:meth:`check`) and a batch: uint8, (N, H, W) for gray or (N, H, W, 3) for rgb."""
        self.check()
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
        """Length of one output vector (after :meth:`check`)."""
        self.check()
        return self._n_features()

    @abstractmethod
    def _n_features(self) -> int:
        """Length of one output vector, parameters already checked."""

    @abstractmethod
    def transform(self, images: np.ndarray) -> np.ndarray:
        """uint8 images -> float32 array of shape (N, n_features())."""
