"""Feature normalisations that scikit-learn does not already provide.

``conf/norm/*.yaml`` instantiate either these or scikit-learn transformers
directly (``StandardScaler`` for ``standardize``, ``PCA`` for ``pca``,
``Normalizer`` for ``l2``, ``FunctionTransformer`` for ``none``): anything with
``fit_transform`` works.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class RowZScore(TransformerMixin, BaseEstimator):
    """Per-vector (per-cover) z-score: subtract its mean, divide by its std.

    This is the 2014 seed's pixel recipe. A flat cover has std 0; dividing
    would give NaN, so its (all-zero) centred vector is kept as is.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        self.eps = eps

    def fit(self, X, y=None):
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"RowZScore expects a 2-D array, got shape {X.shape}")
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        X = np.asarray(X, dtype=np.float32)
        centred = X - X.mean(axis=1, keepdims=True)
        std = centred.std(axis=1, keepdims=True)
        return np.divide(centred, std, out=np.zeros_like(centred), where=std > self.eps)
