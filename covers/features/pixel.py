"""Raw pixels: the seed experiment's first feature (16x16 grayscale)."""
from __future__ import annotations

import numpy as np

from covers.features.base import FeatureExtractor


class PixelFeatures(FeatureExtractor):
    """Flattened pixel values scaled to [0, 1].

    Row-major over (y, x[, channel]). The seed's recipe, "subtract the mean and
    divide by the standard deviation" per cover, is a normalisation step
    (``norm=zscore``), kept apart so it can be swept against the others.
    """

    def _n_features(self) -> int:
        return self.size * self.size * (1 if self.mode == "gray" else 3)

    def transform(self, images: np.ndarray) -> np.ndarray:
        images = self.check_images(images)
        n = images.shape[0]
        return (images.reshape(n, -1).astype(np.float32) / np.float32(255.0))
